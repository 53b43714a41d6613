package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/core/errdefs"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

// dockerCaps are the capabilities Docker gives a container by default.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// spec builds the container's OCI config.json from its records.
func (e *Engine) spec(c *Container) (*specs.Spec, error) {
	c.mu.Lock()
	rec, hc := c.rec, c.hostConfig
	c.mu.Unlock()
	cfg := rec.Config
	s := ocispec.Default(false, 0, 0)
	s.Root = &specs.Root{Path: rec.Rootfs, Readonly: hc.ReadonlyRootfs}
	p := s.Process
	p.Terminal = cfg.Tty
	if cs := hc.ConsoleSize; cfg.Tty && cs[0] > 0 && cs[1] > 0 {
		p.ConsoleSize = &specs.Box{Height: cs[0], Width: cs[1]}
	}
	p.Args = append([]string{rec.Path}, rec.Args...)
	if useInit := e.opts.Init; hc.Init != nil && *hc.Init || hc.Init == nil && useInit {
		bin, err := e.initBinary()
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: initPath, Type: "bind", Source: bin, Options: []string{"bind", "ro", "nosuid", "nodev"}})
		p.Args = append([]string{initPath, "--"}, p.Args...)
	}
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = rec.ID[:12]
	}
	s.Hostname = hostname
	env := []string{defaultPath, "HOSTNAME=" + hostname}
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	p.Env = mergeEnv(env, cfg.Env)
	p.Cwd = cfg.WorkingDir
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !filepath.IsAbs(p.Cwd) {
		return nil, errdefs.Invalid("working directory %q is not an absolute path", cfg.WorkingDir)
	}
	user, err := resolveUser(rec.Rootfs, cfg.User)
	if err != nil {
		return nil, err
	}
	p.User = user
	caps := dockerCaps
	p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	p.NoNewPrivileges = false
	p.Rlimits = nil
	s.Linux.CgroupsPath = "/petrel/" + rec.ID
	if err := applyHostConfig(s, hc); err != nil {
		return nil, err
	}
	if err := e.applyMounts(s, hc); err != nil {
		return nil, err
	}
	ip, hostNet, err := e.specNetwork(c, s)
	if err != nil {
		return nil, err
	}
	if err := writeEtcFiles(c.dir, s, etcOptions{hostname: hostname, hostNetwork: hostNet, ip: ip,
		dns: hc.DNS, search: hc.DNSSearch, options: hc.DNSOptions, extraHosts: hc.ExtraHosts}); err != nil {
		return nil, err
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations["org.petrel.container.name"] = rec.Name
	if rt, _ := e.runtime(hc.Runtime); rt.Path != "lcr" {
		// Older runtimes (crun 1.8) refuse versions they do not know;
		// nothing here needs more than 1.0.2.
		s.Version = "1.0.2"
	}
	return s, nil
}

// initPath is where --init's petrel-init is bound in the container; its
// name selects the applet of the multicall binary.
const initPath = "/sbin/petrel-init"

// initBinary is the petrel binary on the host, bound in as petrel-init.
func (e *Engine) initBinary() (string, error) {
	bin := e.opts.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return "", fmt.Errorf("--init: find the petrel binary: %w", err)
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("--init: %w", err)
	}
	return bin, nil
}

// mergeEnv appends over to base, a later KEY replacing an earlier one.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue // KEY alone: nothing to set (clients resolve it)
		}
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// resolveUser turns "", "uid", "uid:gid", "name" or "name:group" into
// ids, names looked up in the rootfs's /etc/passwd and /etc/group.
func resolveUser(rootfs, u string) (specs.User, error) {
	if u == "" {
		return specs.User{}, nil
	}
	name, group, hasGroup := strings.Cut(u, ":")
	var out specs.User
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		out.UID = uint32(n)
		if ent, ok := lookupFile(filepath.Join(rootfs, "etc", "passwd"), func(f []string) bool { return len(f) > 3 && f[2] == name }); ok {
			g, _ := strconv.ParseUint(ent[3], 10, 32)
			out.GID = uint32(g)
		}
	} else {
		ent, ok := lookupFile(filepath.Join(rootfs, "etc", "passwd"), func(f []string) bool { return len(f) > 3 && f[0] == name })
		if !ok {
			return out, errdefs.Invalid("unable to find user %s: no matching entries in passwd file", name)
		}
		uid, err1 := strconv.ParseUint(ent[2], 10, 32)
		gid, err2 := strconv.ParseUint(ent[3], 10, 32)
		if err1 != nil || err2 != nil {
			return out, errdefs.Invalid("bad passwd entry for user %s", name)
		}
		out.UID, out.GID = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if n, err := strconv.ParseUint(group, 10, 32); err == nil {
			out.GID = uint32(n)
		} else {
			ent, ok := lookupFile(filepath.Join(rootfs, "etc", "group"), func(f []string) bool { return len(f) > 2 && f[0] == group })
			if !ok {
				return out, errdefs.Invalid("unable to find group %s: no matching entries in group file", group)
			}
			gid, err := strconv.ParseUint(ent[2], 10, 32)
			if err != nil {
				return out, errdefs.Invalid("bad group entry for %s", group)
			}
			out.GID = uint32(gid)
		}
	}
	return out, nil
}

// lookupFile returns the first colon-separated line of path that match
// accepts. The file is in the container's rootfs: read it, never write.
func lookupFile(path string, match func([]string) bool) ([]string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if fields := strings.Split(line, ":"); match(fields) {
			return fields, true
		}
	}
	return nil, false
}
