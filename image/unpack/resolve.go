package unpack

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/lazy"
)

const maxSymlinks = 255

var openat2Probe lazy.Value[bool]

// haveOpenat2 reports whether the kernel supports openat2 (Linux 5.6).
func haveOpenat2() bool {
	return openat2Probe.Get(func() bool {
		fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
		if err != nil {
			return false
		}
		unix.Close(fd)
		return true
	})
}

// A resolver opens paths inside a root directory fd, following symlinks
// as if the root were "/".
type resolver struct {
	rootfd   int
	fallback bool // never use openat2 (tests, old kernels)
}

// openDir returns an O_PATH fd of directory rel (slash-separated, already
// cleaned, "" for the root) inside the root. With create, missing
// directories are made with mode 0755, also where a dangling symlink
// points (inside the root), as mkdir -p would.
func (r *resolver) openDir(rel string, create bool) (int, error) {
	return r.openDirDepth(rel, create, 0)
}

func (r *resolver) openDirDepth(rel string, create bool, depth int) (int, error) {
	fd, err := r.open(rel)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	if depth > maxSymlinks {
		return -1, fmt.Errorf("open %s in root: %w", rel, unix.ELOOP)
	}
	// Create the missing components one by one, each resolved in root.
	comps := strings.Split(rel, "/")
	parent, err := r.open("")
	if err != nil {
		return -1, err
	}
	for i := range comps {
		prefix := strings.Join(comps[:i+1], "/")
		fd, err := r.open(prefix)
		if errors.Is(err, unix.ENOENT) {
			err = r.mkdirIn(parent, comps[:i], comps[i], depth)
			if err == nil {
				fd, err = r.open(prefix)
			}
		}
		unix.Close(parent)
		if err != nil {
			return -1, err
		}
		parent = fd
	}
	return parent, nil
}

// mkdirIn makes directory name in parent (which is dir, inside the root);
// if name is a dangling symlink, it makes the directory it points to.
func (r *resolver) mkdirIn(parent int, dir []string, name string, depth int) error {
	err := unix.Mkdirat(parent, name, 0o755)
	if err == nil || !errors.Is(err, unix.EEXIST) {
		if err != nil {
			return fmt.Errorf("mkdir %s: %w", path.Join(append(dir, name)...), err)
		}
		return nil
	}
	buf := make([]byte, unix.PathMax)
	n, lerr := unix.Readlinkat(parent, name, buf)
	if lerr != nil {
		return nil // a directory made meanwhile; the caller reopens it
	}
	// Keep ".." components: the kernel resolves them after the
	// symlinks before them, so they must not be cleaned away lexically.
	target := string(buf[:n])
	var comps []string
	if !strings.HasPrefix(target, "/") {
		comps = append(comps, dir...)
	}
	for _, c := range strings.Split(target, "/") {
		if c != "" && c != "." {
			comps = append(comps, c)
		}
	}
	fd, err := r.openDirDepth(strings.Join(comps, "/"), true, depth+1)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// open resolves rel inside the root and returns an O_PATH|O_DIRECTORY fd.
func (r *resolver) open(rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	if !r.fallback && haveOpenat2() {
		for {
			fd, err := unix.Openat2(r.rootfd, rel, &unix.OpenHow{
				Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
				Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
			})
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return -1, fmt.Errorf("open %s in root: %w", rel, err)
			}
			return fd, nil
		}
	}
	return r.walk(rel)
}

// walk resolves rel one component at a time with O_NOFOLLOW opens,
// expanding symlinks by hand: absolute targets restart at the root and
// ".." never climbs above it.
func (r *resolver) walk(rel string) (int, error) {
	stack := []int{} // fds of the directories below the root, deepest last
	cur := func() int {
		if len(stack) == 0 {
			return r.rootfd
		}
		return stack[len(stack)-1]
	}
	closeAll := func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
		stack = stack[:0]
	}
	todo := splitPath(rel)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if n := len(stack); n > 0 {
				unix.Close(stack[n-1])
				stack = stack[:n-1]
			}
			continue
		}
		fd, err := unix.Openat(cur(), c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return -1, fmt.Errorf("open %s in root: %w", rel, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			closeAll()
			return -1, fmt.Errorf("open %s in root: %w", rel, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			stack = append(stack, fd)
		case unix.S_IFLNK:
			links++
			if links > maxSymlinks {
				unix.Close(fd)
				closeAll()
				return -1, fmt.Errorf("open %s in root: %w", rel, unix.ELOOP)
			}
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(fd, "", buf)
			unix.Close(fd)
			if err != nil {
				closeAll()
				return -1, fmt.Errorf("open %s in root: readlink: %w", rel, err)
			}
			target := string(buf[:n])
			if strings.HasPrefix(target, "/") {
				closeAll()
			}
			todo = append(splitPath(target), todo...)
		default:
			unix.Close(fd)
			closeAll()
			return -1, fmt.Errorf("open %s in root: %w", rel, unix.ENOTDIR)
		}
	}
	if len(stack) == 0 {
		return unix.Openat(r.rootfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	fd := stack[len(stack)-1]
	for _, f := range stack[:len(stack)-1] {
		unix.Close(f)
	}
	return fd, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// removeAllAt removes name in dirfd and, for a directory, everything in
// it, without following symlinks.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := removeChildren(fd, nil); err != nil {
		unix.Close(fd)
		return fmt.Errorf("remove %s: %w", name, err)
	}
	unix.Close(fd)
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// removeChildren empties the directory open as fd, except the names for
// which keep returns true.
func removeChildren(fd int, keep func(string) bool) error {
	names, err := readDirNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		if keep != nil && keep(n) {
			continue
		}
		if err := removeAllAt(fd, n); err != nil {
			return err
		}
	}
	return nil
}

func readDirNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dup)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dup, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
