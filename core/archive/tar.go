package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
)

// ErrNotDir is returned when an archive is to be extracted into a path
// that is not a directory.
var ErrNotDir = errors.New("extraction point is not a directory")

// fileMode converts a stat mode to Go's.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// lstatLast opens p's directory and stats its last component without
// following it; the directory fd is returned for the caller to close.
func (r *Root) lstatLast(p string) (dirfd int, last string, st unix.Stat_t, err error) {
	dir, last := splitLast(p)
	dirfd, err = r.open(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, "", st, err
	}
	if err := unix.Fstatat(dirfd, last, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(dirfd)
		return -1, "", st, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	return dirfd, last, st, nil
}

// Stat describes p without following a final symlink.
func (r *Root) Stat(p string) (api.PathStat, error) {
	dirfd, last, st, err := r.lstatLast(p)
	if err != nil {
		return api.PathStat{}, err
	}
	defer unix.Close(dirfd)
	name := last
	if name == "." {
		name = path.Base(path.Clean("/" + p))
	}
	ps := api.PathStat{Name: name, Size: st.Size, Mode: fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Unix()).UTC()}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		ps.LinkTarget, _ = readlinkat(dirfd, last)
	}
	return ps, nil
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Tar writes p as a tar stream whose top entry is named after p's last
// component ("." for a path ending in "/." or "/"); a final symlink is
// archived as a link, directories with everything below them.
func (r *Root) Tar(p string, w io.Writer) error { return r.TarAs(p, "", w) }

// TarAs is Tar with the top entry named top (when not empty).
func (r *Root) TarAs(p, top string, w io.Writer) error {
	dir, last := splitLast(p)
	if top == "" {
		top = last
	}
	dirfd, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	tw := tar.NewWriter(w)
	if err := addEntry(tw, dirfd, last, top); err != nil {
		return err
	}
	return tw.Close()
}

func addEntry(tw *tar.Writer, dirfd int, name, tarName string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lstat", Path: tarName, Err: err}
	}
	hdr := &tar.Header{Name: tarName, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(int64(st.Mtim.Sec), 0)}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: tarName, Err: err}
		}
		f := os.NewFile(uintptr(fd), tarName)
		defer f.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, io.LimitReader(f, st.Size))
		if err != nil {
			return fmt.Errorf("read %s: %w", tarName, err)
		}
		// A file that shrank meanwhile is padded, as GNU tar does.
		if n < st.Size {
			_, err = io.CopyN(tw, zeros{}, st.Size-n)
		}
		return err
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := readlinkat(dirfd, name)
		if err != nil {
			return &os.PathError{Op: "readlink", Path: tarName, Err: err}
		}
		hdr.Linkname = target
		return tw.WriteHeader(hdr)
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
		return tw.WriteHeader(hdr)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return tw.WriteHeader(hdr)
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name = strings.TrimSuffix(tarName, "/") + "/"
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: tarName, Err: err}
		}
		d := os.NewFile(uintptr(fd), tarName)
		defer d.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		names, err := d.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("read directory %s: %w", tarName, err)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := addEntry(tw, fd, n, strings.TrimSuffix(tarName, "/")+"/"+n); err != nil {
				return err
			}
		}
		return nil
	}
	return nil // sockets have no place in an archive
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// UntarOptions of Untar: Owner, when set, owns every extracted file
// (docker cp without -a gives them to the container's root); else the
// archive's uid and gid are kept. NoOverwriteDirNonDir refuses to
// replace a directory by a non-directory or the reverse.
type UntarOptions struct {
	Owner                *[2]int
	NoOverwriteDirNonDir bool
	// Rebase, when its first element is set, renames the archive's top
	// entry (and what is below it) from Rebase[0] to Rebase[1].
	Rebase [2]string
	// RootAttrs gives the destination directory the owner and mode of
	// the archive's "./" entry; otherwise it is left as it is.
	RootAttrs bool
}

// rebase renames name's first component from old to new.
func rebase(name string, rb [2]string) string {
	if rb[0] == "" {
		return name
	}
	n := strings.TrimPrefix(path.Clean("/"+name), "/")
	old := strings.TrimPrefix(path.Clean("/"+rb[0]), "/")
	switch {
	case old == "" || n == old:
		return path.Join(rb[1], strings.TrimPrefix(n, old))
	case strings.HasPrefix(n, old+"/"):
		return path.Join(rb[1], n[len(old)+1:])
	}
	return name
}

