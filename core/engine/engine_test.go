package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"web", true}, {"/web", true}, {"a.b-c_d", true}, {"w1", true},
		{"w", false}, {"", false}, {"-web", false}, {"_web", false}, {"we/b", false}, {"wé", false},
	}
	for _, tc := range tests {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ValidateName(%q): %v is not ErrInvalid", tc.name, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10", 10, true}, {"1k", 1024, true}, {"1kb", 1024, true}, {"10m", 10 << 20, true}, {"1g", 1 << 30, true},
		{"1.5m", 3 << 19, true}, {"10M", 10 << 20, true}, {"lots", 0, false}, {"", 0, false}, {"-1m", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"KILL", 9}, {"SIGKILL", 9}, {"kill", 9}, {"15", 15}, {"TERM", 15}, {"USR1", 10}, {"0", -1}, {"65", -1}, {"NOPE", -1},
	}
	for _, tc := range tests {
		got, err := ParseSignal(tc.in)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("ParseSignal(%q) accepted", tc.in)
			}
			continue
		}
		if err != nil || int(got) != tc.want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "HOSTNAME=h"}, []string{"A=1", "PATH=/usr/bin", "A=2", "B"})
	want := []string{"PATH=/usr/bin", "HOSTNAME=h", "A=2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\n# comment\nweb:x:1000:1001::/home/web:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	tests := []struct {
		in       string
		uid, gid uint32
		err      string
	}{
		{"", 0, 0, ""}, {"web", 1000, 1001, ""}, {"1000", 1000, 1001, ""}, {"1234", 1234, 0, ""},
		{"web:staff", 1000, 50, ""}, {"5:7", 5, 7, ""}, {"nobody", 0, 0, "unable to find user nobody"},
		{"web:nogroup", 0, 0, "unable to find group nogroup"},
	}
	for _, tc := range tests {
		u, err := resolveUser(root, tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("resolveUser(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || u.UID != tc.uid || u.GID != tc.gid {
			t.Errorf("resolveUser(%q) = %d:%d, %v; want %d:%d", tc.in, u.UID, u.GID, err, tc.uid, tc.gid)
		}
	}
}

