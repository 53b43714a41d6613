package unpack

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/image/digest"
)

// Whiteout modes.
type Whiteouts int

const (
	// ApplyWhiteouts deletes whited-out paths: the target is a flattened
	// rootfs holding the layers below.
	ApplyWhiteouts Whiteouts = iota
	// OverlayWhiteouts writes overlayfs whiteouts (0:0 character devices)
	// and opaque markers (trusted.overlay.opaque=y): the target holds
	// this layer's diff only and becomes an overlay lower directory.
	OverlayWhiteouts
)

// Tar whiteout markers (AUFS style, as in the OCI image spec).
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// Options tune Apply.
type Options struct {
	Whiteouts Whiteouts
	// Rootless skips what needs privileges: ownership, device nodes,
	// trusted.* xattrs. The zero value decides by the effective UID.
	Rootless *bool
	// noOpenat2 forces the portable path resolution (tests).
	noOpenat2 bool
}

// Result describes an applied layer.
type Result struct {
	// DiffID is the sha256 of the uncompressed tar stream.
	DiffID digest.Digest
	// Size is the sum of the sizes of the regular files written.
	Size int64
}

// ErrHostile is wrapped by errors about entries that try to leave the root.
var ErrHostile = errors.New("layer entry escapes the root")

// Apply decompresses layer (gzip, zstd or plain) and applies its tar to
// the directory root, which must exist. The error for a hostile entry
// wraps ErrHostile; a corrupt or truncated stream is an error too. On any
// error the directory is left half-applied: callers unpack into a fresh
// directory and discard it on failure.
func Apply(root string, layer io.Reader, opt Options) (Result, error) {
	zr, _, err := Decompress(layer)
	if err != nil {
		return Result{}, err
	}
	defer zr.Close()
	h := sha256.New()
	tee := io.TeeReader(zr, h)

	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(rootfd)
	rootless := os.Geteuid() != 0
	if opt.Rootless != nil {
		rootless = *opt.Rootless
	}
	a := &applier{
		res:      resolver{rootfd: rootfd, fallback: opt.noOpenat2},
		opt:      opt,
		rootless: rootless,
		written:  map[string]bool{},
		buf:      make([]byte, 128<<10),
	}
	tr := tar.NewReader(tee)
	var res Result
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("read layer: %w", streamErr(err))
		}
		n, err := a.entry(tr, hdr)
		if err != nil {
			return res, err
		}
		res.Size += n
	}
	if err := a.finish(); err != nil {
		return res, err
	}
	// Read the end-of-archive padding too: the diff ID covers it.
	if _, err := io.CopyBuffer(io.Discard, tee, a.buf); err != nil {
		return res, fmt.Errorf("read layer: %w", streamErr(err))
	}
	res.DiffID = digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
	return res, nil
}

func streamErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated layer stream: %w", err)
	}
	return err
}

type applier struct {
	res      resolver
	opt      Options
	rootless bool
	written  map[string]bool // paths this layer created, for opaque dirs
	dirs     []dirMeta       // directory times, set last
	buf      []byte
}

type dirMeta struct {
	rel string
	hdr *tar.Header
}

// clean turns an entry name into a path relative to the root, or refuses
// it if it climbs out.
func clean(name string) (string, error) {
	p := path.Clean("/" + name)
	for c := range strings.SplitSeq(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: %q has a \"..\" component", ErrHostile, name)
		}
	}
	return strings.TrimPrefix(p, "/"), nil
}

