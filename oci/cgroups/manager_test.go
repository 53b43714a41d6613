package cgroups

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hostMountinfo is this project's reference hybrid host, with co-mounted
// controllers added.
const hostMountinfo = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:32 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
60 59 0:31 /docker /mnt/memory rw,relatime - cgroup cgroup rw,memory
`

func TestParseLayout(t *testing.T) {
	l, err := parseLayout(false, defaultRoot, []byte(hostMountinfo), selfFunc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"cpuset": "/sys/fs/cgroup/cpuset", "memory": "/sys/fs/cgroup/memory",
		"net_cls": "/sys/fs/cgroup/net_cls,net_prio", "net_prio": "/sys/fs/cgroup/net_cls,net_prio",
		"name=systemd": "/sys/fs/cgroup/systemd",
	}
	if len(l.v1) != len(want) {
		t.Errorf("v1 controllers = %v, want %v", l.v1, want)
	}
	for c, dir := range want {
		if l.v1[c].dir != dir {
			t.Errorf("%s mounted at %q, want %q", c, l.v1[c].dir, dir)
		}
	}
	if l.unified || l.v2 != "" {
		t.Errorf("unified = %v, v2 = %q; want a v1 host", l.unified, l.v2)
	}

	// Hybrid: hugetlb is only on the v2 hierarchy; memory is on both lists
	// only if the kernel lied, and v1 wins.
	f := newFakeV1(t, []string{"hugetlb", "memory"}, "memory", "pids")
	if !slices.Equal(f.l.v2ctrls, []string{"hugetlb"}) {
		t.Errorf("v2 controllers = %v, want [hugetlb]", f.l.v2ctrls)
	}

	if _, err := parseLayout(false, defaultRoot, []byte("22 1 0:21 / /sys rw - sysfs sysfs rw\n"), selfFunc); err == nil {
		t.Error("no cgroup mounts: want an error")
	}
}

func TestNewPaths(t *testing.T) {
	v1 := newFakeV1(t, nil, "cpu,cpuacct", "memory", "pids")
	hy := newFakeV1(t, []string{"hugetlb"}, "memory", "devices")
	v2 := newFakeV2(t, "cpu", "memory", "pids")
	tests := []struct {
		name   string
		host   *fakeHost
		path   string
		id     string
		want   map[string]string // key -> dir below root
		errHas string
	}{
		{"v1 default", v1, "", "c1", map[string]string{
			"cpu": "cpu,cpuacct/petrel/c1", "cpuacct": "cpu,cpuacct/petrel/c1",
			"memory": "memory/petrel/c1", "pids": "pids/petrel/c1",
		}, ""},
		{"v1 absolute", v1, "/a/b", "c1", map[string]string{
			"cpu": "cpu,cpuacct/a/b", "cpuacct": "cpu,cpuacct/a/b", "memory": "memory/a/b", "pids": "pids/a/b",
		}, ""},
		{"v1 relative to own cgroup", v1, "ctr/x", "c1", map[string]string{
			"cpu": "cpu,cpuacct/user.slice/ctr/x", "cpuacct": "cpu,cpuacct/user.slice/ctr/x",
			"memory": "memory/user.slice/session-1.scope/ctr/x", "pids": "pids/user.slice/ctr/x",
		}, ""},
		{"dot-dot cannot climb", v1, "/../../etc", "c1", map[string]string{
			"cpu": "cpu,cpuacct/etc", "cpuacct": "cpu,cpuacct/etc", "memory": "memory/etc", "pids": "pids/etc",
		}, ""},
		{"hybrid", hy, "", "c2", map[string]string{
			"memory": "memory/petrel/c2", "devices": "devices/petrel/c2",
			"unified": "unified/petrel/c2", "hugetlb": "unified/petrel/c2",
		}, ""},
		{"hybrid relative", hy, "sub", "c2", map[string]string{
			"memory": "memory/user.slice/session-1.scope/sub", "devices": "devices/user.slice/sub",
			"unified": "unified/user.slice/session-1.scope/sub", "hugetlb": "unified/user.slice/session-1.scope/sub",
		}, ""},
		{"v2 default", v2, "", "c3", map[string]string{"": "petrel/c3"}, ""},
		{"v2 relative", v2, "x", "c3", map[string]string{"": "user.slice/session-1.scope/x"}, ""},
		{"systemd slice form", v2, "system.slice:petrel:c3", "c3", nil, "systemd"},
		{"systemd form with empty slice", v1, ":petrel:c3", "c3", nil, "systemd"},
		{"root cgroup", v1, "/", "c1", nil, "root cgroup"},
		{"bad id", v1, "", "../x", nil, "invalid container id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newManager(tt.host.l, tt.path, tt.id)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one saying %q", err, tt.errHas)
				}
				if tt.errHas == "systemd" && !errors.Is(err, ErrSystemdPath) {
					t.Errorf("err = %v, want ErrSystemdPath", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := m.Paths()
			if len(got) != len(tt.want) {
				t.Errorf("Paths() = %v, want keys of %v", got, tt.want)
			}
			for k, rel := range tt.want {
				if want := filepath.Join(tt.host.root, rel); got[k] != want {
					t.Errorf("Paths()[%q] = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

// TestNewPathsMountRoot: inside a cgroup namespace or a bind mount, the own
// cgroup is taken relative to the mount's root.
func TestNewPathsMountRoot(t *testing.T) {
	l, err := parseLayout(false, "", []byte("60 59 0:31 /user.slice /c/memory rw - cgroup cgroup rw,memory\n"), selfFunc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newManager(l, "x", "id")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Paths()["memory"], "/c/memory/session-1.scope/x"; got != want {
		t.Errorf("memory path = %q, want %q", got, want)
	}
}

// TestLayoutUnescapes: mountinfo writes a space in a mount point as \040.
func TestLayoutUnescapes(t *testing.T) {
	l, err := parseLayout(false, "", []byte("60 59 0:31 / /c/my\\040cpu rw - cgroup cgroup rw,cpu,cpuacct\n"), selfFunc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cpu", "cpuacct"} {
		if got := l.v1[c].dir; got != "/c/my cpu" {
			t.Errorf("%s hierarchy at %q, want %q", c, got, "/c/my cpu")
		}
	}
}

func TestLoadKeepsVersions(t *testing.T) {
	hy := newFakeV1(t, []string{"hugetlb"}, "memory")
	m, err := newManager(hy.l, "", "c")
	if err != nil {
		t.Fatal(err)
	}
	l := Load(m.Paths())
	if !l.v2["hugetlb"] || !l.v2["unified"] || l.v2["memory"] {
		t.Errorf("loaded v2 flags = %v, want hugetlb and unified only", l.v2)
	}
	v2 := newFakeV2(t, "memory")
	m, _ = newManager(v2.l, "", "c")
	if l := Load(m.Paths()); !l.v2[""] {
		t.Error("loaded v2 manager lost its version")
	}
}

func TestApplyDestroyV1(t *testing.T) {
	f := newFakeV1(t, []string{"hugetlb"}, "cpu,cpuacct", "cpuset", "memory")
	writeFile(t, filepath.Join(f.root, "cpuset"), "cpuset.cpus", "0-3\n")
	writeFile(t, filepath.Join(f.root, "cpuset"), "cpuset.mems", "0\n")
	m, err := newManager(f.l, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	rec := (&recorder{root: f.root, create: true}).attach(m)
	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"cpuset/petrel/cpuset.cpus=0-3", "cpuset/petrel/cpuset.mems=0",
		"cpuset/petrel/c1/cpuset.cpus=0-3", "cpuset/petrel/c1/cpuset.mems=0",
		"unified/cgroup.subtree_control=+hugetlb", "unified/petrel/cgroup.subtree_control=+hugetlb",
		"cpu,cpuacct/petrel/c1/cgroup.procs=4242", "memory/petrel/c1/cgroup.procs=4242",
		"cpuset/petrel/c1/cgroup.procs=4242", "unified/petrel/c1/cgroup.procs=4242",
	} {
		if !slices.Contains(rec.writes, w) {
			t.Errorf("missing write %s in %q", w, rec.writes)
		}
	}
	// cpu and cpuacct share a dir: joined once.
	n := 0
	for _, w := range rec.writes {
		if strings.HasPrefix(w, "cpu,cpuacct/") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d writes in the co-mounted cpu,cpuacct hierarchy, want 1: %q", n, rec.writes)
	}
	if !m.Exists() {
		t.Error("Exists() = false after Apply")
	}
	// A child cgroup made inside the container goes too.
	mustMkdir(t, filepath.Join(f.root, "memory/petrel/c1/inner"))
	clearFiles(t, f.root)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"cpu,cpuacct", "cpuset", "memory", "unified"} {
		if _, err := filepath.Glob(filepath.Join(f.root, h, "petrel")); err != nil {
			t.Fatal(err)
		}
		if ok, _ := filepath.Glob(filepath.Join(f.root, h, "petrel")); len(ok) != 0 {
			t.Errorf("%s/petrel left behind", h)
		}
	}
	if m.Exists() {
		t.Error("Exists() = true after Destroy")
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestApplyV2KeepsSharedParent(t *testing.T) {
	f := newFakeV2(t, "cpu", "memory", "pids")
	mustMkdir(t, filepath.Join(f.root, "petrel/other"))
	m, err := newManager(f.l, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	rec := (&recorder{root: f.root, create: true}).attach(m)
	if err := m.Apply(7); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cgroup.subtree_control=+cpu +memory +pids",
		"petrel/cgroup.subtree_control=+cpu +memory +pids",
		"petrel/c1/cgroup.procs=7",
	}
	if !slices.Equal(rec.writes, want) {
		t.Errorf("writes = %q, want %q", rec.writes, want)
	}
	clearFiles(t, f.root)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := filepath.Glob(filepath.Join(f.root, "petrel/*")); !slices.Equal(ok, []string{filepath.Join(f.root, "petrel/other")}) {
		t.Errorf("after Destroy petrel/ holds %v, want only the other container", ok)
	}
}

func TestApplyErrors(t *testing.T) {
	f := newFakeV2(t, "memory")
	m, err := newManager(f.l, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	// No cgroup.procs file: the join fails and names the file.
	err = m.Apply(5)
	if err == nil || !strings.Contains(err.Error(), "cgroup.procs") || !strings.Contains(err.Error(), `"5"`) {
		t.Errorf("Apply without cgroup.procs: err = %v", err)
	}
}

func TestPids(t *testing.T) {
	f := newFakeV2(t)
	writeFile(t, filepath.Join(f.root, "petrel/c1"), "cgroup.procs", "10\n11\n")
	writeFile(t, filepath.Join(f.root, "petrel/c1/sub"), "cgroup.procs", "12\n")
	m, _ := newManager(f.l, "", "c1")
	got, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12}) {
		t.Errorf("Pids() = %v, want [10 11 12]", got)
	}
}

func TestFreezeV1(t *testing.T) {
	f := newFakeV1(t, nil, "freezer")
	dir := filepath.Join(f.root, "freezer/petrel/c1")
	writeFile(t, dir, "freezer.state", "THAWED\n")
	m, _ := newManager(f.l, "", "c1")
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if fr, err := m.Frozen(); err != nil || !fr {
		t.Errorf("Frozen() = %v, %v after Freeze", fr, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if fr, err := m.Frozen(); err != nil || fr {
		t.Errorf("Frozen() = %v, %v after Thaw", fr, err)
	}
}

func TestFreezeV2(t *testing.T) {
	f := newFakeV2(t)
	dir := filepath.Join(f.root, "petrel/c1")
	writeFile(t, dir, "cgroup.freeze", "0\n")
	writeFile(t, dir, "cgroup.events", "populated 1\nfrozen 0\n")
	m, _ := newManager(f.l, "", "c1")
	// The kernel reports the new state in cgroup.events.
	m.trace = func(path, value string) {
		if filepath.Base(path) == "cgroup.freeze" {
			writeFile(t, dir, "cgroup.events", "populated 1\nfrozen "+value+"\n")
		}
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if fr, err := m.Frozen(); err != nil || !fr {
		t.Errorf("Frozen() = %v, %v after Freeze", fr, err)
	}
	if got := readFile(t, dir, "cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q", got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if fr, _ := m.Frozen(); fr {
		t.Error("still frozen after Thaw")
	}
}

func TestFreezeHybridWithoutV1Freezer(t *testing.T) {
	f := newFakeV1(t, []string{}, "memory")
	m, _ := newManager(f.l, "", "c1")
	dir, v2, err := m.freezeDir()
	if err != nil || !v2 || dir != filepath.Join(f.root, "unified/petrel/c1") {
		t.Errorf("freezeDir() = %q, %v, %v; want the v2 cgroup", dir, v2, err)
	}
	f = newFakeV1(t, nil, "memory")
	m, _ = newManager(f.l, "", "c1")
	if _, _, err := m.freezeDir(); err == nil {
		t.Error("no freezer anywhere: want an error")
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	if f.V1 == nil || !*f.V1 || f.V2 == nil || !*f.V2 || f.Systemd == nil || *f.Systemd {
		t.Errorf("Features() = %+v", f)
	}
}
