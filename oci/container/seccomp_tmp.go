package container

import (
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/seccomp"
)

func loadSeccomp(cfg *specs.LinuxSeccomp) (int, error) {
	prog, err := seccomp.Compile(cfg)
	if err != nil {
		return -1, err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, 1, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return -1, e
	}
	return -1, nil
}
