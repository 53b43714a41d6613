package container

import (
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlag is one mount(8) option: set or clear a flag.
type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = table[string, mountFlag]{
	{"async", mountFlag{true, unix.MS_SYNCHRONOUS}},
	{"atime", mountFlag{true, unix.MS_NOATIME}},
	{"bind", mountFlag{false, unix.MS_BIND}},
	{"defaults", mountFlag{false, 0}},
	{"dev", mountFlag{true, unix.MS_NODEV}},
	{"diratime", mountFlag{true, unix.MS_NODIRATIME}},
	{"dirsync", mountFlag{false, unix.MS_DIRSYNC}},
	{"exec", mountFlag{true, unix.MS_NOEXEC}},
	{"iversion", mountFlag{false, unix.MS_I_VERSION}},
	{"lazytime", mountFlag{false, unix.MS_LAZYTIME}},
	{"loud", mountFlag{true, unix.MS_SILENT}},
	{"mand", mountFlag{false, unix.MS_MANDLOCK}},
	{"noatime", mountFlag{false, unix.MS_NOATIME}},
	{"nodev", mountFlag{false, unix.MS_NODEV}},
	{"nodiratime", mountFlag{false, unix.MS_NODIRATIME}},
	{"noexec", mountFlag{false, unix.MS_NOEXEC}},
	{"noiversion", mountFlag{true, unix.MS_I_VERSION}},
	{"nolazytime", mountFlag{true, unix.MS_LAZYTIME}},
	{"nomand", mountFlag{true, unix.MS_MANDLOCK}},
	{"norelatime", mountFlag{true, unix.MS_RELATIME}},
	{"nostrictatime", mountFlag{true, unix.MS_STRICTATIME}},
	{"nosuid", mountFlag{false, unix.MS_NOSUID}},
	{"rbind", mountFlag{false, unix.MS_BIND | unix.MS_REC}},
	{"relatime", mountFlag{false, unix.MS_RELATIME}},
	{"remount", mountFlag{false, unix.MS_REMOUNT}},
	{"ro", mountFlag{false, unix.MS_RDONLY}},
	{"rw", mountFlag{true, unix.MS_RDONLY}},
	{"silent", mountFlag{false, unix.MS_SILENT}},
	{"strictatime", mountFlag{false, unix.MS_STRICTATIME}},
	{"suid", mountFlag{true, unix.MS_NOSUID}},
	{"sync", mountFlag{false, unix.MS_SYNCHRONOUS}},
}

var propagationFlags = table[string, uintptr]{
	{"private", unix.MS_PRIVATE},
	{"rprivate", unix.MS_PRIVATE | unix.MS_REC},
	{"shared", unix.MS_SHARED},
	{"rshared", unix.MS_SHARED | unix.MS_REC},
	{"slave", unix.MS_SLAVE},
	{"rslave", unix.MS_SLAVE | unix.MS_REC},
	{"unbindable", unix.MS_UNBINDABLE},
	{"runbindable", unix.MS_UNBINDABLE | unix.MS_REC},
}

// parseMountOptions splits OCI mount options into mount flags,
// propagation flags and the filesystem's data string.
func parseMountOptions(opts []string) (flags uintptr, propagation []uintptr, data string) {
	var d []string
	for _, o := range opts {
		if f, ok := mountFlags.get(o); ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags.get(o); ok {
			propagation = append(propagation, p)
			continue
		}
		d = append(d, o)
	}
	return flags, propagation, strings.Join(d, ",")
}
