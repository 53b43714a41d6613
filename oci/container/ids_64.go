//go:build linux && !386 && !arm

package container

import "golang.org/x/sys/unix"

const (
	sysFstatat   = unix.SYS_NEWFSTATAT // with unix.Stat_t
	sysSetgroups = unix.SYS_SETGROUPS
	sysSetresuid = unix.SYS_SETRESUID
	sysSetresgid = unix.SYS_SETRESGID
)
