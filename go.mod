module github.com/petrel-edge/petrel

go 1.26.8

require (
	github.com/opencontainers/runtime-spec v1.2.1 // indirect
	golang.org/x/sys v0.38.0 // indirect
)
