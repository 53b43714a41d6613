package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Load compiles cfg and installs the filter on the calling thread with the
// flags cfg lists (with SECCOMP_FILTER_FLAG_TSYNC, on all threads of the
// process). The caller has locked the thread (runtime.LockOSThread) and set
// no_new_privs or holds CAP_SYS_ADMIN. When a rule uses SCMP_ACT_NOTIFY it
// returns the listener file descriptor (close-on-exec) for the seccomp
// agent, else -1. A nil cfg loads nothing.
func Load(cfg *specs.LinuxSeccomp) (listenerFd int, err error) {
	if cfg == nil {
		return -1, nil
	}
	prog, err := Compile(cfg)
	if err != nil {
		return -1, err
	}
	flags, err := loadFlags(cfg)
	if err != nil {
		return -1, err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return -1, fmt.Errorf("seccomp: load filter of %d instructions (flags %#x): %w", len(prog), flags, errno)
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
		return int(r), nil
	}
	if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 && r != 0 {
		// TSYNC without a listener reports the thread that could not
		// be synchronised instead of failing.
		return -1, fmt.Errorf("seccomp: thread %d could not be synchronised", r)
	}
	return -1, nil
}

// Prepare compiles cfg for a process that loads the filter itself
// (seccomp(2) with SECCOMP_SET_MODE_FILTER): the program and the flags.
// SCMP_ACT_NOTIFY rules are refused: their listener would have nowhere to
// go.
func Prepare(cfg *specs.LinuxSeccomp) ([]unix.SockFilter, uintptr, error) {
	if usesNotify(cfg) {
		return nil, 0, errors.New("SCMP_ACT_NOTIFY is not supported here")
	}
	prog, err := Compile(cfg)
	if err != nil {
		return nil, 0, err
	}
	flags, err := loadFlags(cfg)
	if err != nil {
		return nil, 0, err
	}
	return prog, flags, nil
}

// loadFlags returns the seccomp(2) flags for cfg: its own, plus
// NEW_LISTENER when a rule notifies.
func loadFlags(cfg *specs.LinuxSeccomp) (uintptr, error) {
	flags, err := flagBits(cfg.Flags)
	if err != nil {
		return 0, err
	}
	if usesNotify(cfg) {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
			// TSYNC and NEW_LISTENER both want the return value;
			// TSYNC_ESRCH turns a sync failure into ESRCH.
			flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		}
	} else {
		// Without a listener there is no receive to wait in.
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return uintptr(flags), nil
}
