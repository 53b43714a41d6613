package seccomp

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// receiveListener accepts one connection on l as a seccomp agent does and
// returns the process state and the file it carried.
func receiveListener(t *testing.T, l *net.UnixListener) (specs.ContainerProcessState, *os.File) {
	t.Helper()
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v, %v", fds, err)
	}
	f := os.NewFile(uintptr(fds[0]), "listener")
	// The rest of the JSON, if the sender split it.
	for {
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil || m == 0 {
			break
		}
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		f.Close()
		t.Fatalf("state %q: %v", buf[:n], err)
	}
	return st, f
}

func TestSendListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()

	cfg := &specs.LinuxSeccomp{ListenerPath: path, ListenerMetadata: "profile=strict"}
	state := specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 42, Bundle: "/b"}
	done := make(chan error, 1)
	go func() { done <- SendListener(cfg, int(w.Fd()), 42, state) }()
	st, f := receiveListener(t, l)
	defer f.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st.Version != specs.Version || !slices.Equal(st.Fds, []string{"seccompFd"}) || st.Pid != 42 ||
		st.Metadata != "profile=strict" || st.State.ID != "c1" || st.State.Status != specs.StateCreating {
		t.Fatalf("state %+v", st)
	}
	// The fd received is the one sent.
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := r.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v", b, err)
	}

	if err := SendListener(&specs.LinuxSeccomp{}, 0, 1, state); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no listenerPath: %v", err)
	}
	missing := &specs.LinuxSeccomp{ListenerPath: filepath.Join(t.TempDir(), "none.sock")}
	if err := SendListener(missing, int(w.Fd()), 1, state); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("missing socket: %v", err)
	}
}

func TestLoadFlags(t *testing.T) {
	const (
		tsync = unix.SECCOMP_FILTER_FLAG_TSYNC
		log   = unix.SECCOMP_FILTER_FLAG_LOG
		spec  = unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		newL  = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		esrch = unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		wait  = unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	)
	notify := []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}
	tests := []struct {
		flags    []specs.LinuxSeccompFlag
		syscalls []specs.LinuxSyscall
		want     uintptr
	}{
		{nil, nil, 0},
		{[]specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}, nil, tsync | log | spec},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, nil, 0},
		{[]specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, notify, wait | newL},
		{[]specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}, notify, tsync | newL | esrch},
	}
	for _, tt := range tests {
		got, err := loadFlags(&specs.LinuxSeccomp{Flags: tt.flags, Syscalls: tt.syscalls})
		if err != nil || got != tt.want {
			t.Errorf("%v with notify %v: %#x, %v; want %#x", tt.flags, tt.syscalls != nil, got, err, tt.want)
		}
	}
	if _, err := loadFlags(&specs.LinuxSeccomp{Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NEW_LISTENER"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown flag: %v", err)
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	if f.Enabled == nil || !*f.Enabled {
		t.Fatal("not enabled")
	}
	for _, want := range []struct {
		list []string
		item string
	}{
		{f.Actions, "SCMP_ACT_NOTIFY"}, {f.Actions, "SCMP_ACT_KILL_PROCESS"},
		{f.Operators, "SCMP_CMP_MASKED_EQ"},
		{f.Archs, "SCMP_ARCH_X32"}, {f.Archs, "SCMP_ARCH_RISCV64"},
		{f.KnownFlags, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
	} {
		if !slices.Contains(want.list, want.item) {
			t.Errorf("%s missing from %v", want.item, want.list)
		}
	}
	for _, s := range f.SupportedFlags {
		if !slices.Contains(f.KnownFlags, s) {
			t.Errorf("supported flag %s not known", s)
		}
	}
	// Every kernel with seccomp filters since 3.17 has TSYNC; the probe
	// must see it unless seccomp(2) itself is unavailable.
	if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, 0); errno == unix.EFAULT &&
		!slices.Contains(f.SupportedFlags, "SECCOMP_FILTER_FLAG_TSYNC") {
		t.Errorf("TSYNC not among supported flags %v", f.SupportedFlags)
	}
}