func TestLogOpts(t *testing.T) {
	tests := []struct {
		daemon, ctr map[string]string
		size        int64
		files       int
		err         string
	}{
		{nil, nil, 0, 1, ""},
		{map[string]string{"max-size": "1m", "max-file": "3"}, nil, 1 << 20, 3, ""},
		{map[string]string{"max-size": "1m"}, map[string]string{"max-size": "2k"}, 2048, 1, ""},
		{nil, map[string]string{"max-file": "2"}, 0, 0, "needs max-size"},
		{nil, map[string]string{"max-file": "0"}, 0, 0, "max-file=0"},
		{nil, map[string]string{"compress": "true"}, 0, 0, "unknown log opt"},
	}
	for _, tc := range tests {
		size, files, err := logOpts(tc.daemon, tc.ctr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("logOpts(%v, %v) error %v, want %q", tc.daemon, tc.ctr, err, tc.err)
			}
			continue
		}
		if err != nil || size != tc.size || files != tc.files {
			t.Errorf("logOpts(%v, %v) = %d, %d, %v", tc.daemon, tc.ctr, size, files, err)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := map[time.Duration]string{
		0: "Less than a second", time.Second: "1 second", 5 * time.Second: "5 seconds", 90 * time.Second: "About a minute",
		10 * time.Minute: "10 minutes", 70 * time.Minute: "About an hour", 5 * time.Hour: "5 hours", 72 * time.Hour: "3 days",
	}
	for d, want := range tests {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// newTestEngine opens an engine on temporary directories; records can be
// created, listed and removed without root as long as nothing starts.
func newTestEngine(t *testing.T) (*Engine, string) {
	dir := t.TempDir()
	e, err := New(Options{Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(rootfs, 0o755)
	return e, rootfs
}

func TestCreateValidation(t *testing.T) {
	e, rootfs := newTestEngine(t)
	cmd := api.Config{Cmd: []string{"true"}, Image: "none"}
	tests := []struct {
		name  string
		cname string
		cfg   api.Config
		hc    api.HostConfig
		class error
		msg   string
	}{
		{"no image", "", cmd, api.HostConfig{}, errdefs.ErrNotFound, "No such image: none"},
		{"relative rootfs", "", cmd, api.HostConfig{ExternalRootfs: "rootfs"}, errdefs.ErrInvalid, "must be absolute"},
		{"missing rootfs", "", cmd, api.HostConfig{ExternalRootfs: "/nonexistent"}, errdefs.ErrInvalid, "not a directory"},
		{"no command", "", api.Config{Image: "none"}, api.HostConfig{ExternalRootfs: rootfs}, errdefs.ErrInvalid, "no command"},
		{"bad name", "a/b", cmd, api.HostConfig{ExternalRootfs: rootfs}, errdefs.ErrInvalid, "Invalid container name"},
		{"bad restart", "", cmd, api.HostConfig{ExternalRootfs: rootfs, RestartPolicy: api.RestartPolicy{Name: "often"}}, errdefs.ErrInvalid, "invalid restart policy"},
		{"rm with restart", "", cmd, api.HostConfig{ExternalRootfs: rootfs, AutoRemove: true, RestartPolicy: api.RestartPolicy{Name: "always"}}, errdefs.ErrInvalid, "AutoRemove"},
		{"unknown runtime", "", cmd, api.HostConfig{ExternalRootfs: rootfs, Runtime: "nosuch"}, errdefs.ErrInvalid, "unknown runtime"},
		{"bad log driver", "", cmd, api.HostConfig{ExternalRootfs: rootfs, LogConfig: api.LogConfig{Type: "syslog"}}, errdefs.ErrInvalid, "log driver"},
		{"bad stop signal", "", api.Config{Cmd: []string{"true"}, StopSignal: "SIGNOPE"}, api.HostConfig{ExternalRootfs: rootfs}, errdefs.ErrInvalid, "stop signal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hc := tc.hc
			_, _, err := e.Create(tc.cname, tc.cfg, &hc)
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Create: %v, want %v containing %q", err, tc.class, tc.msg)
			}
		})
	}
	if n := len(e.List(true)); n != 0 {
		t.Errorf("%d containers after refused creates", n)
	}
}

func TestRecordsPersist(t *testing.T) {
	e, rootfs := newTestEngine(t)
	hc := &api.HostConfig{ExternalRootfs: rootfs, RestartPolicy: api.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}}
	id, _, err := e.Create("web", api.Config{Cmd: []string{"sh", "-c", "true"}, Image: "none"}, hc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Create("web", api.Config{Cmd: []string{"true"}}, &api.HostConfig{ExternalRootfs: rootfs}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("duplicate name: %v", err)
	}
	if err := e.Rename("web", "site"); err != nil {
		t.Fatal(err)
	}
	// A second engine on the same root sees the same container.
	e2, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	j, err := e2.Inspect("site")
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != id || j.Path != "sh" || strings.Join(j.Args, " ") != "-c true" || j.State.Status != StatusCreated ||
		j.HostConfig.RestartPolicy.MaximumRetryCount != 3 || j.Name != "/site" {
		t.Errorf("reloaded record %+v", j)
	}
	if _, err := e2.Lookup(id[:6]); err != nil {
		t.Errorf("prefix lookup: %v", err)
	}
	if err := e2.Kill("site", ""); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("kill of a created container: %v", err)
	}
	if err := e2.Stop("site", StopOptions{}); !errors.Is(err, errdefs.ErrNotModified) {
		t.Errorf("stop of a created container: %v", err)
	}
	if err := e2.Remove("site", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	e2.removals.Wait()
	if _, err := os.Stat(filepath.Join(e.opts.Root, "containers", id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("container directory left: %v", err)
	}
	if _, err := e2.Inspect(id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("inspect after remove: %v", err)
	}
}

// TestRemovalFinishedAtStart checks that a daemon finishes the removal
// that the previous one recorded and answered but died before ending,
// anonymous volumes included when it was an rm -v.
func TestRemovalFinishedAtStart(t *testing.T) {
	for _, rmVolumes := range []bool{false, true} {
		t.Run(fmt.Sprintf("volumes=%v", rmVolumes), func(t *testing.T) {
			e, rootfs := newTestEngine(t)
			hc := &api.HostConfig{ExternalRootfs: rootfs, Mounts: []api.Mount{{Type: "volume", Target: "/data"}}}
			id, _, err := e.Create("gone", api.Config{Cmd: []string{"true"}, Image: "none"}, hc)
			if err != nil {
				t.Fatal(err)
			}
			if vols, err := e.VolumeList(VolumeFilters{}); err != nil || len(vols) != 1 {
				t.Fatalf("volumes after create: %v, %v; want the anonymous one", vols, err)
			}
			c, err := e.Lookup(id)
			if err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			c.rec.State.Status, c.rec.RemoveVolumes = StatusRemoving, rmVolumes
			err = c.write(false)
			c.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			e2, err := New(e.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e2.Close()
			if _, err := e2.Lookup(id); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("a container recorded as being removed came back: %v", err)
			}
			if _, err := os.Stat(filepath.Join(e.opts.Root, "containers", id)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("its directory is left: %v", err)
			}
			if _, _, err := e2.Create("gone", api.Config{Cmd: []string{"true"}, Image: "none"}, &api.HostConfig{ExternalRootfs: rootfs}); err != nil {
				t.Errorf("its name is still taken: %v", err)
			}
			want := 1
			if rmVolumes {
				want = 0
			}
			if vols, err := e2.VolumeList(VolumeFilters{}); err != nil || len(vols) != want {
				t.Errorf("volumes after the removal's end: %v, %v; want %d", vols, err, want)
			}
		})
	}
}

func TestFilterPs(t *testing.T) {
	out := []byte(`UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 04:51 ?        00:00:01 /sbin/init
root         100       1  0 04:52 ?        00:00:00 sleep 1000
root         101     100  0 04:52 ?        00:00:00 sh -c echo a b
`)
	r, err := filterPs(out, []int{100, 101})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Titles) != 8 || len(r.Processes) != 2 || r.Processes[1][7] != "sh -c echo a b" || r.Processes[0][1] != "100" {
		t.Errorf("top %+v", r)
	}
	if _, err := filterPs([]byte("USER COMMAND\nroot x\n"), nil); err == nil {
		t.Error("ps output without a PID column accepted")
	}
}

// TestRemoveFailureLeavesContainer: a removal whose record cannot be
// written fails and leaves the container as it was, for a later rm.
func TestRemoveFailureLeavesContainer(t *testing.T) {
	e, rootfs := newTestEngine(t)
	id, _, err := e.Create("stays", api.Config{Cmd: []string{"true"}, Image: "none"}, &api.HostConfig{ExternalRootfs: rootfs})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.opts.Root, "containers", id)
	moved := dir + ".away"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove("stays", RemoveOptions{}); err == nil {
		t.Fatal("a removal whose record could not be written succeeded")
	}
	if j, err := e.Inspect("stays"); err != nil || j.State.Status != StatusCreated {
		t.Fatalf("after the failed removal: %v, %+v", err, j)
	}
	if err := os.Rename(moved, dir); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove("stays", RemoveOptions{}); err != nil {
		t.Errorf("rm once the record can be written: %v", err)
	}
}
