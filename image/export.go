package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/image/snapshot"
)

// Export writes the root filesystem of container snapshot key as a tar,
// as "docker export" does. With the overlay driver the snapshot is
// mounted read-only on a temporary directory for the walk.
func (s *Store) Export(key string, w io.Writer) error {
	m, err := s.snaps.Mounts(key)
	if err != nil {
		return fmt.Errorf("export %s: %w", key, err)
	}
	dir := m.Source
	if m.Type == "overlay" {
		tmp, err := os.MkdirTemp(filepath.Join(s.root, "snapshots", "tmp"), "export-")
		if err != nil {
			return err
		}
		defer os.Remove(tmp)
		// Read-only: no work or upper dir needed, the stack of lowers is
		// the upper on top of the image's layers.
		var lowers []string
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				lowers = append([]string{v}, lowers...)
			}
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				lowers = append(lowers, v)
			}
		}
		ro := snapshot.Mount{Type: "overlay", Source: "overlay", Options: []string{"ro", "lowerdir=" + strings.Join(lowers, ":")}}
		if err := snapshot.MountAt(ro, tmp); err != nil {
			return fmt.Errorf("export %s: %w", key, err)
		}
		defer snapshot.Unmount(tmp)
		dir = tmp
	}
	if err := WriteTar(dir, w); err != nil {
		return fmt.Errorf("export %s: %w", key, err)
	}
	return nil
}

// WriteTar writes the tree at dir as a tar stream: files, directories,
// symlinks, hard links (once per inode), devices, FIFOs, ownership, modes,
// times and xattrs. Nothing is followed.
func WriteTar(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	seen := map[uint64]string{}
	buf := make([]byte, 128<<10)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		st, _ := fi.Sys().(*unix.Stat_t)
		if st == nil {
			var s unix.Stat_t
			if err := unix.Lstat(p, &s); err == nil {
				st = &s
			}
		}
		if st != nil && fi.Mode().IsRegular() && st.Nlink > 1 {
			if first, ok := seen[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				seen[st.Ino] = hdr.Name
			}
		}
		addXattrs(p, hdr)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func addXattrs(p string, hdr *tar.Header) {
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz <= 0 {
		return
	}
	b := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, b); err != nil {
		return
	}
	for _, name := range strings.Split(strings.TrimRight(string(b[:sz]), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		vsz, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			continue
		}
		v := make([]byte, vsz)
		if vsz, err = unix.Lgetxattr(p, name, v); err != nil && !errors.Is(err, unix.ERANGE) {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(v[:vsz])
	}
}
