package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost is a cgroupfs laid out in a temporary dir.
type fakeHost struct {
	root string
	l    *layout
}

// selfCgroup is the /proc/self/cgroup the fake hosts report.
const selfCgroup = `12:cpu,cpuacct:/user.slice
11:memory:/user.slice/session-1.scope
10:net_cls,net_prio:/
9:name=systemd:/user.slice/session-1.scope
8:pids:/user.slice
7:freezer:/
6:devices:/user.slice
5:blkio:/user.slice
4:cpuset:/
0::/user.slice/session-1.scope
`

func selfFunc() ([]byte, error) { return []byte(selfCgroup), nil }

// newFakeV1 lays out v1 hierarchies, one per group ("cpu,cpuacct"), and a
// cgroup2 mount at "unified" when v2ctrls is not nil (hybrid).
func newFakeV1(t *testing.T, v2ctrls []string, groups ...string) *fakeHost {
	t.Helper()
	root := t.TempDir()
	var mi strings.Builder
	for i, g := range groups {
		dir := filepath.Join(root, g)
		mustMkdir(t, dir)
		fmt.Fprintf(&mi, "%d 30 0:%d / %s rw,nosuid,nodev,noexec,relatime shared:%d - cgroup cgroup rw,%s\n", 31+i, 28+i, dir, 9+i, g)
	}
	if v2ctrls != nil {
		dir := filepath.Join(root, "unified")
		mustMkdir(t, dir)
		writeFile(t, dir, "cgroup.controllers", strings.Join(v2ctrls, " "))
		fmt.Fprintf(&mi, "50 30 0:40 / %s rw,nosuid,nodev,noexec,relatime shared:20 - cgroup2 cgroup2 rw,nsdelegate\n", dir)
	}
	l, err := parseLayout(false, root, []byte(mi.String()), selfFunc)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeHost{root: root, l: l}
}

func newFakeV2(t *testing.T, ctrls ...string) *fakeHost {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "cgroup.controllers", strings.Join(ctrls, " "))
	l, err := parseLayout(true, root, nil, selfFunc)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeHost{root: root, l: l}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, dir, file, data string) {
	t.Helper()
	mustMkdir(t, dir)
	if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recorder logs the writes of a manager, as "path-below-root=value", and
// makes missing files on the way when create is set (cgroupfs makes a dir's
// files with the dir).
type recorder struct {
	root   string
	writes []string
	create bool
}

func (r *recorder) attach(m *Manager) *recorder {
	m.trace = func(path, value string) {
		rel, _ := filepath.Rel(r.root, path)
		r.writes = append(r.writes, rel+"="+value)
		if r.create {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				os.WriteFile(path, nil, 0o644)
			}
		}
	}
	return r
}

// clearFiles removes the regular files under dir, as if it were cgroupfs
// where rmdir does not mind them.
func clearFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Remove(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
