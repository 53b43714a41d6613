//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// require fails under CI and skips elsewhere when a prerequisite is missing.
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

// TestBench runs the whole benchmark on a small image, one iteration: every
// tool pulls, every figure is there, and nothing is left behind.
func TestBench(t *testing.T) {
	require(t, os.Geteuid() == 0, "root")
	petrel := os.Getenv("PETREL_BIN")
	require(t, petrel != "", "PETREL_BIN (make test-integration builds and sets it)")
	for _, p := range []string{"docker-registry", "skopeo", "umoci", "podman", "/bin/busybox"} {
		_, err := exec.LookPath(p)
		require(t, err == nil, p+" (scripts/setup.sh installs it)")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var out, errs bytes.Buffer
	code := runMain([]string{"-n", "1", "-warmup", "0", "-layer-mb", "8", "-petrel", petrel, "-json"}, &out, &errs)
	if code != 0 {
		t.Fatalf("pullbench exit %d\n%s\n%s", code, errs.String(), out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if len(rep.Image.Layers) != 5 || rep.Image.DiffSize < 8<<20 || !strings.HasPrefix(rep.Image.Reference, "127.0.0.1:") {
		t.Errorf("image %+v: want 5 layers, at least 8 MiB, from 127.0.0.1", rep.Image)
	}
	want := map[string]int{"petrel": 1, "skopeo+umoci": 2, "podman": 1}
	for _, tr := range rep.Tools {
		if tr.Skipped != "" || len(tr.Failures) > 0 {
			t.Errorf("%s: skipped %q, failures %q", tr.Name, tr.Skipped, tr.Failures)
			continue
		}
		if len(tr.Steps) != want[tr.Name] || tr.Total.N != 1 || tr.Total.MedianMS <= 0 || tr.PeakRSS.MaxKB <= 0 {
			t.Errorf("%s: %d steps, total %+v, peak RSS %+v", tr.Name, len(tr.Steps), tr.Total, tr.PeakRSS)
		}
		delete(want, tr.Name)
	}
	if len(want) > 0 {
		t.Errorf("tools missing from the report: %v", want)
	}
	if rep.RSSFloorKB <= 0 {
		t.Errorf("no RSS floor in the report")
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), tmp) {
		t.Errorf("mounts left under %s", tmp)
	}
}
