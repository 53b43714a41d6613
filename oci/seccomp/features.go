package seccomp

import (
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
)

// Features describes this package's seccomp support for the runtime's
// `features` command: the actions, operators, architectures and flags it
// knows, and the flags the running kernel accepts (probed with seccomp(2)
// calls that install nothing).
func Features() *features.Seccomp {
	enabled := true
	f := &features.Seccomp{Enabled: &enabled}
	for _, a := range knownActions {
		f.Actions = append(f.Actions, string(a))
	}
	for _, op := range knownOps {
		f.Operators = append(f.Operators, string(op))
	}
	for _, a := range arches {
		f.Archs = append(f.Archs, string(a.name))
	}
	for _, k := range knownFlags {
		f.KnownFlags = append(f.KnownFlags, string(k.name))
		if flagSupported(k.bit) {
			f.SupportedFlags = append(f.SupportedFlags, string(k.name))
		}
	}
	return f
}

// flagSupported asks the kernel whether it knows filter flag bit: with no
// program, a known flag fails with EFAULT, an unknown one with EINVAL.
func flagSupported(bit uint) bool {
	if bit == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
		bit |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER // required with it
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(bit), 0)
	return errno == unix.EFAULT
}