// Untar extracts the tar stream rd into the directory dir of the root.
// Entry names may not climb out of dir; symlinks, in the root or made by
// the archive, are followed only inside the root.
func (r *Root) Untar(dir string, rd io.Reader, o UntarOptions) error {
	dfd, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOTDIR) {
		return ErrNotDir
	}
	if err != nil {
		return err
	}
	unix.Close(dfd)
	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := r.extract(dir, hdr, tr, o); err != nil {
			return err
		}
	}
}

func cleanEntry(name string) (string, error) {
	c := path.Clean("/" + name)
	if strings.Contains("/"+name+"/", "/../") {
		return "", fmt.Errorf("archive entry %q climbs out of the destination", name)
	}
	return strings.TrimPrefix(c, "/"), nil
}

func (r *Root) extract(dir string, hdr *tar.Header, body io.Reader, o UntarOptions) error {
	if strings.Contains("/"+hdr.Name+"/", "/../") {
		return fmt.Errorf("archive entry %q climbs out of the destination", hdr.Name)
	}
	name, err := cleanEntry(rebase(hdr.Name, o.Rebase))
	if err != nil {
		return err
	}
	if name == "" {
		// The destination itself: with RootAttrs a directory takes the
		// entry's owner and mode, as tar does with "./".
		if !o.RootAttrs {
			return nil
		}
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("archive entry %q would replace the destination %s", hdr.Name, dir)
		}
		fd, err := r.open(dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		uid, gid := hdr.Uid, hdr.Gid
		if o.Owner != nil {
			uid, gid = o.Owner[0], o.Owner[1]
		}
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return &os.PathError{Op: "chown", Path: dir, Err: err}
		}
		if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
			return &os.PathError{Op: "chmod", Path: dir, Err: err}
		}
		return nil
	}
	parent, base := path.Split(name)
	pfd, err := r.open(path.Join(dir, parent), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	var old unix.Stat_t
	exists := unix.Fstatat(pfd, base, &old, unix.AT_SYMLINK_NOFOLLOW) == nil
	oldDir := exists && old.Mode&unix.S_IFMT == unix.S_IFDIR
	isDir := hdr.Typeflag == tar.TypeDir
	if exists && oldDir != isDir {
		if o.NoOverwriteDirNonDir || oldDir {
			return fmt.Errorf("cannot overwrite %s %q with %s", kind(oldDir), name, kind(isDir))
		}
	}
	if exists && !oldDir {
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return &os.PathError{Op: "unlink", Path: name, Err: err}
		}
	}
	mode := uint32(hdr.Mode & 0o7777)
	uid, gid := hdr.Uid, hdr.Gid
	if o.Owner != nil {
		uid, gid = o.Owner[0], o.Owner[1]
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !oldDir {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return &os.PathError{Op: "mkdir", Path: name, Err: err}
			}
		}
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: name, Err: err}
		}
		err = unix.Fchown(fd, uid, gid)
		if err == nil {
			err = unix.Fchmod(fd, mode) // after chown, which drops set-id bits
		}
		unix.Close(fd)
		if err != nil {
			return &os.PathError{Op: "chown and chmod", Path: name, Err: err}
		}
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "create", Path: name, Err: err}
		}
		f := os.NewFile(uintptr(fd), name)
		_, err = io.Copy(f, body)
		if err == nil {
			err = unix.Fchown(fd, uid, gid)
		}
		if err == nil {
			err = unix.Fchmod(fd, mode)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return &os.PathError{Op: "symlink", Path: name, Err: err}
		}
	case tar.TypeLink:
		if strings.Contains("/"+hdr.Linkname+"/", "/../") {
			return fmt.Errorf("archive entry %q links out of the destination", hdr.Name)
		}
		target, err := cleanEntry(rebase(hdr.Linkname, o.Rebase))
		if err != nil {
			return err
		}
		tdir, tbase := path.Split(target)
		tfd, err := r.open(path.Join(dir, tdir), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		unix.Close(tfd)
		if err != nil {
			return &os.PathError{Op: "link", Path: name, Err: err}
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		m := mode
		switch hdr.Typeflag {
		case tar.TypeChar:
			m |= unix.S_IFCHR
		case tar.TypeBlock:
			m |= unix.S_IFBLK
		default:
			m |= unix.S_IFIFO
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, m, int(dev)); err != nil {
			return &os.PathError{Op: "mknod", Path: name, Err: err}
		}
	default:
		return nil // pax headers and the like carry no file
	}
	if hdr.Typeflag != tar.TypeDir && hdr.Typeflag != tar.TypeReg {
		if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "chown", Path: name, Err: err}
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: name, Err: err}
	}
	return nil
}

func kind(dir bool) string {
	if dir {
		return "directory"
	}
	return "non-directory"
}
