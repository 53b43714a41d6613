package engine

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/core/atomicfile"
)

// The container's own /etc files, kept in its directory and bound over
// the rootfs's (which is never written).
const (
	hostnameFile = "hostname"
	hostsFile    = "hosts"
	resolvFile   = "resolv.conf"
)

// writeEtcFiles writes hostname, hosts and resolv.conf for a run and
// binds them into the spec. With the host's network the host's hosts
// and resolv.conf are copied as they are.
func writeEtcFiles(dir string, s *specs.Spec, hostname string, hostNetwork bool) error {
	var hosts []byte
	if hostNetwork {
		hosts, _ = os.ReadFile("/etc/hosts")
	}
	if len(hosts) == 0 {
		var b bytes.Buffer
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
		b.WriteString("127.0.1.1\t" + hostname + "\n")
		hosts = b.Bytes()
	}
	files := []struct {
		name, dst string
		data      []byte
	}{
		{hostnameFile, "/etc/hostname", []byte(hostname + "\n")},
		{hostsFile, "/etc/hosts", hosts},
		{resolvFile, "/etc/resolv.conf", resolvConf(hostNetwork)},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		// Written anew at every start: atomic, but no fsync is needed.
		if err := atomicfile.WriteFileVolatile(p, f.data, 0o644); err != nil {
			return err
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: p, Options: []string{"rbind", "rprivate"}})
	}
	return nil
}

// resolvConf is the host's resolv.conf; without the host's network,
// nameservers on the host's loopback are dropped (unreachable from the
// container), and Google's are used if none is left, as Docker does.
func resolvConf(hostNetwork bool) []byte {
	data, _ := os.ReadFile("/etc/resolv.conf")
	if hostNetwork {
		return data
	}
	var out bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			if strings.HasPrefix(f[1], "127.") || f[1] == "::1" {
				continue
			}
			servers++
		}
		out.WriteString(line + "\n")
	}
	if servers == 0 {
		out.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return out.Bytes()
}
