package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/lazy"
	"github.com/petrel-edge/petrel/core/mountinfo"
)

// defaultRoot is where the host's cgroup file systems are mounted.
const defaultRoot = "/sys/fs/cgroup"

// layout says where each controller lives on a host.
type layout struct {
	unified bool             // pure cgroup v2: one hierarchy at v2
	v2      string           // cgroup2 mount point, "" if none
	v2root  string           // the cgroup2 mount's root within the hierarchy
	v2ctrls []string         // controllers listed in the v2 root's cgroup.controllers
	v1      map[string]mount // v1 controller (or "name=systemd") -> its hierarchy

	// selfCgroup returns the contents of /proc/self/cgroup; read only when a
	// relative cgroupsPath needs it.
	selfCgroup func() ([]byte, error)
}

// mount is one mounted v1 hierarchy.
type mount struct {
	dir  string // mount point
	root string // root of the mount within the hierarchy (mountinfo field 4)
}

var probedLayout lazy.Value[layoutResult]

type layoutResult struct {
	l   *layout
	err error
}

// hostLayout probes this host once per process.
func hostLayout() (*layout, error) {
	r := probedLayout.Get(func() layoutResult {
		l, err := detectLayout()
		return layoutResult{l, err}
	})
	return r.l, r.err
}

func detectLayout() (*layout, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(defaultRoot, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", defaultRoot, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return parseLayout(true, defaultRoot, nil, readSelfCgroup)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseLayout(false, defaultRoot, mi, readSelfCgroup)
}

func readSelfCgroup() ([]byte, error) { return os.ReadFile("/proc/self/cgroup") }

// v1Option reports the super options of a v1 cgroup mount that name no
// controller.
func v1Option(o string) bool {
	switch o {
	case "rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods", "none", "all":
		return true
	}
	return false
}

// parseLayout builds the layout from a unified root, or from the text of
// /proc/self/mountinfo on v1 and hybrid hosts.
func parseLayout(unified bool, root string, text []byte, self func() ([]byte, error)) (*layout, error) {
	l := &layout{unified: unified, selfCgroup: self, v2root: "/"}
	if unified {
		l.v2 = root
	} else {
		l.v1 = make(map[string]mount)
		for _, m := range mountinfo.Parse(string(text)) {
			switch m.FSType {
			case "cgroup2":
				if l.v2 == "" {
					l.v2, l.v2root = m.Point, m.Root
				}
			case "cgroup":
				for _, o := range m.SuperOpts {
					if v1Option(o) || (strings.Contains(o, "=") && !strings.HasPrefix(o, "name=")) {
						continue
					}
					if _, dup := l.v1[o]; !dup {
						l.v1[o] = mount{dir: m.Point, root: m.Root}
					}
				}
			}
		}
		if len(l.v1) == 0 && l.v2 == "" {
			return nil, fmt.Errorf("no cgroup file system is mounted")
		}
	}
	if l.v2 != "" {
		b, err := os.ReadFile(filepath.Join(l.v2, "cgroup.controllers"))
		if err != nil {
			return nil, err
		}
		for _, c := range strings.Fields(string(b)) {
			if _, onV1 := l.v1[c]; !onV1 {
				l.v2ctrls = append(l.v2ctrls, c)
			}
		}
	}
	return l, nil
}

// ownCgroups parses /proc/self/cgroup into controller -> path; the v2 entry
// has the key "".
func ownCgroups(b []byte) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(string(b), "\n") {
		// 4:memory:/user.slice   or   0::/init.scope
		_, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if ctrls == "" {
			m[""] = path
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			m[c] = path
		}
	}
	return m
}