func (a *applier) entry(tr *tar.Reader, hdr *tar.Header) (int64, error) {
	rel, err := clean(hdr.Name)
	if err != nil {
		return 0, err
	}
	for k := range hdr.PAXRecords {
		// Holes expand without bound: a few bytes of archive could
		// fill the disk. Image tools never write sparse entries.
		if strings.HasPrefix(k, "GNU.sparse.") {
			return 0, fmt.Errorf("layer entry %s: sparse files are not supported", hdr.Name)
		}
	}
	if rel == "" {
		return 0, nil // the root itself
	}
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")

	if strings.HasPrefix(base, whiteoutPrefix) {
		return 0, a.whiteout(dir, base)
	}
	parent, err := a.res.openDir(dir, true)
	if err != nil {
		return 0, fmt.Errorf("layer entry %s: %w", hdr.Name, err)
	}
	defer unix.Close(parent)

	var st unix.Stat_t
	exists := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		if err := removeAllAt(parent, base); err != nil {
			return 0, fmt.Errorf("layer entry %s: replace: %w", hdr.Name, err)
		}
		exists = false
	}
	a.written[rel] = true
	var size int64
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !exists {
			if err := unix.Mkdirat(parent, base, 0o700); err != nil {
				return 0, fmt.Errorf("layer entry %s: mkdir: %w", hdr.Name, err)
			}
		}
		a.dirs = append(a.dirs, dirMeta{rel, hdr})
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Openat(parent, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return 0, fmt.Errorf("layer entry %s: create: %w", hdr.Name, err)
		}
		f := os.NewFile(uintptr(fd), rel)
		n, err := io.CopyBuffer(f, tr, a.buf)
		if err != nil {
			f.Close()
			return 0, fmt.Errorf("layer entry %s: %w", hdr.Name, streamErr(err))
		}
		size = n
		if err := f.Close(); err != nil {
			return 0, fmt.Errorf("layer entry %s: %w", hdr.Name, err)
		}
	case tar.TypeSymlink:
		if err := checkSymlink(rel, hdr.Linkname); err != nil {
			return 0, err
		}
		if err := unix.Symlinkat(hdr.Linkname, parent, base); err != nil {
			return 0, fmt.Errorf("layer entry %s: symlink: %w", hdr.Name, err)
		}
	case tar.TypeLink:
		if err := a.hardlink(parent, base, hdr); err != nil {
			return 0, err
		}
		return 0, nil // the target's metadata stands
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(parent, base, mode|0o600, dev); err != nil {
			if a.rootless && errors.Is(err, unix.EPERM) {
				delete(a.written, rel)
				return 0, nil // rootless: no device nodes
			}
			return 0, fmt.Errorf("layer entry %s: mknod: %w", hdr.Name, err)
		}
	default:
		return 0, fmt.Errorf("layer entry %s: unsupported tar entry type %q", hdr.Name, hdr.Typeflag)
	}
	if hdr.Typeflag != tar.TypeDir {
		if err := a.meta(parent, base, hdr); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// checkSymlink refuses a relative symlink whose target climbs above the
// root (as Docker does); absolute targets are resolved inside the root.
func checkSymlink(rel, target string) error {
	if target == "" {
		return fmt.Errorf("%w: symlink %s has an empty target", ErrHostile, rel)
	}
	if strings.HasPrefix(target, "/") {
		return nil
	}
	depth := strings.Count(rel, "/") // directories between the root and the link
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return fmt.Errorf("%w: symlink %s -> %s points outside the root", ErrHostile, rel, target)
			}
		default:
			depth++
		}
	}
	return nil
}

func (a *applier) hardlink(parent int, base string, hdr *tar.Header) error {
	target, err := clean(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("%w: hard link %s -> %s points outside the root", ErrHostile, hdr.Name, hdr.Linkname)
	}
	if target == "" {
		return fmt.Errorf("%w: hard link %s to the root directory", ErrHostile, hdr.Name)
	}
	tdir, tbase := path.Split(target)
	tparent, err := a.res.openDir(strings.TrimSuffix(tdir, "/"), false)
	if err != nil {
		return fmt.Errorf("layer entry %s: hard link target %s: %w", hdr.Name, hdr.Linkname, err)
	}
	defer unix.Close(tparent)
	var st unix.Stat_t
	if err := unix.Fstatat(tparent, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer entry %s: hard link target %s: %w", hdr.Name, hdr.Linkname, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%w: hard link %s to directory %s", ErrHostile, hdr.Name, hdr.Linkname)
	}
	if err := unix.Linkat(tparent, tbase, parent, base, 0); err != nil {
		return fmt.Errorf("layer entry %s: link to %s: %w", hdr.Name, hdr.Linkname, err)
	}
	return nil
}

