//go:build integration

package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// requireRoot skips (fails under CI=true) without root or cgroupfs.
func requireRoot(t *testing.T) {
	t.Helper()
	why := ""
	var st unix.Statfs_t
	switch {
	case os.Geteuid() != 0:
		why = "needs root"
	case unix.Statfs(defaultRoot, &st) != nil:
		why = "no " + defaultRoot
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// child is a shell that waits for a line on stdin before running script, so
// that it runs script inside the cgroup it was moved to.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startChild(t *testing.T, script string) *child {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read x; "+script)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(c.stop)
	return c
}

func (c *child) go_(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.in, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *child) line(t *testing.T) string {
	t.Helper()
	s, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("read child output: %v", err)
	}
	return strings.TrimSpace(s)
}

func (c *child) stop() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

func ptr[T any](v T) *T { return &v }

func mustRead(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := readString(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIntegrationLifecycle(t *testing.T) {
	requireRoot(t)
	id := fmt.Sprintf("itest-%d", os.Getpid())
	m, err := New("", id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Destroy() })
	if m.Exists() {
		t.Fatalf("cgroup %v exists before Apply", m.Paths())
	}

	c := startChild(t, `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done
		echo x > /dev/null && echo null-ok
		head -c1 /dev/zero > /dev/null 2>&1 || echo zero-denied
		exec sleep 60`)
	pid := c.cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	if !m.Exists() {
		t.Fatal("Exists is false after Apply")
	}
	null, zero := int64(1), int64(3)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Reservation: ptr(int64(32 << 20))},
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000))},
		Pids:   &specs.LinuxPids{Limit: 10},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: &null, Minor: &zero, Access: "rwm"},
		},
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	p := m.Paths()
	for _, want := range []struct{ ctrl, file, value string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"pids", "pids.max", "10"},
		{"devices", "devices.list", "c 1:3 rwm"},
	} {
		if got := mustRead(t, p[want.ctrl], want.file); got != want.value {
			t.Errorf("%s = %q, want %q", want.file, got, want.value)
		}
	}

	c.go_(t)
	if got := c.line(t); got != "null-ok" {
		t.Errorf("child writing /dev/null said %q", got)
	}
	if got := c.line(t); got != "zero-denied" {
		t.Errorf("child reading /dev/zero said %q, want it denied", got)
	}

	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, pid) {
		t.Errorf("Pids() = %v, want it to hold %d", pids, pid)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Limit != 10 || st.Pids.Current < 1 {
		t.Errorf("pids stats = %+v, want limit 10 and current >= 1", st.Pids)
	}
	if st.Memory.Usage.Limit != 64<<20 || st.Memory.Usage.Usage == 0 || len(st.Memory.Raw) == 0 {
		t.Errorf("memory stats = %+v", st.Memory.Usage)
	}
	if st.CPU.Usage.Total == 0 || len(st.CPU.Usage.Percpu) == 0 {
		t.Errorf("cpu stats = %+v, want usage of the shell's loop", st.CPU.Usage)
	}

	// A memory limit below what the cgroup uses is refused with EBUSY.
	err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(4096))}})
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "below the current usage") {
		t.Errorf("memory limit below usage: err = %v, want EBUSY", err)
	}

	// The kernel clamps cpu shares; Set says so rather than pretend.
	err = m.Set(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(1))}})
	if err == nil || !strings.Contains(err.Error(), "minimum allowed cpu shares is 2") {
		t.Errorf("cpu shares 1: err = %v", err)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Errorf("Frozen() = %v, %v after Freeze", f, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || f {
		t.Errorf("Frozen() = %v, %v after Thaw", f, err)
	}

	c.stop()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for ctrl, dir := range p {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s cgroup %s left behind: %v", ctrl, dir, err)
		}
	}
	if m.Exists() {
		t.Error("Exists is true after Destroy")
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// TestIntegrationLoadAndHugetlb checks a manager rebuilt from saved paths and
// the hybrid case of hugetlb on the v2 hierarchy.
func TestIntegrationLoadAndHugetlb(t *testing.T) {
	requireRoot(t)
	m, err := New(fmt.Sprintf("/petrel-itest/load-%d", os.Getpid()), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Destroy(); os.Remove(filepath.Join(defaultRoot, "memory", "petrel-itest")) })
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	l := Load(m.Paths())
	if err := l.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: -1}}); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, l.Paths()["pids"], "pids.max"); got != "max" {
		t.Errorf("pids.max = %q, want max", got)
	}
	if _, ok := m.Paths()["hugetlb"]; ok {
		err := l.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}})
		if err != nil {
			t.Fatal(err)
		}
		file := "hugetlb.2MB.limit_in_bytes"
		if l.v2["hugetlb"] {
			file = "hugetlb.2MB.max"
		}
		if got := mustRead(t, l.Paths()["hugetlb"], file); got != "4194304" {
			t.Errorf("%s = %q", file, got)
		}
		if _, err := l.Stats(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	if m.Exists() {
		t.Error("cgroup still there after Destroy of the loaded manager")
	}
}

