package snapshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyTree copies the tree src into the existing directory dst keeping
// modes, ownership (when root), xattrs, times, hard links, symlinks,
// device nodes and FIFOs. src is a snapshot Petrel made, so nothing in it
// is followed: symlinks are copied as links.
func copyTree(src, dst string) error {
	inodes := map[uint64]string{} // inode of a multiply linked file -> its copy
	root := os.Geteuid() == 0
	var walk func(s, d string) error
	walk = func(s, d string) error {
		ents, err := os.ReadDir(s)
		if err != nil {
			return err
		}
		for _, e := range ents {
			sp, dp := filepath.Join(s, e.Name()), filepath.Join(d, e.Name())
			var st unix.Stat_t
			if err := unix.Lstat(sp, &st); err != nil {
				return err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					if err := os.Link(first, dp); err != nil {
						return err
					}
					continue
				}
				inodes[st.Ino] = dp
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				if err := unix.Mkdir(dp, 0o700); err != nil {
					return fmt.Errorf("copy %s: %w", sp, err)
				}
				if err := walk(sp, dp); err != nil {
					return err
				}
			case unix.S_IFREG:
				if err := copyFile(sp, dp); err != nil {
					return err
				}
			case unix.S_IFLNK:
				target, err := os.Readlink(sp)
				if err != nil {
					return err
				}
				if err := os.Symlink(target, dp); err != nil {
					return err
				}
			default:
				if err := unix.Mknod(dp, st.Mode, int(st.Rdev)); err != nil {
					if !root && errors.Is(err, unix.EPERM) {
						continue
					}
					return fmt.Errorf("copy %s: %w", sp, err)
				}
			}
			if err := copyMeta(sp, dp, &st, root); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(src, dst); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return err
	}
	return copyMeta(src, dst, &st, root)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// Share extents where the filesystem can (btrfs, xfs), else copy.
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) != nil {
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	return out.Close()
}

func copyMeta(src, dst string, st *unix.Stat_t, root bool) error {
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if root {
		if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("copy %s: chown: %w", src, err)
		}
	}
	if !isLink {
		if err := unix.Chmod(dst, st.Mode&07777); err != nil {
			return fmt.Errorf("copy %s: chmod: %w", src, err)
		}
	}
	if err := copyXattrs(src, dst); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copy %s: times: %w", src, err)
	}
	return nil
}

func copyXattrs(src, dst string) error {
	sz, err := unix.Llistxattr(src, nil)
	if err != nil || sz == 0 {
		return nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(src, buf)
	if err != nil {
		return nil
	}
	for _, name := range splitNull(buf[:sz]) {
		vsz, err := unix.Lgetxattr(src, name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsz)
		if vsz, err = unix.Lgetxattr(src, name, val); err != nil {
			continue
		}
		if err := unix.Lsetxattr(dst, name, val[:vsz], 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("copy %s: xattr %s: %w", src, name, err)
		}
	}
	return nil
}

func splitNull(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}
