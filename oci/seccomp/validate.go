package seccomp

import (
	"errors"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maxErrno is the largest errno the kernel returns for SECCOMP_RET_ERRNO;
// larger values are clamped to it.
const maxErrno = 4095

// flagTSync is the flag runc accepts for SECCOMP_FILTER_FLAG_TSYNC; the
// runtime-spec names no constant for it.
const flagTSync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// knownFlags maps the filter flags a profile may carry to their values.
var knownFlags = [...]struct {
	name specs.LinuxSeccompFlag
	bit  uint
}{
	{flagTSync, unix.SECCOMP_FILTER_FLAG_TSYNC},
	{specs.LinuxSeccompFlagLog, unix.SECCOMP_FILTER_FLAG_LOG},
	{specs.LinuxSeccompFlagSpecAllow, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	{specs.LinuxSeccompFlagWaitKillableRecv, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
}

var knownActions = [...]specs.LinuxSeccompAction{
	specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno,
	specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
}

var knownOps = [...]specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// maxArgs is the number of system call arguments in seccomp_data.
const maxArgs = 6

// ErrInvalid is wrapped by every error about the content of a profile.
var ErrInvalid = errors.New("invalid seccomp profile")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// action returns the SECCOMP_RET_* value of act; errnoRet (nil: EPERM) is
// the data of SCMP_ACT_ERRNO and SCMP_ACT_TRACE, as in runc. The
// runtime-spec has the runtime fail when another action carries one.
func action(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if act != specs.ActErrno && act != specs.ActTrace {
			return 0, invalid("errnoRet with %s: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno", act)
		}
		if *errnoRet > maxErrno {
			return 0, invalid("errnoRet %d of %s is larger than %d", *errnoRet, act, maxErrno)
		}
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return unix.SECCOMP_RET_USER_NOTIF, nil
	case "":
		return 0, invalid("missing action")
	}
	return 0, invalid("unknown action %q", act)
}

func knownOp(op specs.LinuxSeccompOperator) bool {
	for _, k := range knownOps {
		if k == op {
			return true
		}
	}
	return false
}

// flagBits returns the seccomp(2) flags of names.
func flagBits(names []specs.LinuxSeccompFlag) (uint, error) {
	var bits uint
next:
	for _, n := range names {
		for _, k := range knownFlags {
			if k.name == n {
				bits |= k.bit
				continue next
			}
		}
		return 0, invalid("unknown flag %q", n)
	}
	return bits, nil
}

// usesNotify reports whether a rule of cfg has the SCMP_ACT_NOTIFY action.
func usesNotify(cfg *specs.LinuxSeccomp) bool {
	for i := range cfg.Syscalls {
		if cfg.Syscalls[i].Action == specs.ActNotify {
			return true
		}
	}
	return false
}

// Validate reports the first problem of cfg without compiling it: an unknown
// action, operator, architecture or flag, a bad argument index or errno, an
// empty system call name, or a SCMP_ACT_NOTIFY rule that cannot work (as
// default action, on write(2), or without listenerPath). A nil cfg is valid.
// Unknown system call names are not errors: they are left out of the filter.
func Validate(cfg *specs.LinuxSeccomp) error {
	if cfg == nil {
		return nil
	}
	if _, err := action(cfg.DefaultAction, cfg.DefaultErrnoRet); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	if cfg.DefaultAction == specs.ActNotify {
		return invalid("SCMP_ACT_NOTIFY cannot be the default action")
	}
	for _, a := range cfg.Architectures {
		if _, _, ok := lookupArch(a); !ok {
			return invalid("unknown architecture %q", a)
		}
	}
	if _, err := flagBits(cfg.Flags); err != nil {
		return err
	}
	for i := range cfg.Syscalls {
		sc := &cfg.Syscalls[i]
		if _, err := action(sc.Action, sc.ErrnoRet); err != nil {
			return fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		for _, name := range sc.Names {
			if name == "" {
				return fmt.Errorf("syscalls[%d]: %w", i, invalid("empty system call name"))
			}
			// The runtime reports the listener fd to its parent with
			// write(2); a notifying write would wait for an agent that
			// never got the fd.
			if sc.Action == specs.ActNotify && name == "write" {
				return fmt.Errorf("syscalls[%d]: %w", i, invalid("SCMP_ACT_NOTIFY cannot be used for write"))
			}
		}
		for j, arg := range sc.Args {
			if arg.Index >= maxArgs {
				return fmt.Errorf("syscalls[%d].args[%d]: %w", i, j, invalid("index %d out of range 0..%d", arg.Index, maxArgs-1))
			}
			if !knownOp(arg.Op) {
				return fmt.Errorf("syscalls[%d].args[%d]: %w", i, j, invalid("unknown operator %q", arg.Op))
			}
		}
	}
	if usesNotify(cfg) && cfg.ListenerPath == "" {
		return invalid("SCMP_ACT_NOTIFY needs listenerPath")
	}
	return nil
}
