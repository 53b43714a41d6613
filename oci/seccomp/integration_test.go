//go:build integration

package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The test binary re-executes itself with childEnv set to a profile (JSON)
// and a directory; the child loads the profile on its locked thread, tries
// system calls in that directory and prints what they returned.
const (
	childEnv   = "PETREL_SECCOMP_CHILD"
	childDir   = "PETREL_SECCOMP_DIR"
	childTSync = "PETREL_SECCOMP_OTHER_THREAD"
)

func TestMain(m *testing.M) {
	if p := os.Getenv(childEnv); p != "" {
		os.Exit(child(p))
	}
	os.Exit(m.Run())
}

func child(profile string) int {
	runtime.LockOSThread()
	var cfg specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(profile), &cfg); err != nil {
		fmt.Println("profile:", err)
		return 3
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("no_new_privs:", err)
		return 3
	}
	fd, err := Load(&cfg)
	if err != nil {
		fmt.Println("load:", err)
		return 3
	}
	if fd >= 0 {
		st := specs.State{Version: specs.Version, ID: "test", Status: specs.StateCreating, Pid: os.Getpid()}
		if err := SendListener(&cfg, fd, os.Getpid(), st); err != nil {
			fmt.Println("send:", err)
			return 3
		}
		unix.Close(fd)
	}
	dir := os.Getenv(childDir)
	try := func(what string, f func() error) {
		if os.Getenv(childTSync) != "" {
			// From another thread, which only TSYNC filters.
			done := make(chan error)
			go func() {
				runtime.LockOSThread() // a fresh thread, dropped on exit
				done <- f()
			}()
			fmt.Printf("%s=%v\n", what, errName(<-done))
			return
		}
		fmt.Printf("%s=%v\n", what, errName(f()))
	}
	try("mkdirat", func() error { return unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "d"), 0o700) })
	try("chmod777", func() error { return unix.Fchmodat(unix.AT_FDCWD, dir, 0o777, 0) })
	try("chmod755", func() error { return unix.Fchmodat(unix.AT_FDCWD, dir, 0o755, 0) })
	try("write", func() error { return os.WriteFile(filepath.Join(dir, "f"), []byte("ok"), 0o600) })
	return 0
}

func errName(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// requireSeccomp fails under CI, else skips, when the kernel has no seccomp
// filters.
func requireSeccomp(t *testing.T) {
	t.Helper()
	// With no program, a kernel that has filters fails with EFAULT.
	if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, 0); errno == unix.EFAULT {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("kernel without seccomp filters")
	}
	t.Skip("kernel without seccomp filters")
}

// runChild runs the child with cfg in dir and returns its output and wait
// status.
func runChild(cfg *specs.LinuxSeccomp, dir string, env ...string) (string, syscall.WaitStatus, error) {
	profile, err := json.Marshal(cfg)
	if err != nil {
		return "", 0, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(profile), childDir+"="+dir)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return "", 0, err
	}
	return out.String(), cmd.ProcessState.Sys().(syscall.WaitStatus), nil
}

func mustRunChild(t *testing.T, cfg *specs.LinuxSeccomp, env ...string) (string, syscall.WaitStatus) {
	t.Helper()
	out, ws, err := runChild(cfg, t.TempDir(), env...)
	if err != nil {
		t.Fatal(err)
	}
	return out, ws
}

func TestLoadDenies(t *testing.T) {
	requireSeccomp(t)
	mode := []specs.LinuxSeccompArg{{Index: 2, Value: 0o777, Op: specs.OpEqualTo}}
	tests := []struct {
		name string
		cfg  specs.LinuxSeccomp
		env  []string
		want string
	}{{
		name: "errno rules on an allowing default",
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
				{Names: []string{"chmod", "fchmodat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)), Args: mode},
			},
		},
		want: "mkdirat=EPERM chmod777=EACCES chmod755=ok write=ok",
	}, {
		name: "allow list with ENOSYS default",
		cfg: specs.LinuxSeccomp{
			DefaultAction:   specs.ActErrno,
			DefaultErrnoRet: uintp(uint(unix.ENOSYS)),
			Syscalls:        []specs.LinuxSyscall{{Names: dockerProfileAllowed(t), Action: specs.ActAllow}},
		},
		want: "mkdirat=ENOSYS chmod777=ENOSYS chmod755=ENOSYS write=ok",
	}, {
		name: "only the loading thread without TSYNC",
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}},
		},
		env:  []string{childTSync + "=1"},
		want: "mkdirat=ok chmod777=ok chmod755=ok write=ok",
	}, {
		name: "every thread with TSYNC",
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Flags:         []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"},
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}},
		},
		env:  []string{childTSync + "=1"},
		want: "mkdirat=EPERM chmod777=ok chmod755=ok write=ok",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ws := mustRunChild(t, &tt.cfg, tt.env...)
			if ws.ExitStatus() != 0 {
				t.Fatalf("child: %v %s", ws, out)
			}
			if got := strings.Join(strings.Fields(out), " "); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// dockerProfileAllowed is the allow list of the Docker-like profile less mkdir,
// mkdirat, chmod and fchmodat.
func dockerProfileAllowed(t *testing.T) []string {
	var names []string
	for _, n := range loadDockerProfile(t).Syscalls[0].Names {
		switch n {
		case "mkdir", "mkdirat", "chmod", "fchmodat", "fchmodat2":
		default:
			names = append(names, n)
		}
	}
	return names
}

func TestLoadKillProcess(t *testing.T) {
	requireSeccomp(t)
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKillProcess}},
	}
	out, ws := mustRunChild(t, cfg)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, output %q; want killed by SIGSYS", ws, out)
	}
	if strings.Contains(out, "mkdirat=") {
		t.Fatalf("child went on after mkdirat: %q", out)
	}
}

// seccompNotif and seccompNotifResp are struct seccomp_notif and
// struct seccomp_notif_resp.
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

func TestLoadNotify(t *testing.T) {
	requireSeccomp(t)
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     path,
		ListenerMetadata: "agent-test",
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
	}
	type result struct {
		out string
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan result, 1)
	dir := t.TempDir()
	go func() {
		out, ws, err := runChild(cfg, dir)
		done <- result{out, ws, err}
	}()

	st, f := receiveListener(t, l)
	defer f.Close()
	if st.Metadata != "agent-test" || st.Pid <= 0 || st.State.ID != "test" {
		t.Fatalf("state %+v", st)
	}
	// Answer the child's mkdirat with EXDEV.
	var req seccompNotif
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); errno != 0 {
		t.Fatalf("NOTIF_RECV: %v", errno)
	}
	if req.nr != unix.SYS_MKDIRAT || req.pid != uint32(st.Pid) || req.args[2] != 0o700 {
		t.Fatalf("notification %+v", req)
	}
	resp := seccompNotifResp{id: req.id, error: -int32(unix.EXDEV)}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); errno != 0 {
		t.Fatalf("NOTIF_SEND: %v", errno)
	}
	r := <-done
	if r.err != nil || r.ws.ExitStatus() != 0 {
		t.Fatalf("child: %v %v %s", r.err, r.ws, r.out)
	}
	if got := strings.Join(strings.Fields(r.out), " "); got != "mkdirat=EXDEV chmod777=ok chmod755=ok write=ok" {
		t.Fatalf("child: %q", got)
	}
}
