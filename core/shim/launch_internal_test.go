package shim

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/container"
)

func controlPair(t *testing.T) (daemon, shim *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	daemon, shim = os.NewFile(uintptr(fds[0]), "daemon"), os.NewFile(uintptr(fds[1]), "shim")
	t.Cleanup(func() { daemon.Close(); shim.Close() })
	return daemon, shim
}

func TestReadControl(t *testing.T) {
	devnull := func(t *testing.T) *os.File {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	t.Run("closed is aborted", func(t *testing.T) {
		daemon, shim := controlPair(t)
		daemon.Close()
		if _, err := readControl(shim); !errors.Is(err, ErrAborted) {
			t.Fatalf("err = %v, want ErrAborted", err)
		}
	})
	t.Run("go creates here", func(t *testing.T) {
		daemon, shim := controlPair(t)
		if err := sendControl(daemon, ctlGo, nil); err != nil {
			t.Fatal(err)
		}
		if d, err := readControl(shim); d != nil || err != nil {
			t.Fatalf("got %v, %v; want nil, nil", d, err)
		}
	})
	t.Run("fork request with its descriptors", func(t *testing.T) {
		daemon, shim := controlPair(t)
		// A plan as large as a seccomp profile's, to cross in one message.
		plan := &container.PlanSpec{Argv: []string{"sleep", "1"}, Paths: []string{"/bin/sleep"}, Seccomp: make([]uint64, 4096)}
		plan.Seccomp[4095] = 1<<63 | 42
		req := &container.ForkRequest{Cloneflags: unix.CLONE_NEWNS, Plan: plan, Joins: []container.ForkJoin{{Path: "/proc/1/ns/net", Flag: unix.CLONE_NEWNET}}}
		req.Sync, req.Fifo = devnull(t), devnull(t)
		// Fork's sending half; its answer is not awaited here.
		b, err := req.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := sendControl(daemon, ctlFork, b, req.Sync, req.Fifo, devnull(t)); err != nil {
			t.Fatal(err)
		}
		d, err := readControl(shim)
		if err != nil {
			t.Fatal(err)
		}
		if d.req.Sync == nil || d.req.Fifo == nil || d.console == nil {
			t.Fatalf("descriptors lost: %+v", d)
		}
		if d.req.Cloneflags != unix.CLONE_NEWNS || len(d.req.Joins) != 1 || d.req.Joins[0].Path != "/proc/1/ns/net" {
			t.Errorf("request = %+v", d.req)
		}
		if got := d.req.Plan.Seccomp; len(got) != 4096 || got[4095] != 1<<63|42 {
			t.Errorf("seccomp filter came through as %d instructions", len(got))
		}
		for _, f := range []*os.File{d.req.Sync, d.req.Fifo, d.console} {
			f.Close()
		}
	})
	t.Run("unknown message", func(t *testing.T) {
		daemon, shim := controlPair(t)
		sendControl(daemon, 'x', nil)
		if _, err := readControl(shim); err == nil {
			t.Fatal("an unknown control message was taken")
		}
	})
	t.Run("fork request without descriptors", func(t *testing.T) {
		daemon, shim := controlPair(t)
		b, err := (&container.ForkRequest{Plan: &container.PlanSpec{}}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		sendControl(daemon, ctlFork, b)
		if _, err := readControl(shim); err == nil {
			t.Fatal("a fork request without its sync socket and fifo was taken")
		}
	})
}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		name, line         string
		process, resources bool
		bad                bool
	}{
		{name: "start", line: `{"op":"start"}`},
		{name: "exec", line: `{"op":"exec","exec":"x","process":{"args":["true"],"cwd":"/"}}`, process: true},
		{name: "update", line: `{"op":"update","resources":{"pids":{"limit":5}}}`, resources: true},
		{name: "process on another op is ignored", line: `{"op":"kill","signal":9,"process":{"args":["x"]}}`},
		{name: "bad process", line: `{"op":"exec","process":{"args":"true"}}`, bad: true},
		{name: "bad resources", line: `{"op":"update","resources":{"pids":[]}}`, bad: true},
		{name: "not JSON", line: `start`, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := decodeRequest([]byte(tc.line))
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v, want an error: %v", err, tc.bad)
			}
			if tc.bad {
				return
			}
			if (req.Process != nil) != tc.process || (req.Resources != nil) != tc.resources {
				t.Errorf("process %v resources %v", req.Process, req.Resources)
			}
			if tc.process && (len(req.Process.Args) != 1 || req.Process.Cwd != "/") {
				t.Errorf("process = %+v", req.Process)
			}
			if tc.resources && (req.Resources.Pids == nil || req.Resources.Pids.Limit != 5) {
				t.Errorf("resources = %+v", req.Resources)
			}
		})
	}
}

// A spare whose daemon goes (its control socket closes) exits by
// itself, quietly: a daemon killed with SIGKILL leaves no spare behind.
func TestSpareExitsWithItsDaemon(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := LaunchSpare(self, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.WaitReady(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	sp.l.ctl.Close()
	done := make(chan error, 1)
	go func() { done <- sp.l.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the spare exited with %v, want status 0", err)
		}
		sp.l = nil
	case <-time.After(10 * time.Second):
		t.Fatal("the spare is still there 10 s after its control socket closed")
	}
}

func TestNormalPolicy(t *testing.T) {
	runtime.LockOSThread() // this thread ends with the test: it is SCHED_IDLE
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	attr.Policy = unix.SCHED_IDLE
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		t.Skipf("cannot set SCHED_IDLE: %v", err)
	}
	if err := normalPolicy(); err != nil {
		t.Fatal(err)
	}
	if attr, err = unix.SchedGetAttr(0, 0); err != nil || attr.Policy != unix.SCHED_NORMAL {
		t.Errorf("policy after normalPolicy: %+v, %v; want SCHED_NORMAL", attr, err)
	}
}
