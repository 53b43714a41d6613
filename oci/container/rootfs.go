package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/mountinfo"
	"github.com/petrel-edge/petrel/core/securepath"
)

func mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &os.PathError{Op: fmt.Sprintf("mount %s (type %q, flags %#x, data %q) on", source, fstype, flags, data), Path: target, Err: err}
	}
	return nil
}

// prepareRootfs makes the container's mounts and device nodes under the
// rootfs, still seen from the host's root.
func prepareRootfs(cfg *initConfig) error {
	s := cfg.Spec
	rootfs, err := filepath.EvalSymlinks(cfg.Rootfs)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	cfg.Rootfs = rootfs
	// The mount table as it is before the container's mounts: what
	// holds the rootfs, and the host's cgroup hierarchies. Read once:
	// with many mounts on the host it is long.
	if cfg.hostMounts, err = mountinfo.Read(); err != nil {
		return err
	}
	// Without a mount namespace of its own the container's mounts are made
	// in the runtime's, under the rootfs only (Delete removes them): the
	// propagation of the host's mounts is left alone.
	if !cfg.NoMountNS {
		flag := uintptr(unix.MS_SLAVE | unix.MS_REC)
		if p := s.Linux.RootfsPropagation; p != "" {
			flag = propagationFlags.val(p)
		}
		if err := mount("", "/", "", flag, ""); err != nil {
			return err
		}
		if err := parentMountPrivate(cfg.hostMounts, rootfs); err != nil {
			return err
		}
	}
	if err := mount(rootfs, rootfs, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	devBound := false
	for _, m := range s.Mounts {
		if err := mountEntry(cfg, m); err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		if filepath.Clean(m.Destination) == "/dev" && (m.Type == "bind" || hasBind(m.Options)) {
			devBound = true
		}
	}
	if !devBound {
		if err := createDevices(cfg); err != nil {
			return err
		}
	}
	return nil
}

func hasBind(opts []string) bool {
	for _, o := range opts {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// parentMountPrivate makes the mount holding rootfs private, as
// pivot_root refuses a shared parent.
func parentMountPrivate(ms []mountinfo.Mount, rootfs string) error {
	m, ok := mountinfo.Holding(ms, rootfs)
	if !ok {
		return fmt.Errorf("no mount holds %s", rootfs)
	}
	return mount("", m.Point, "", unix.MS_PRIVATE, "")
}

func mountEntry(cfg *initConfig, m specs.Mount) error {
	dest, err := securepath.Join(cfg.Rootfs, m.Destination)
	if err != nil {
		return err
	}
	flags, prop, data := parseMountOptions(m.Options)
	switch {
	case m.Type == "bind" || flags&unix.MS_BIND != 0:
		if err := bindMount(cfg, m, dest, flags|unix.MS_BIND, data); err != nil {
			return err
		}
	case m.Type == "cgroup":
		if err := mountCgroup(cfg, dest, flags); err != nil {
			return err
		}
	default:
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		var err error
		if m.Type == "proc" && cfg.mountInChild != nil {
			err = cfg.mountInChild(m.Source, dest, m.Type, flags, data)
		} else {
			err = mount(m.Source, dest, m.Type, flags, data)
		}
		if err != nil && m.Type == "sysfs" && errors.Is(err, unix.EPERM) {
			// In a user namespace without its own network namespace
			// sysfs cannot be mounted: bind the host's, as runc does.
			err = mount("/sys", dest, "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil && flags&unix.MS_RDONLY != 0 {
				err = remount(dest, flags|unix.MS_BIND)
			}
		}
		if err != nil {
			return err
		}
	}
	for _, p := range prop {
		if err := mount("", dest, "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

func bindMount(cfg *initConfig, m specs.Mount, dest string, flags uintptr, data string) error {
	src := m.Source
	if !filepath.IsAbs(src) {
		src = filepath.Join(cfg.Bundle, src)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	if fi.IsDir() {
		err = os.MkdirAll(dest, 0o755)
	} else {
		err = createFile(dest)
	}
	if err != nil {
		return err
	}
	if err := mount(src, dest, "", unix.MS_BIND|flags&unix.MS_REC, data); err != nil {
		return err
	}
	if flags&^(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) != 0 {
		return remount(dest, flags)
	}
	return nil
}

// remount applies flags to an existing (bind) mount, keeping the flags the
// kernel locks (nosuid, nodev, noexec, atime ones inherited from a more
// privileged mount namespace).
func remount(dest string, flags uintptr) error {
	flags |= unix.MS_REMOUNT | unix.MS_BIND
	err := mount("", dest, "", flags&^unix.MS_REC, "")
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	var st unix.Statfs_t
	if e := unix.Statfs(dest, &st); e != nil {
		return err
	}
	locked := uintptr(0)
	for _, f := range [][2]uintptr{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f[0] != 0 {
			locked |= f[1]
		}
	}
	return mount("", dest, "", (flags|locked)&^unix.MS_REC, "")
}

func createFile(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		if errors.Is(err, unix.EISDIR) {
			return nil
		}
		return err
	}
	return f.Close()
}

// cgroupMount is one host cgroup hierarchy.
type cgroupMount struct {
	mountpoint string
	fstype     string
	options    string // the controllers for v1, e.g. "cpu,cpuacct" or "name=systemd"
}

func hostCgroupMounts(ms []mountinfo.Mount) []cgroupMount {
	var out []cgroupMount
	for _, m := range ms {
		if m.FSType != "cgroup" && m.FSType != "cgroup2" {
			continue
		}
		cm := cgroupMount{mountpoint: m.Point, fstype: m.FSType}
		if m.FSType == "cgroup" {
			var ctrls []string
			for _, o := range m.SuperOpts {
				switch o {
				case "rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "xattr", "clone_children", "noprefix", "cpuset_v2_mode":
				default:
					if !strings.HasPrefix(o, "release_agent=") {
						ctrls = append(ctrls, o)
					}
				}
			}
			cm.options = strings.Join(ctrls, ",")
		}
		out = append(out, cm)
	}
	return out
}

// mountCgroup gives the container its cgroups at dest: cgroup2 on a unified
// host; otherwise a tmpfs with one directory per v1 hierarchy. With a
// cgroup namespace the hierarchies are mounted afresh (rooted at the
// container's cgroup), without one the container's cgroup directories are
// bound.
func mountCgroup(cfg *initConfig, dest string, flags uintptr) error {
	mounts := hostCgroupMounts(cfg.hostMounts)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	unified := len(mounts) > 0
	for _, m := range mounts {
		if m.fstype != "cgroup2" || m.mountpoint != "/sys/fs/cgroup" {
			unified = false
		}
		if m.fstype == "cgroup2" && m.mountpoint == "/sys/fs/cgroup" {
			unified = true
			break
		}
	}
	if unified {
		if cfg.NewCgroupNS {
			return mount("cgroup2", dest, "cgroup2", flags, "")
		}
		return bindCgroup(containerCgroupDir(cfg, "", "/sys/fs/cgroup"), dest, flags)
	}
	if err := mount("tmpfs", dest, "tmpfs", flags&^unix.MS_RDONLY, "mode=755"); err != nil {
		return err
	}
	for _, m := range mounts {
		if m.fstype != "cgroup" || !strings.HasPrefix(m.mountpoint, "/sys/fs/cgroup/") {
			continue
		}
		base := filepath.Base(m.mountpoint)
		sub := filepath.Join(dest, base)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if cfg.NewCgroupNS {
			if err := mount("cgroup", sub, "cgroup", flags, m.options); err != nil {
				return err
			}
		} else {
			ctrl := strings.TrimPrefix(strings.Split(m.options, ",")[0], "name=")
			if err := bindCgroup(containerCgroupDir(cfg, ctrl, m.mountpoint), sub, flags); err != nil {
				return err
			}
		}
		// Co-mounted controllers (cpu,cpuacct) get a link per controller.
		if strings.Contains(base, ",") {
			for _, c := range strings.Split(base, ",") {
				os.Symlink(base, filepath.Join(dest, c))
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return mount("tmpfs", dest, "tmpfs", unix.MS_REMOUNT|flags, "mode=755")
	}
	return nil
}

// containerCgroupDir is the container's cgroup directory of a controller,
// or the hierarchy's root when the manager did not record one.
func containerCgroupDir(cfg *initConfig, ctrl, mountpoint string) string {
	for k, p := range cfg.CgroupPaths {
		if (k == ctrl || (ctrl == "" && (k == "unified" || k == ""))) && strings.HasPrefix(p, mountpoint) {
			return p
		}
	}
	return mountpoint
}

func bindCgroup(src, dest string, flags uintptr) error {
	if err := mount(src, dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return remount(dest, flags)
}

// Default device nodes of every container, as runc makes them.
var defaultDeviceNodes = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

func createDevices(cfg *initConfig) error {
	userns := false
	for _, ns := range cfg.Spec.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			userns = true
		}
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	devs := append(append([]specs.LinuxDevice(nil), defaultDeviceNodes...), cfg.Spec.Linux.Devices...)
	for _, d := range devs {
		if err := createDevice(cfg.Rootfs, d, userns); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		p := filepath.Join(cfg.Rootfs, l[1])
		if err := os.Symlink(l[0], p); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
	}
	// /dev/ptmx points into the container's own devpts instance.
	if _, err := os.Stat(filepath.Join(cfg.Rootfs, "dev/pts/ptmx")); err == nil {
		p := filepath.Join(cfg.Rootfs, "dev/ptmx")
		os.Remove(p)
		if err := os.Symlink("pts/ptmx", p); err != nil {
			return fmt.Errorf("symlink /dev/ptmx: %w", err)
		}
	}
	return nil
}

func createDevice(rootfs string, d specs.LinuxDevice, userns bool) error {
	dest, err := securepath.Join(rootfs, d.Path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if userns {
		// mknod is not allowed in a user namespace: bind the host's node.
		if err := createFile(dest); err != nil {
			return err
		}
		return mount(d.Path, dest, "bind", unix.MS_BIND, "")
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(*d.FileMode) & 0o7777
	}
	switch d.Type {
	case "c", "u":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	}
	if err := os.Remove(dest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := unix.Mknod(dest, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Chown(dest, uid, gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// enterRootfs makes the rootfs the process's root: pivot_root, or a move
// mount and chroot with --no-pivot.
func enterRootfs(cfg *initConfig) error {
	if err := unix.Chdir(cfg.Rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if cfg.NoMountNS {
		// pivot_root or a move would change the host's root: chroot only.
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot: %w", err)
		}
	} else if cfg.NoPivot {
		if err := mount(cfg.Rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
			return err
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot: %w", err)
		}
	} else {
		oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open old root: %w", err)
		}
		defer unix.Close(oldroot)
		if err := unix.PivotRoot(".", "."); err != nil {
			return fmt.Errorf("pivot_root: %w", err)
		}
		// The old root is now stacked under the new one: detach it.
		if err := unix.Fchdir(oldroot); err != nil {
			return err
		}
		if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount old root: %w", err)
		}
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if p := cfg.Spec.Linux.RootfsPropagation; p != "" && !cfg.NoMountNS {
		return mount("", "/", "", propagationFlags.val(p), "")
	}
	return nil
}

// unmountUnder detaches every mount at or below dir, deepest first: what a
// container without a mount namespace of its own mounted in the runtime's.
func unmountUnder(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	ms, err := mountinfo.Read()
	if err != nil {
		return err
	}
	var first error
	for _, p := range mountinfo.Under(ms, real) {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && first == nil {
			first = fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return first
}

// maskPaths makes the read-only paths read-only and hides the masked ones,
// once the process sees its own root.
func maskPaths(l *specs.Linux) error {
	for _, p := range l.ReadonlyPaths {
		if err := mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("read-only path: %w", err)
		}
		if err := remount(p, unix.MS_RDONLY|unix.MS_BIND); err != nil {
			return fmt.Errorf("read-only path: %w", err)
		}
	}
	for _, p := range l.MaskedPaths {
		err := mount("/dev/null", p, "", unix.MS_BIND, "")
		if errors.Is(err, unix.ENOTDIR) {
			err = mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("masked path: %w", err)
		}
	}
	return nil
}
