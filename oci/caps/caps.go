// Package caps maps Linux capability names to numbers and applies the five
// capability sets of an OCI process to the calling thread. Capabilities are
// per-thread: callers lock the OS thread and exec from it.
package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/lazy"
)

// names lists the capabilities by number, as <linux/capability.h> does.
var names = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Names returns every capability name this package knows, by number.
func Names() []string { return names[:] }

// Parse returns the number of a capability name such as "CAP_NET_ADMIN".
func Parse(name string) (int, error) {
	for i, n := range names {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

var last lazy.Value[int]

// Last returns the highest capability number the running kernel knows.
func Last() int {
	return last.Get(func() int {
		b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
		if err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return n
			}
		}
		return len(names) - 1
	})
}

// Validate checks that every name in every set is known.
func Validate(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	for set, list := range map[string][]string{
		"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable,
		"permitted": c.Permitted, "ambient": c.Ambient,
	} {
		for _, n := range list {
			if _, err := Parse(n); err != nil {
				return fmt.Errorf("capabilities.%s: %w", set, err)
			}
		}
	}
	return nil
}

// A Set is a capability bit set, bit n for capability n.
type Set uint64

// Of is the set of the named capabilities this kernel knows; unknown
// names (Validate reports them) are left out.
func Of(list []string) Set { return toSet(list) }

func toSet(list []string) Set {
	var s Set
	for _, n := range list {
		if i, err := Parse(n); err == nil && i <= Last() {
			s |= 1 << uint(i)
		}
	}
	return s
}

// DropBounding removes from the calling thread's bounding set every
// capability not in c.Bounding. It needs CAP_SETPCAP.
func DropBounding(c *specs.LinuxCapabilities) error {
	keep := toSet(c.Bounding)
	for i := 0; i <= Last(); i++ {
		if keep&(1<<uint(i)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil {
			if err == unix.EINVAL { // capability unknown to this kernel
				continue
			}
			return fmt.Errorf("drop %s from bounding set: %w", names[i], err)
		}
	}
	return nil
}

// Apply sets the effective, permitted and inheritable sets of the calling
// thread and raises the ambient ones. Call it after the user change.
func Apply(c *specs.LinuxCapabilities) error {
	eff, perm, inh := toSet(c.Effective), toSet(c.Permitted), toSet(c.Inheritable)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	amb := toSet(c.Ambient)
	for i := 0; i <= Last(); i++ {
		if amb&(1<<uint(i)) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0); err != nil {
			// The kernel refuses ambient capabilities that are not both
			// permitted and inheritable; runc ignores those too.
			if err == unix.EPERM {
				continue
			}
			return fmt.Errorf("raise ambient %s: %w", names[i], err)
		}
	}
	return nil
}
