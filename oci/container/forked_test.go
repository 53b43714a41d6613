package container

import (
	"reflect"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/seccomp"
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

// TestPlanSpecCrossesIntact checks that a plan sent to another process
// (CreateOptions.Fork) builds the same child plan there: the seccomp
// filter, capabilities, rlimits and strings, after the fork request's
// binary round trip.
func TestPlanSpecCrossesIntact(t *testing.T) {
	umask := uint32(0o027)
	s := &specs.Spec{
		Process: &specs.Process{
			Args: []string{"sh", "-c", "true"}, Env: []string{"PATH=/bin:/usr/bin", "A=b"}, Cwd: "/work",
			User:            specs.User{UID: 1000, GID: 100, Umask: &umask, AdditionalGids: []uint32{10, 20}},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}},
			NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: []string{"CAP_CHOWN", "CAP_NET_RAW"}, Effective: []string{"CAP_CHOWN"},
				Permitted: []string{"CAP_CHOWN"}, Ambient: []string{"CAP_CHOWN"},
			},
		},
		Linux: &specs.Linux{Seccomp: seccomp.Default([]string{"CAP_CHOWN"})},
	}
	f := &forkedInit{spec: s}
	ps, err := f.planSpec()
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&ForkRequest{Plan: ps}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var req ForkRequest
	if err := req.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	want, got := ps.build(), req.Plan.build()
	prog, flags, err := seccomp.Prepare(s.Linux.Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) == 0 {
		t.Fatal("the default profile compiled to nothing")
	}
	gotProg := unsafe.Slice(got.seccompProg.Filter, got.seccompProg.Len)
	if !reflect.DeepEqual(gotProg, prog) || got.seccompFlags != flags || !got.seccompLate || got.seccompEarly {
		t.Errorf("seccomp: %d instructions (flags %#x, early %v, late %v), want %d (flags %#x, late)",
			len(gotProg), got.seccompFlags, got.seccompEarly, got.seccompLate, len(prog), flags)
	}
	if got.uid != 1000 || got.gid != 100 || got.umask != 0o027 || !reflect.DeepEqual(got.groups, []uint32{10, 20}) || !got.noNewPrivs || !got.setsid {
		t.Errorf("user, umask, groups, no_new_privs or setsid lost: %+v", got)
	}
	if !reflect.DeepEqual(got.rlimits, want.rlimits) || len(got.rlimits) != 1 || got.rlimits[0].limit != [2]uint64{1024, 4096} {
		t.Errorf("rlimits = %+v", got.rlimits)
	}
	if got.capData != want.capData || !reflect.DeepEqual(got.capDrop, want.capDrop) || !reflect.DeepEqual(got.ambient, want.ambient) || len(got.ambient) != 1 {
		t.Errorf("capabilities = %+v drop %v ambient %v, want %+v drop %v ambient %v", got.capData, got.capDrop, got.ambient, want.capData, want.capDrop, want.ambient)
	}
	strs := func(p []*byte) (out []string) {
		for _, c := range p {
			if c != nil {
				out = append(out, cstringValue(c))
			}
		}
		return out
	}
	if g := strs(got.argv); !reflect.DeepEqual(g, s.Process.Args) {
		t.Errorf("argv = %q", g)
	}
	if g := strs(got.envp); !reflect.DeepEqual(g, s.Process.Env) {
		t.Errorf("env = %q", g)
	}
	if g := strs(got.paths); !reflect.DeepEqual(g, []string{"/bin/sh", "/usr/bin/sh"}) || !got.search {
		t.Errorf("exec candidates = %q (search %v)", g, got.search)
	}
	if cstringValue(got.cwd) != "/work" {
		t.Errorf("cwd = %q", cstringValue(got.cwd))
	}
}
