//go:build linux && (386 || arm)

package container

import "golang.org/x/sys/unix"

// The 32-bit id variants: the plain calls take 16-bit ids on these.
const (
	sysFstatat   = unix.SYS_FSTATAT64 // with unix.Stat_t
	sysSetgroups = unix.SYS_SETGROUPS32
	sysSetresuid = unix.SYS_SETRESUID32
	sysSetresgid = unix.SYS_SETRESGID32
)
