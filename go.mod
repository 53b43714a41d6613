module github.com/petrel-edge/petrel

go 1.26.8

require (
	github.com/containernetworking/cni v1.3.0
	github.com/containernetworking/plugins v1.9.1
	github.com/klauspost/compress v1.20.3
	github.com/opencontainers/runtime-spec v1.2.1
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/crypto v0.44.0
	golang.org/x/sys v0.38.0
)

require (
	github.com/alexflint/go-filemutex v1.3.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
)
