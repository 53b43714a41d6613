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

// TestRuntimebenchRuns runs one measured iteration against every installed
// runtime (petrel-runtime when $PETREL_BIN is set) and checks that each
// went through the whole cycle and that the JSON report holds its figures.
func TestRuntimebenchRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	args := []string{"-n", "1", "-warmup", "1", "-states", "2", "-json"}
	var want []string
	if p := os.Getenv("PETREL_BIN"); p != "" {
		args = append(args, "-petrel", p)
		want = append(want, "petrel")
	}
	for _, rt := range []string{"runc", "crun"} {
		if _, err := exec.LookPath(rt); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (scripts/setup.sh installs it)", rt)
			}
			continue
		}
		want = append(want, rt)
	}
	if len(want) == 0 {
		t.Skip("no runtime installed")
	}
	args = append(args, "-runtimes", strings.Join(want, ","))
	var out, errb bytes.Buffer
	if code := runMain(args, &out, &errb); code != 0 {
		t.Fatalf("runtimebench %v: exit %d\n%s\n%s", args, code, errb.String(), out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out.String())
	}
	for _, rt := range want {
		for _, op := range []string{"run", "create", "start", "state", "kill", "delete"} {
			if s := rep.Ops[op][rt]; s.N == 0 || s.MedianMS <= 0 {
				t.Errorf("%s %s: %+v, want samples", rt, op, s)
			}
		}
		if rep.RSS[rt].MedianKiB <= 0 {
			t.Errorf("%s: no peak RSS", rt)
		}
	}
}