// TestIntegrationDevicesEBPF attaches the v2 device program for real, on the
// host's cgroup2 mount, and replaces it with an update.
func TestIntegrationDevicesEBPF(t *testing.T) {
	requireRoot(t)
	h, err := hostLayout()
	if err != nil {
		t.Fatal(err)
	}
	if h.v2 == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no cgroup2 mount")
		}
		t.Skip("no cgroup2 mount")
	}
	// Use the v2 hierarchy alone, as on a pure v2 host.
	l := &layout{unified: true, v2: h.v2, v2root: h.v2root, v2ctrls: h.v2ctrls, selfCgroup: readSelfCgroup}
	m, err := newManager(l, "", fmt.Sprintf("ebpf-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Destroy() })
	c := startChild(t, `echo x > /dev/null && echo null-ok
		head -c1 /dev/zero > /dev/null 2>&1 && echo zero-ok || echo zero-denied
		head -c1 /dev/full > /dev/null 2>&1 && echo full-ok || echo full-denied
		read x
		head -c1 /dev/zero > /dev/null 2>&1 && echo zero-ok || echo zero-denied
		exec sleep 60`)
	if err := m.Apply(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	n := func(v int64) *int64 { return &v }
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: n(1), Minor: nil, Access: "rw"},  // all mem devices
		{Allow: false, Type: "c", Major: n(1), Minor: n(5), Access: "r"}, // but not reading /dev/zero
	}
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	c.go_(t)
	for _, want := range []string{"null-ok", "zero-denied", "full-ok"} {
		if got := c.line(t); got != want {
			t.Errorf("child said %q, want %q", got, want)
		}
	}
	// An update replaces the program rather than stacking another.
	rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: n(1), Minor: n(5), Access: "r"})
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	if n := attachedDevicePrograms(t, m.Paths()[""]); n != 1 {
		t.Errorf("%d device programs attached after update, want 1", n)
	}
	c.go_(t)
	if got := c.line(t); got != "zero-ok" {
		t.Errorf("after update child said %q, want zero-ok", got)
	}

	// The runtime's usual rule set loads too.
	full := append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, AllowedDevices()...)
	if err := m.Set(&specs.LinuxResources{Devices: full}); err != nil {
		t.Fatal(err)
	}

	// cgroup.freeze works on this v2 cgroup as well.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Errorf("Frozen() = %v, %v", f, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	c.stop()
	start := time.Now()
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy after %v: %v", time.Since(start), err)
	}
	if m.Exists() {
		t.Error("cgroup left behind")
	}
}

func attachedDevicePrograms(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	n, err := queryDevicePrograms(fd)
	if err != nil {
		t.Fatal(err)
	}
	return len(n)
}

// BenchmarkIntegrationCreate is what `create` costs here: New, Apply of a
// process, Set of typical limits with the default devices, and Destroy.
func BenchmarkIntegrationCreate(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	devs := append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, AllowedDevices()...)
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
		CPU:     &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000))},
		Pids:    &specs.LinuxPids{Limit: 100},
		Devices: devs,
	}
	for i := 0; i < b.N; i++ {
		m, err := New("", fmt.Sprintf("bench-%d-%d", os.Getpid(), i))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Apply(-1); err != nil {
			b.Fatal(err)
		}
		if err := m.Set(r); err != nil {
			b.Fatal(err)
		}
		if err := m.Destroy(); err != nil {
			b.Fatal(err)
		}
	}
}
