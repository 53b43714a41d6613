package container

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func fullForkRequest() *ForkRequest {
	return &ForkRequest{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS,
		Joins:      []ForkJoin{{Path: "/proc/1/fd/15", Flag: unix.CLONE_NEWNET}, {Path: "/proc/9/ns/ipc", Flag: unix.CLONE_NEWIPC}},
		Plan: &PlanSpec{
			Setsid:  true,
			Rlimits: []PlanRlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 1<<64 - 1}, {Resource: unix.RLIMIT_NPROC}},
			Umask:   0o027, NoNewPrivs: true, SeccompLate: true, SeccompFlags: 2,
			Seccomp: []uint64{0, 1<<63 | 42, 0x0020_0000_0000_0004},
			SetCaps: true, CapDrop: []uint32{0, 40},
			Caps:    [2]unix.CapUserData{{Effective: 1, Permitted: 0xffffffff, Inheritable: 3}, {Permitted: 7}},
			Ambient: []uint32{21}, Groups: []uint32{10, 1 << 31},
			UID: 1000, GID: 100, Cwd: "/work dir", Paths: []string{"/bin/sh", "/usr/bin/sh"}, Search: true,
			Argv: []string{"sh", "-c", "echo \"é\"\x00"}, Env: []string{"PATH=/bin", "A="},
		},
	}
}

func TestForkRequestRoundTrip(t *testing.T) {
	for _, req := range []*ForkRequest{fullForkRequest(), {Plan: &PlanSpec{}}} {
		b, err := req.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got ForkRequest
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, req) {
			t.Errorf("round trip:\n got %+v %+v\nwant %+v %+v", got, got.Plan, *req, req.Plan)
		}
	}
	if _, err := (&ForkRequest{}).MarshalBinary(); err == nil {
		t.Error("a request without a plan was encoded")
	}
}

// TestForkRequestBadInput checks that what the shim cannot trust fails
// with an error, without panicking or allocating what a length claims.
func TestForkRequestBadInput(t *testing.T) {
	b, err := fullForkRequest().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n++ {
		var r ForkRequest
		if err := r.UnmarshalBinary(b[:n]); err == nil {
			t.Fatalf("the first %d of %d bytes decoded", n, len(b))
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"trailing bytes", append(append([]byte{}, b...), 0), "after the end"},
		{"other version", append([]byte{2}, b[1:]...), "version 2"},
		{"huge count", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "truncated"},
		{"bad boolean", []byte{1, 0, 0, 7}, "not a boolean"},
		{"umask over 32 bits", []byte{1, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10}, "32 bits"},
	} {
		var r ForkRequest
		if err := r.UnmarshalBinary(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

func TestHandoverRoundTrip(t *testing.T) {
	root := t.TempDir()
	c := &Container{ID: "c1", Bundle: "/b", Rootfs: "/b/rootfs", Pid: 4321, PidStart: 987654321,
		Created: time.Date(2026, 11, 24, 1, 2, 3, 4, time.UTC), Owner: "",
		CgroupPaths: map[string]string{"memory": "/sys/fs/cgroup/memory/x", "pids": "/p"}, Annotations: map[string]string{"a": "b"},
		spec: &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}, Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}}}}}
	b, err := c.Handover()
	if err != nil {
		t.Fatal(err)
	}
	got, err := AdoptHandover(root, "c1", 4321, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Bundle != c.Bundle || got.Rootfs != c.Rootfs || got.Pid != c.Pid || got.PidStart != c.PidStart ||
		!got.Created.Equal(c.Created) || !reflect.DeepEqual(got.CgroupPaths, c.CgroupPaths) || !reflect.DeepEqual(got.Annotations, c.Annotations) {
		t.Errorf("adopted %+v, want %+v", got, c)
	}
	if got.Dir() != filepath.Join(root, "c1") || got.proc == nil || got.proc.Pid != 4321 {
		t.Errorf("dir %q, proc %+v", got.Dir(), got.proc)
	}
	// Start needs no config.json: there is none under root.
	if v, err := got.startSpec(); err != nil || !v.hasProcess {
		t.Errorf("start view %+v, %v", v, err)
	}
	if v := got.view; v == nil || !v.mountNS {
		t.Errorf("view %+v: the mount namespace is lost", v)
	}
	c.spec.Linux.Namespaces = nil
	if b, err = c.Handover(); err != nil {
		t.Fatal(err)
	}
	if got, err = AdoptHandover(root, "c1", 4321, b); err != nil || got.view == nil || got.view.mountNS {
		t.Errorf("without a mount namespace: view %+v, %v", got.view, err)
	}
	// Hooks are in config.json only: Start and Delete read it.
	c.spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}}}
	b, _ = c.Handover()
	got, err = AdoptHandover(root, "c1", 4321, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.startSpec(); err == nil {
		t.Error("with poststart hooks, the start view did not come from config.json")
	}
	for _, tc := range []struct {
		name, id string
		pid      int
		b        []byte
		want     string
	}{
		{"other container", "c2", 4321, b, "handover is of container c1"},
		{"other init", "c1", 4322, b, "its init is 4321, not 4322"},
		{"truncated", "c1", 4321, b[:len(b)-1], "truncated"},
		{"trailing bytes", "c1", 4321, append(append([]byte{}, b...), 1), "after the end"},
		{"other version", "c1", 4321, append([]byte{9}, b[1:]...), "version 9"},
	} {
		if _, err := AdoptHandover(root, tc.id, tc.pid, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := (&Container{ID: "x"}).Handover(); err == nil {
		t.Error("a container without its configuration was handed over")
	}
}
