package shim_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/shim"
)

// spare starts a spare shim of this test binary and waits until it is
// ready; its own stderr goes to the returned path.
func spare(t *testing.T) (*shim.Spare, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "spare.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	sp, err := shim.LaunchSpare(self, t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	if err := sp.WaitReady(20 * time.Second); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%v; its stderr: %s", err, b)
	}
	return sp, logPath
}

// policies returns the scheduling policy of each thread of pid.
func policies(t *testing.T, pid int) map[int]uint32 {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]uint32{}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		if attr, err := unix.SchedGetAttr(tid, 0); err == nil {
			m[tid] = attr.Policy
		}
	}
	return m
}

// A spare that is ready runs at the normal policy (a container forked
// from it inherits it), and once taken it is the shim Launch would have
// started: it creates the container, and says why it could not on the
// readiness pipe and on the stderr the daemon handed it.
func TestSpareTakenIsALaunchedShim(t *testing.T) {
	sp, spareLog := spare(t)
	for tid, p := range policies(t, sp.Pid()) {
		if p != unix.SCHED_NORMAL {
			t.Errorf("a ready spare's thread %d runs under policy %d, not SCHED_NORMAL", tid, p)
		}
	}
	opts, shimLog := spawnOptions(t, "spare")
	defer opts.Log.Close()
	l, err := sp.Take(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Create(); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("create from a bundle without config.json: err = %v, want one naming config.json", err)
	}
	if b, _ := os.ReadFile(shimLog); !strings.Contains(string(b), "config.json") {
		t.Errorf("the container's shim log has %q, want the failure", b)
	}
	if b, _ := os.ReadFile(spareLog); len(b) > 0 {
		t.Errorf("the daemon's log got the container's shim's words: %q", b)
	}
	if err := sp.Close(); err != nil {
		t.Errorf("Close of a taken spare: %v", err)
	}
}

func TestSpareCloseReaps(t *testing.T) {
	sp, spareLog := spare(t)
	pid := sp.Pid()
	if err := sp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("the spare %d is still there after Close (%v)", pid, err)
	}
	if b, _ := os.ReadFile(spareLog); len(b) > 0 {
		t.Errorf("a spare let go complained: %q", b)
	}
}
