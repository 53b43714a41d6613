package shim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appshim "github.com/petrel-edge/petrel/applets/shim"
	"github.com/petrel-edge/petrel/core/shim"
)

// TestMain lets this test binary be the shim that Launch starts: Launch
// runs it as "petrel-shim".
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "petrel-shim" {
		os.Exit(appshim.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// launch starts a shim for a bundle with no config.json; its own stderr
// goes to the returned file.
func launch(t *testing.T) (*shim.Launched, shim.Options, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts, logPath := spawnOptions(t, "launched")
	defer opts.Log.Close()
	opts.Binary = self
	l, err := shim.Launch(opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, opts.Options, logPath
}

// spawnOptions are those of a shim of container id for a bundle with no
// config.json, in a directory of its own; the shim's stderr goes to
// opts.Log, which the caller closes, at the returned path.
func spawnOptions(t *testing.T, id string) (shim.SpawnOptions, string) {
	t.Helper()
	dir := t.TempDir()
	o := shim.Options{
		ID: id, Bundle: filepath.Join(dir, "bundle"), RuntimeRoot: filepath.Join(dir, "state"),
		Runtime: "lcr", Socket: filepath.Join(dir, "shim.sock"), ExitFile: filepath.Join(dir, "exit.json"),
		LogFile: filepath.Join(dir, "ctr.log"), LogMaxFile: 1,
	}
	if err := os.Mkdir(o.Bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "shim.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	return shim.SpawnOptions{Options: o, Log: log}, logPath
}

func TestLaunchAbortLeavesNothing(t *testing.T) {
	l, o, logPath := launch(t)
	if err := l.Abort(); err != nil {
		t.Fatalf("aborted shim: %v", err)
	}
	for _, p := range []string{o.Socket, o.ExitFile, o.LogFile, o.RuntimeRoot} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("an aborted shim left %s (%v)", p, err)
		}
	}
	if b, _ := os.ReadFile(logPath); len(b) > 0 {
		t.Errorf("an aborted shim complained: %s", b)
	}
}

func TestLaunchCreateReportsFailure(t *testing.T) {
	l, o, _ := launch(t)
	_, _, err := l.Create()
	if err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("create from a bundle without config.json: err = %v, want one naming config.json", err)
	}
	if _, err := os.Lstat(o.Socket); !os.IsNotExist(err) {
		t.Errorf("a failed shim left its socket (%v)", err)
	}
}
