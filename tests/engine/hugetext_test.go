//go:build integration

package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBinaryHugePages: petreld reads the binary's text into 2 MiB folios
// at start, so a client process maps its text with PMD entries; petreld
// and the shims, which live on, map it with small pages once they are
// up, and so does petrel-init. With binary-hugepages false petreld leaves the page cache alone.
func TestBinaryHugePages(t *testing.T) {
	thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(thp), "[never]") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("transparent huge pages: %q, %v", thp, err)
		}
		t.Skipf("transparent huge pages: %q, %v", thp, err)
	}
	d := startDaemon(t)
	log, _ := os.ReadFile(filepath.Join(d.dir, "petreld.log"))
	if !strings.Contains(string(log), "petrel binary: text read into 2 MiB pages") &&
		!strings.Contains(string(log), "petrel binary: text in 2 MiB pages already") {
		t.Fatalf("petreld's log says nothing of the binary in huge pages:\n%s", log)
	}
	if n := pmdMapped(t, d.cmd.Process.Pid); n != 0 {
		t.Errorf("petreld maps %d KiB of its binary with PMD entries, want 0", n)
	}

	// A client that stays: events, until it is killed.
	events := exec.Command(d.bin, "-H", "unix://"+d.sock, "events")
	out, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Process.Kill(); events.Wait() })
	d.must(d.runArgs("-d", "--name", "huge", "none", "sleep", "1000")...)
	if _, err := out.Read(make([]byte, 1)); err != nil {
		t.Fatalf("events: %v", err)
	}
	if n := pmdMapped(t, events.Process.Pid); n == 0 {
		t.Error("a client process maps none of its text with PMD entries")
	}
	shim := shimOf(t, d.inspect("huge", ".State.Pid"))
	if n := pmdMapped(t, shim); n != 0 {
		t.Errorf("the shim of a started container maps %d KiB with PMD entries, want 0", n)
	}
	// petrel-init, run from the binary inside the container, lives as
	// long as it: small pages too, once its command runs.
	d.must(d.runArgs("-d", "--init", "--name", "hugeinit", "none", "sleep", "1000")...)
	initPid, _ := strconv.Atoi(d.inspect("hugeinit", ".State.Pid"))
	d.waitFor("petrel-init to map its text with small pages", func() bool { return pmdMapped(t, initPid) == 0 })
	d.must("rm", "-f", "huge", "hugeinit")

	// A binary installed afresh, started through its petreld link: the
	// first start re-executes petreld (from memory, then from the
	// binary) and it keeps its pid and its name.
	fresh := installedDaemon(t, func(path string) string {
		if out, err := exec.Command("cp", d.bin, path).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		return path
	})
	fresh.start()
	flog, _ := os.ReadFile(filepath.Join(fresh.dir, "petreld.log"))
	if !strings.Contains(string(flog), "petrel binary: text read into 2 MiB pages") {
		t.Errorf("a fresh binary's first start did not read it into huge pages:\n%s", flog)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", fresh.cmd.Process.Pid))
	if strings.TrimSpace(string(comm)) != "petreld" {
		t.Errorf("petreld started through its link is called %q after its re-executions", comm)
	}
	if out := fresh.must("version"); !strings.Contains(out, "Server: Petrel Engine") {
		t.Errorf("version against the re-executed petreld:\n%s", out)
	}

	d.kill9()
	keys := d.netConfig()
	keys["graph"], keys["state"], keys["hosts"] = d.root, d.state, []string{"unix://" + d.sock}
	keys["binary-hugepages"] = false
	cfg, _ := json.Marshal(keys)
	d.configFile = d.config(string(cfg))
	d.start()
	log2, _ := os.ReadFile(filepath.Join(d.dir, "petreld.log"))
	if restart := string(log2[len(log):]); strings.Contains(restart, "petrel binary:") || !strings.Contains(restart, "serving the API") {
		t.Errorf("binary-hugepages false, and petreld's log says:\n%s", restart)
	}
}

// pmdMapped returns FilePmdMapped of a process, in KiB.
func pmdMapped(t *testing.T, pid int) int {
	t.Helper()
	n, err := rollup(pid, "FilePmdMapped:")
	if err != nil {
		t.Fatal(err)
	}
	return n
}
