package container

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestForkedInitRefusal(t *testing.T) {
	base := func() *specs.Spec {
		return &specs.Spec{
			Process: &specs.Process{Args: []string{"true"}},
			Linux:   &specs.Linux{},
			Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		}
	}
	const ns = unix.CLONE_NEWNS | unix.CLONE_NEWPID
	for _, tc := range []struct {
		name    string
		mutate  func(*specs.Spec)
		flags   uintptr
		noPivot bool
		want    string
	}{
		{name: "plain", flags: ns},
		{name: "no process", mutate: func(s *specs.Spec) { s.Process = nil }, flags: ns, want: "no process"},
		{name: "user namespace", flags: ns | unix.CLONE_NEWUSER, want: "user namespace"},
		{name: "no mount namespace", flags: unix.CLONE_NEWPID, want: "no new mount namespace"},
		{name: "no pivot", flags: ns, noPivot: true, want: "--no-pivot"},
		{name: "createContainer hook", mutate: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, flags: ns, want: "hooks in the container"},
		{name: "runtime hooks are fine", mutate: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true"}}, Poststop: []specs.Hook{{Path: "/bin/true"}}}
		}, flags: ns},
		{name: "scheduler", mutate: func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_BATCH"} }, flags: ns, want: "scheduler, I/O priority or personality"},
		{name: "no proc", mutate: func(s *specs.Spec) { s.Mounts = nil }, flags: ns, want: "no /proc mount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			if tc.mutate != nil {
				tc.mutate(s)
			}
			if got := forkedInitRefusal(s, tc.flags, tc.noPivot); got != tc.want {
				t.Errorf("refusal = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("forced re-exec", func(t *testing.T) {
		t.Setenv(InitEnv, "exec")
		if got := forkedInitRefusal(base(), ns, false); got != InitEnv+"=exec" {
			t.Errorf("refusal = %q", got)
		}
	})
}

func TestExecCandidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"/bin/sh", []string{"PATH=/x"}, []string{"/bin/sh"}},
		{"./run", nil, []string{"./run"}},
		{"sh", nil, []string{"/usr/local/sbin/sh", "/usr/local/bin/sh", "/usr/sbin/sh", "/usr/bin/sh", "/sbin/sh", "/bin/sh"}},
		{"sh", []string{"A=1", "PATH=/opt/bin::/bin"}, []string{"/opt/bin/sh", "sh", "/bin/sh"}},
	} {
		if got := execCandidates(tc.name, tc.env); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("execCandidates(%q, %q) = %q, want %q", tc.name, tc.env, got, tc.want)
		}
	}
}

// The child finds the strings of a request by their offsets.
func TestEncodeMount(t *testing.T) {
	var req childRequest
	if err := encodeMount(&req, "proc", "/r/proc", "proc", unix.MS_NOSUID, ""); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"proc", "/r/proc", "proc"} {
		off := req.Off[i]
		end := off
		for req.Data[end] != 0 {
			end++
		}
		if got := string(req.Data[off:end]); got != want {
			t.Errorf("string %d = %q, want %q", i, got, want)
		}
	}
	if req.Off[3] != noString {
		t.Error("empty data is not passed as NULL")
	}
	if req.Flags != unix.MS_NOSUID || req.Op != opMount || req.Len != uint32(len("proc/r/procproc")+3) {
		t.Errorf("op %d flags %#x len %d", req.Op, req.Flags, req.Len)
	}
	long := string(make([]byte, len(req.Data)))
	if err := encodeMount(&req, long, "/x", "proc", 0, ""); err != unix.ENAMETOOLONG {
		t.Errorf("a too long source: %v", err)
	}
}
