package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Why not wait4's ru_maxrss: os/exec starts a child with
// clone(CLONE_VM|CLONE_VFORK), so until it calls execve the child runs on
// this benchmark's memory, and execve records the high-water RSS of that
// memory in the child's rusage. ru_maxrss of a runtime is then at least the
// benchmark's own RSS (about 10 MiB, and growing with its samples), more
// than crun needs. So peakRSS reads the runtime process's own high-water
// mark (VmHWM of the memory it got at execve) at its exit instead, stopping
// it there with ptrace.

// peakRSS runs the runtime with args under ptrace and returns the VmHWM in
// KiB of its process at exit: the peak RSS of the runtime itself, without
// the container processes it starts. The call is not timed: every signal
// the runtime receives stops it once.
func (r *runtime) peakRSS(args ...string) (int64, error) {
	// The tracer is the thread that started the tracee.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	argv := append([]string{"--root", r.root}, args...)
	if err := rewind(r.errlog); err != nil {
		return 0, err
	}
	cmd := exec.Command(r.path, argv...)
	cmd.Stderr = r.errlog
	cmd.SysProcAttr = &unix.SysProcAttr{Ptrace: true}
	fail := func(err error) (int64, error) {
		b, _ := os.ReadFile(r.errlog.Name())
		return 0, &callError{cmd: r.path + " " + strings.Join(argv, " ") + " (under ptrace)", err: err, stderr: string(b)}
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	defer cmd.Process.Release()
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	// The tracee stops with SIGTRAP after its execve.
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return fail(fmt.Errorf("wait4: %w", err))
	}
	if !ws.Stopped() {
		return fail(fmt.Errorf("not stopped after execve: %v", ws))
	}
	if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACEEXIT|unix.PTRACE_O_EXITKILL); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		unix.Wait4(pid, &ws, 0, nil)
		return fail(fmt.Errorf("ptrace set options: %w", err))
	}
	var hwm int64
	var hwmErr error
	sig := 0
	for {
		if err := unix.PtraceCont(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fail(fmt.Errorf("ptrace cont: %w", err))
		}
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			return fail(fmt.Errorf("wait4: %w", err))
		}
		if ws.Exited() || ws.Signaled() {
			break
		}
		sig = 0
		switch {
		case !ws.Stopped():
		case ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXIT:
			hwm, hwmErr = vmHWM(pid)
		case ws.StopSignal() != unix.SIGTRAP:
			// A signal for the runtime (SIGCHLD, Go's SIGURG, …):
			// deliver it. A bare SIGTRAP follows a later execve.
			sig = int(ws.StopSignal())
		}
	}
	switch {
	case ws.Signaled():
		return fail(fmt.Errorf("killed by %v", ws.Signal()))
	case ws.ExitStatus() != 0:
		return fail(fmt.Errorf("exit status %d", ws.ExitStatus()))
	case hwmErr != nil:
		return fail(hwmErr)
	}
	return hwm, nil
}

// vmHWM reads the peak resident set size of a process, in KiB.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(b)
}

// parseVmHWM finds "VmHWM:   1234 kB" in /proc/PID/status text.
func parseVmHWM(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", v, err)
		}
		return n, nil
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}
