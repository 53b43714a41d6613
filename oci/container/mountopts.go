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

var mountFlags = map[string]mountFlag{
	"async": {true, unix.MS_SYNCHRONOUS}, "atime": {true, unix.MS_NOATIME},
	"bind": {false, unix.MS_BIND}, "defaults": {false, 0}, "dev": {true, unix.MS_NODEV},
	"diratime": {true, unix.MS_NODIRATIME}, "dirsync": {false, unix.MS_DIRSYNC},
	"exec": {true, unix.MS_NOEXEC}, "iversion": {false, unix.MS_I_VERSION},
	"lazytime": {false, unix.MS_LAZYTIME}, "loud": {true, unix.MS_SILENT},
	"mand": {false, unix.MS_MANDLOCK}, "noatime": {false, unix.MS_NOATIME},
	"nodev": {false, unix.MS_NODEV}, "nodiratime": {false, unix.MS_NODIRATIME},
	"noexec": {false, unix.MS_NOEXEC}, "noiversion": {true, unix.MS_I_VERSION},
	"nolazytime": {true, unix.MS_LAZYTIME}, "nomand": {true, unix.MS_MANDLOCK},
	"norelatime": {true, unix.MS_RELATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid": {false, unix.MS_NOSUID}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"relatime": {false, unix.MS_RELATIME}, "remount": {false, unix.MS_REMOUNT},
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"silent": {false, unix.MS_SILENT}, "strictatime": {false, unix.MS_STRICTATIME},
	"suid": {true, unix.MS_NOSUID}, "sync": {false, unix.MS_SYNCHRONOUS},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseMountOptions splits OCI mount options into mount flags,
// propagation flags and the filesystem's data string.
func parseMountOptions(opts []string) (flags uintptr, propagation []uintptr, data string) {
	var d []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			propagation = append(propagation, p)
			continue
		}
		d = append(d, o)
	}
	return flags, propagation, strings.Join(d, ",")
}
