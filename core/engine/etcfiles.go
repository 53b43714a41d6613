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

// etcOptions is what the /etc files say.
type etcOptions struct {
	hostname    string
	hostNetwork bool   // the host's hosts and resolv.conf, as they are
	ip          string // the container's address, named in hosts
	dns         []string
	search      []string
	options     []string
	extraHosts  []string // host:ip
}

// writeEtcFiles writes hostname, hosts and resolv.conf for a run and
// binds them into the spec.
func writeEtcFiles(dir string, s *specs.Spec, o etcOptions) error {
	var hosts []byte
	if o.hostNetwork {
		hosts, _ = os.ReadFile("/etc/hosts")
	}
	if len(hosts) == 0 {
		var b bytes.Buffer
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
		hosts = b.Bytes()
		for _, h := range o.extraHosts {
			if name, ip, err := parseExtraHost(h); err == nil {
				hosts = append(hosts, ip+"\t"+name+"\n"...)
			}
		}
		ip := o.ip
		if ip == "" {
			ip = "127.0.1.1"
		}
		hosts = append(hosts, ip+"\t"+o.hostname+"\n"...)
	} else {
		for _, h := range o.extraHosts {
			if name, ip, err := parseExtraHost(h); err == nil {
				hosts = append(hosts, ip+"\t"+name+"\n"...)
			}
		}
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	files := []struct {
		name, dst string
		data      []byte
	}{
		{hostnameFile, "/etc/hostname", []byte(o.hostname + "\n")},
		{hostsFile, "/etc/hosts", hosts},
		{resolvFile, "/etc/resolv.conf", resolvConf(host, o)},
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

// resolvConf is the host's resolv.conf with --dns, --dns-search and
// --dns-option replacing its nameservers, search and options. Without
// the host's network, nameservers on the host's loopback are dropped
// (unreachable from the container), and Google's are used if none is
// left, as Docker does.
func resolvConf(host []byte, o etcOptions) []byte {
	if o.hostNetwork && len(o.dns) == 0 && len(o.search) == 0 && len(o.options) == 0 {
		return host
	}
	var out bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 1 {
			switch {
			case f[0] == "nameserver" && len(o.dns) > 0,
				(f[0] == "search" || f[0] == "domain") && len(o.search) > 0,
				f[0] == "options" && len(o.options) > 0:
				continue
			case f[0] == "nameserver" && len(f) >= 2:
				if !o.hostNetwork && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
					continue
				}
				servers++
			}
		}
		out.WriteString(line + "\n")
	}
	for _, d := range o.dns {
		out.WriteString("nameserver " + d + "\n")
		servers++
	}
	if len(o.search) > 0 {
		out.WriteString("search " + strings.Join(o.search, " ") + "\n")
	}
	if len(o.options) > 0 {
		out.WriteString("options " + strings.Join(o.options, " ") + "\n")
	}
	if servers == 0 {
		out.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return out.Bytes()
}
