package archive

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/securepath"
)

// Root is an open root directory.
type Root struct {
	path string
	fd   int
}

// OpenRoot opens dir (for a running container, /proc/PID/root) as the
// root that paths are resolved in.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Root{path: dir, fd: fd}, nil
}

// Close releases the root.
func (r *Root) Close() error { return unix.Close(r.fd) }

// open resolves p (absolute, as seen in the root; every symlink followed
// inside the root) and opens it with flags.
func (r *Root) open(p string, flags int) (int, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(r.fd, rel, &how)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			break // no openat2 (or a seccomp filter refuses it)
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return fd, nil
	}
	host, err := securepath.Join(r.path, p)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Open(host, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

// splitLast splits p into its directory and last component; a path
// ending in "/" or "/." names the directory itself (last is ".").
func splitLast(p string) (dir, last string) {
	if p == "" || strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || p == "." {
		return filepath.Clean("/" + p), "."
	}
	c := filepath.Clean("/" + p)
	if c == "/" {
		return "/", "."
	}
	return filepath.Dir(c), filepath.Base(c)
}