// meta sets ownership, mode, xattrs and times of base in parent.
func (a *applier) meta(parent int, base string, hdr *tar.Header) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	if !a.rootless {
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("layer entry %s: chown: %w", hdr.Name, err)
		}
	}
	if !isLink {
		// After chown, which clears setuid bits. base is not a symlink
		// (this layer just made it), so following it is safe.
		if err := unix.Fchmodat(parent, base, tarMode(hdr), 0); err != nil {
			return fmt.Errorf("layer entry %s: chmod: %w", hdr.Name, err)
		}
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if a.rootless && strings.HasPrefix(name, "trusted.") {
			continue
		}
		p := fmt.Sprintf("/proc/self/fd/%d/%s", parent, base)
		if err := unix.Lsetxattr(p, name, []byte(v), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOENT) {
				continue // the filesystem does not take it: as Docker does, go on
			}
			return fmt.Errorf("layer entry %s: xattr %s: %w", hdr.Name, name, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.AccessTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if hdr.AccessTime.IsZero() {
		ts[0] = ts[1]
	}
	if err := unix.UtimesNanoAt(parent, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("layer entry %s: times: %w", hdr.Name, err)
	}
	return nil
}

func tarMode(hdr *tar.Header) uint32 {
	m := uint32(hdr.Mode) & 0o777
	if hdr.Mode&04000 != 0 {
		m |= unix.S_ISUID
	}
	if hdr.Mode&02000 != 0 {
		m |= unix.S_ISGID
	}
	if hdr.Mode&01000 != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// finish sets directory metadata, deepest first, once their contents are in.
func (a *applier) finish() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		dir, base := path.Split(d.rel)
		parent, err := a.res.openDir(strings.TrimSuffix(dir, "/"), false)
		if err != nil {
			return fmt.Errorf("layer entry %s: %w", d.hdr.Name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(parent)
			continue // replaced later in the same layer
		}
		err = a.meta(parent, base, d.hdr)
		unix.Close(parent)
		if err != nil {
			return err
		}
	}
	return nil
}

// whiteout handles ".wh.<name>" and ".wh..wh..opq" in directory dir.
func (a *applier) whiteout(dir, base string) error {
	if base == whiteoutOpaque {
		parent, err := a.res.openDir(dir, true)
		if err != nil {
			return fmt.Errorf("opaque whiteout in %s: %w", dir, err)
		}
		defer unix.Close(parent)
		if a.opt.Whiteouts == OverlayWhiteouts {
			p := fmt.Sprintf("/proc/self/fd/%d", parent)
			if err := unix.Lsetxattr(p, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return fmt.Errorf("opaque whiteout in %s: %w", dir, err)
			}
			return nil
		}
		// Remove what lower layers put here, keep what this layer wrote.
		return a.removeUnwritten(parent, dir)
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: bad whiteout %s/%s", ErrHostile, dir, base)
	}
	if a.opt.Whiteouts == OverlayWhiteouts {
		parent, err := a.res.openDir(dir, true)
		if err != nil {
			return fmt.Errorf("whiteout %s/%s: %w", dir, name, err)
		}
		defer unix.Close(parent)
		if err := removeAllAt(parent, name); err != nil {
			return err
		}
		if err := unix.Mknodat(parent, name, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("whiteout %s/%s: %w", dir, name, err)
		}
		return nil
	}
	parent, err := a.res.openDir(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing to delete
	}
	if err != nil {
		return fmt.Errorf("whiteout %s/%s: %w", dir, name, err)
	}
	defer unix.Close(parent)
	return removeAllAt(parent, name)
}

func (a *applier) removeUnwritten(fd int, dir string) error {
	names, err := readDirNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := n
		if dir != "" {
			rel = dir + "/" + n
		}
		if !a.written[rel] {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			sub, err := unix.Openat(fd, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = a.removeUnwritten(sub, rel)
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
	}
	return nil
}
