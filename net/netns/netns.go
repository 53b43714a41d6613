// Package netns creates network namespaces: bind-mounted on a file, as
// `ip netns add` does, so that they outlive their creator (New, Remove),
// or held by an open file only (Open). It keeps no state; New and Open
// lock one OS thread for the duration of the call and throw that thread
// away if they cannot return it to its namespace.
package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Open creates a network namespace with its loopback up, held only by the
// returned file: nothing outlives the file but what joins the namespace
// through it (/proc/<pid>/fd/<fd> names it to other processes).
func Open() (*os.File, error) {
	var f *os.File
	err := inNewNetns(func() error {
		var err error
		if f, err = os.Open("/proc/thread-self/ns/net"); err != nil {
			return fmt.Errorf("open new netns: %w", err)
		}
		return LoopbackUp()
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	return f, nil
}

// LoopbackUp brings lo up in the calling thread's network namespace, as
// runc and crun do in a namespace they create: a new namespace's loopback
// starts down, and 127.0.0.1 would be unreachable.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: get flags: %w", err)
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: set up: %w", err)
	}
	return nil
}

// New creates a network namespace and bind-mounts it on path (a file that
// must not exist yet; its directory is created). On error nothing is left
// behind.
func New(path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("netns dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("netns file: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	return inNewNetns(func() error {
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount netns on %s: %w", path, err)
		}
		return nil
	})
}

// inNewNetns runs do on a locked thread that has unshared a new network
// namespace, then returns the thread to its own namespace and unlocks
// it. A thread that cannot go back stays locked and dies with its
// goroutine.
func inNewNetns(do func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		doErr := do()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(doErr, fmt.Errorf("return to the original netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- doErr
	}()
	return <-errc
}

// Remove unmounts the namespace bound on path and removes the file. A path
// that does not exist, or is no longer a mount point, is not an error.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// IsNetns reports whether path is a mounted network namespace.
func IsNetns(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}
