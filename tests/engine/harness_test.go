//go:build integration

package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/net/bridge"
	"github.com/petrel-edge/petrel/net/iptables"
	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// daemon is a private petreld and the client pointed at it.
type daemon struct {
	t      *testing.T
	bin    string
	dir    string // short: holds root, state and the socket
	root   string
	state  string
	sock   string
	rootfs string
	cmd    *exec.Cmd
	log    *os.File
	// petreld, when set, is the daemon's command (an installed petreld
	// link); otherwise the daemon runs as "bin daemon".
	petreld string
	// configFile, when set, is the daemon's only argument (--config-file):
	// it names root, state and socket itself.
	configFile string
	bridge     string // the default network's bridge of the default config
}

// startDaemon runs petreld on fresh directories. The directory is made
// with a short name: unix socket paths are limited to 107 bytes.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("", "pe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &daemon{t: t, bin: testenv.Binary(t), dir: dir, root: filepath.Join(dir, "r"), state: filepath.Join(dir, "s"),
		sock: filepath.Join(dir, "p.sock"), rootfs: filepath.Join(dir, "rootfs")}
	testenv.BusyboxRootfs(t, d.rootfs)
	t.Cleanup(d.cleanup)
	d.start()
	return d
}

// installedDaemon is a petreld run as on a device, not started yet: put
// writes the binary at the path it is given (DIR/bin/petrel) and returns
// it, petrel --install makes its links beside it, and the daemon starts
// through the petreld link.
func installedDaemon(t *testing.T, put func(path string) string) *daemon {
	t.Helper()
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("", "pi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bindir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bindir, 0o755); err != nil {
		t.Fatal(err)
	}
	installed := put(filepath.Join(bindir, "petrel"))
	if out, err := exec.Command(installed, "--install", bindir).CombinedOutput(); err != nil {
		t.Fatalf("petrel --install: %v: %s", err, out)
	}
	d := &daemon{t: t, bin: installed, petreld: filepath.Join(bindir, "petreld"), dir: dir,
		root: filepath.Join(dir, "r"), state: filepath.Join(dir, "s"), sock: filepath.Join(dir, "p.sock"),
		rootfs: filepath.Join(dir, "rootfs")}
	testenv.BusyboxRootfs(t, d.rootfs)
	t.Cleanup(d.cleanup)
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	log, err := os.OpenFile(filepath.Join(d.dir, "petreld.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	d.log = log
	args := []string{"--config-file", d.configFile}
	if d.configFile == "" {
		args = []string{"--config-file", d.config(""), "--graph", d.root, "--state", d.state, "-H", "unix://" + d.sock}
	}
	if d.petreld != "" {
		d.cmd = exec.Command(d.petreld, args...)
	} else {
		d.cmd = exec.Command(d.bin, append([]string{"daemon"}, args...)...)
	}
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { d.cmd.Wait(); close(exited) }()
	// Ready once /_ping answers.
	for {
		if d.ping() {
			return
		}
		select {
		case <-exited:
			data, _ := os.ReadFile(log.Name())
			d.t.Fatalf("petreld exited at start: %s", data)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// config writes a daemon.json and returns its path; the default one has
// only netConfig's keys.
func (d *daemon) config(content string) string {
	if content == "" {
		data, _ := json.Marshal(d.netConfig())
		content = string(data)
	}
	p := filepath.Join(d.dir, "daemon.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
	return p
}

// netConfig gives the daemon a network configuration of its own (conf
// dir, bridge, subnet, all derived from its directory), so that tests
// leave nothing in /etc/petrel or on the host; cleanup removes the bridge.
func (d *daemon) netConfig() map[string]any {
	n := 0
	for _, c := range d.dir {
		n = n*31 + int(c)
	}
	n &= 0x7fffffff
	d.bridge = fmt.Sprintf("pt%d", n%1_000_000_000)
	return map[string]any{
		"cni-conf-dir":           filepath.Join(d.dir, "net.d"),
		"default-network-bridge": d.bridge,
		"default-network-subnet": fmt.Sprintf("10.203.%d.0/24", n%250+1),
	}
}

func (d *daemon) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.sock)
	}}}
}

func (d *daemon) ping() bool {
	resp, err := d.httpClient().Get("http://petrel/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// kill9 kills the daemon with SIGKILL, as a crash would.
func (d *daemon) kill9() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGKILL)
	for d.cmd.ProcessState == nil {
		time.Sleep(10 * time.Millisecond)
	}
	d.log.Close()
}

func (d *daemon) cleanup() {
	// Remove every container, then stop the daemon.
	if d.cmd != nil && d.cmd.ProcessState == nil {
		if ids, _, _ := d.petrel("ps", "-aq", "--no-trunc"); ids != "" {
			d.petrel(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		d.cmd.Process.Signal(syscall.SIGTERM)
		for i := 0; i < 500 && d.cmd.ProcessState == nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
		}
	}
	data, _ := os.ReadFile(filepath.Join(d.dir, "petreld.log"))
	// A race detector build (PETREL_BIN built with -race) reports here.
	if bytes.Contains(data, []byte("DATA RACE")) || bytes.Contains(data, []byte("panic:")) {
		d.t.Errorf("petreld reported a data race or a panic")
	}
	if d.t.Failed() {
		d.t.Logf("petreld log:\n%s", data)
	}
	if d.bridge != "" {
		exec.Command("ip", "link", "del", d.bridge).Run() // absent unless a test used the default network
		removeMasquerade(d.t, d.bridge)
	}
	os.RemoveAll(d.dir)
}

// masqueradeRules returns the engine's per-network masquerade rules for a
// bridge as iptables -S lines after the command's name ("iptables -A …",
// then "ip6tables -A …").
func masqueradeRules(t *testing.T, bridgeName string) []string {
	t.Helper()
	var out []string
	for _, cmd := range []string{"iptables", "ip6tables"} {
		ipt, err := iptables.New(cmd == "ip6tables")
		if err != nil {
			continue
		}
		snap, err := ipt.Snapshot("nat")
		if err != nil {
			t.Errorf("list nat rules: %v", err)
			continue
		}
		for _, r := range snap.Rules("POSTROUTING") {
			if strings.Contains(r, bridge.NetworkMasqPrefix) && strings.Contains(r, " "+bridgeName+`"`) {
				out = append(out, cmd+" "+r)
			}
		}
	}
	return out
}

// removeMasquerade deletes the per-network masquerade rules of a test
// daemon's bridge: the network outlives its daemon, as the default
// network's does on a host, so the test removes what the host would keep.
func removeMasquerade(t *testing.T, bridgeName string) {
	for _, r := range masqueradeRules(t, bridgeName) {
		f := iptables.SplitRule(r) // the command, "-A", the chain, the rule
		if out, err := exec.Command(f[0], append([]string{"-w", "5", "-t", "nat", "-D"}, f[2:]...)...).CombinedOutput(); err != nil {
			t.Errorf("remove %s: %v: %s", r, err, out)
		}
	}
}

// petrel runs the client and returns stdout, stderr and the exit code.
func (d *daemon) petrel(args ...string) (string, string, int) {
	return d.petrelIn("", args...)
}

func (d *daemon) petrelIn(stdin string, args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.Command(d.bin, append([]string{"-H", "unix://" + d.sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("petrel %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// must runs the client and fails the test unless it exits 0.
func (d *daemon) must(args ...string) string {
	d.t.Helper()
	out, errs, code := d.petrel(args...)
	if code != 0 {
		d.t.Fatalf("petrel %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return strings.TrimSpace(out)
}

// runArgs prefixes run with the busybox rootfs.
func (d *daemon) runArgs(args ...string) []string {
	return append([]string{"run", "--external-rootfs", d.rootfs}, args...)
}

// inspect returns one field through inspect --format.
func (d *daemon) inspect(ref, field string) string {
	d.t.Helper()
	return d.must("inspect", "--format", "{{"+field+"}}", ref)
}

// waitFor polls cond until it holds; the test's own timeout bounds it.
func (d *daemon) waitFor(what string, cond func() bool) {
	d.t.Helper()
	for !cond() {
		if dl, ok := d.t.Deadline(); ok && time.Until(dl) < 10*time.Second {
			d.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pss returns the proportional set size of pid in kB.
func pss(pid int) (int, error) { return rollup(pid, "Pss:") }

// rollup returns a field of pid's smaps_rollup ("Pss:"), in kB.
func rollup(pid int, field string) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no %s line in /proc/%d/smaps_rollup", field, pid)
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

// stream starts a client command and returns its stdout as it comes;
// the command is waited for at the end of the test.
func (d *daemon) stream(args ...string) *bufio.Reader {
	d.t.Helper()
	cmd := exec.Command(d.bin, append([]string{"-H", "unix://" + d.sock}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return bufio.NewReader(out)
}
