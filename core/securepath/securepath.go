package securepath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Join resolves path inside root as if root were "/": symlinks are
// followed, and absolute links and ".." never lead outside root. Missing
// components are kept as they are, ready to be created.
func Join(root, path string) (string, error) {
	var cur string // resolved path relative to root, always starting with "/" or empty
	rest := path
	links := 0
	for rest != "" {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		if comp == "" || comp == "." {
			continue
		}
		next := filepath.Clean("/" + cur + "/" + comp)
		if next == "/" {
			cur = ""
			continue
		}
		fi, err := os.Lstat(root + next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				cur = next
				continue
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		links++
		if links > 255 {
			return "", &fs.PathError{Op: "resolve", Path: path, Err: unix.ELOOP}
		}
		dest, err := os.Readlink(root + next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(dest) {
			cur = ""
		}
		rest = dest + "/" + rest
	}
	return filepath.Join(root, filepath.Clean("/"+cur)), nil
}
