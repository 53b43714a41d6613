//go:build integration

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/bench/busybox"
)

// require fails under CI=true, where every prerequisite must be there,
// and skips otherwise.
func require(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite: %s", what)
	}
	t.Skipf("missing prerequisite: %s", what)
}

// petrelBinary is $PETREL_BIN, or a build of this checkout.
func petrelBinary(t *testing.T) string {
	if p := os.Getenv("PETREL_BIN"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	out := filepath.Join(t.TempDir(), "petrel")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if data, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build petrel: %v: %s", err, data)
	}
	return out
}

// TestIdleWritesNothing is the flash-wear check CI runs: ten silent
// containers, two of them health-checked every two seconds, idle for a
// minute, and the scratch filesystem holding petreld's root and state
// must not have written a byte. One run/rm lifecycle is counted too, to
// show that the counters see the engine's writes.
func TestIdleWritesNothing(t *testing.T) {
	require(t, os.Geteuid() == 0, "root")
	for _, tool := range []string{"mkfs.ext4", "losetup"} {
		_, err := exec.LookPath(tool)
		require(t, err == nil, tool+" in $PATH")
	}
	_, err := os.Stat(busybox.HostBinary)
	require(t, err == nil, "static busybox at "+busybox.HostBinary)
	o := options{petrel: petrelBinary(t), binDir: t.TempDir(), containers: 10, healthy: 2, healthEvery: 2 * time.Second,
		cycles: 3, idle: time.Minute, settle: time.Second}
	rep, err := measure(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Idle.Bytes != 0 || len(rep.Idle.Changed) != 0 {
		t.Errorf("idle for %.0f s, the engine wrote %d bytes; files changed: %s", rep.Idle.Seconds, rep.Idle.Bytes, strings.Join(rep.Idle.Changed, ", "))
	}
	if rep.HealthyAtEnd != o.healthy {
		t.Errorf("%d of %d health-checked containers healthy: the checks did not run while idle", rep.HealthyAtEnd, o.healthy)
	}
	if rep.Cycle.Bytes == 0 || !strings.Contains(strings.Join(rep.Cycle.Changed, " "), "config.v2.json") {
		t.Errorf("a run/rm cycle wrote %d bytes, changed %q: the counters miss the engine's writes", rep.Cycle.Bytes, rep.Cycle.Changed)
	}
	if rep.DaemonIdle.PSS <= 0 || rep.PerContainer <= 0 || rep.ClientPeak <= 0 || rep.RuntimePeak <= 0 {
		t.Errorf("missing memory figures: %+v", rep)
	}
	t.Logf("idle %d B in %.0f s; one run/rm %d B; petreld idle PSS %d KiB; per container %d KiB",
		rep.Idle.Bytes, rep.Idle.Seconds, rep.Cycle.Bytes, rep.DaemonIdle.PSS, rep.PerContainer)
}
