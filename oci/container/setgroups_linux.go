package container

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// setgroups sets the supplementary groups of the calling thread only.
func setgroups(gids []uint32) error {
	var p unsafe.Pointer
	if len(gids) > 0 {
		p = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(sysSetgroups, uintptr(len(gids)), uintptr(p), 0); e != 0 {
		return e
	}
	return nil
}
