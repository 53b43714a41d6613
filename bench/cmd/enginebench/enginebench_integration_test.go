//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnginebenchRuns runs one iteration, one round of two containers at
// once and the memory figures with two containers against every installed
// engine (petrel when $PETREL_BIN is set), and checks the JSON report.
func TestEnginebenchRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	out := filepath.Join(t.TempDir(), "report.json")
	args := []string{"-n", "1", "-warmup", "0", "-c", "2", "-containers", "2", "-o", out}
	var want []string
	if p := os.Getenv("PETREL_BIN"); p != "" {
		args = append(args, "-petrel", p)
		want = append(want, "petrel")
	}
	for _, e := range []struct{ name, bin, pkg string }{{"docker", "dockerd", "docker.io"}, {"podman", "podman", "podman"}} {
		if _, err := exec.LookPath(e.bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (apt-get install %s)", e.bin, e.pkg)
			}
			continue
		}
		want = append(want, e.name)
	}
	if len(want) == 0 {
		t.Skip("no engine installed")
	}
	args = append(args, "-engines", strings.Join(want, ","))
	var stdout, stderr bytes.Buffer
	if code := runMain(args, &stdout, &stderr); code != 0 {
		t.Fatalf("enginebench %v: exit %d\n%s\n%s", args, code, stderr.String(), stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, data)
	}
	for _, e := range want {
		for _, op := range ops {
			if s := rep.Single[op][e]; s.N != 1 || s.MedianMS <= 0 {
				t.Errorf("%s %s one at a time: %+v, want one sample", e, op, s)
			}
			if s := rep.Concurrent[op][e]; s.N != 1 || s.MedianMS <= 0 {
				t.Errorf("%s %s at once: %+v, want one sample", e, op, s)
			}
		}
		// Petrel's spare shim, once containers have started, counts too.
		most := 2
		if e == "petrel" {
			most = 3
		}
		m, ok := rep.Memory[e]
		if !ok || m.PerCtr.Procs < 2 || m.PerCtr.Procs > most || m.PerCtr.PssKiB <= 0 {
			t.Errorf("%s memory: %+v, want two per-container processes (petrel: and a spare shim) with PSS", e, m)
		}
	}
	if !strings.Contains(stdout.String(), "memory (PSS") {
		t.Errorf("text report lacks the memory table:\n%s", stdout.String())
	}
}
