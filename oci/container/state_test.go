package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartSpecReadsWhatStartNeeds(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		process   bool
		poststart int
		err       string
	}{
		{"process and hook", `{"process":{"args":["sh"]},"hooks":{"poststart":[{"path":"/bin/true"}]},"linux":{"namespaces":[{"type":"pid"}]}}`, true, 1, ""},
		{"no process", `{"root":{"path":"rootfs"}}`, false, 0, ""},
		{"null process", `{"process":null}`, false, 0, ""},
		{"corrupt", `{"process":`, false, 0, "corrupt config"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, configFile), []byte(tt.config), 0o600); err != nil {
			t.Fatal(err)
		}
		c := &Container{ID: "c1", dir: dir}
		v, err := c.startSpec()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		hooks := 0
		if v.Hooks != nil {
			hooks = len(v.Hooks.Poststart)
		}
		if v.hasProcess != tt.process || hooks != tt.poststart {
			t.Errorf("%s: process %v, %d poststart hooks; want %v, %d", tt.name, v.hasProcess, hooks, tt.process, tt.poststart)
		}
		// The whole spec, once read, answers without the file.
		if _, err := c.Spec(); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, configFile))
		if v2, err := c.startSpec(); err != nil || v2.hasProcess != tt.process {
			t.Errorf("%s: from the read spec: %+v, %v", tt.name, v2, err)
		}
	}
}

func TestAdoptChecksThePid(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"id":"c1","pid":4242}`), 0o600)
	if _, err := Adopt(root, "c1", 4243); err == nil || !strings.Contains(err.Error(), "not 4243") {
		t.Errorf("Adopt with another pid: %v", err)
	}
	c, err := Adopt(root, "c1", 4242)
	if err != nil || c.proc == nil || c.proc.Pid != 4242 {
		t.Fatalf("Adopt = %+v, %v", c, err)
	}
	if _, err := Adopt(root, "nosuch", 1); err == nil {
		t.Error("Adopt of a missing container succeeded")
	}
}
