package busybox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// HostBinary is where Debian's busybox-static installs the static busybox.
const HostBinary = "/bin/busybox"

// Applets returns the applet paths, relative to /, that the busybox binary at
// bin provides ("bin/sh", "usr/bin/awk", …), as `busybox --list-full` prints them.
func Applets(bin string) ([]string, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, "--list-full")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", bin, err)
	}
	var list []string
	for l := range strings.Lines(out.String()) {
		if l = strings.TrimSpace(l); l != "" {
			list = append(list, l)
		}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s --list-full: no applets", bin)
	}
	return list, nil
}

// Rootfs fills dir with a root filesystem: bin/busybox copied from bin, a
// symbolic link to /bin/busybox for each applet path, the mount points a
// runtime expects (dev, proc, sys, tmp, …) and a minimal etc (passwd, group).
// An applet path that is not clean and relative (escaping dir) is an error.
func Rootfs(dir, bin string, applets []string) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "etc", "root", "run", "var"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(dir, "bin/busybox"), bin, 0o755); err != nil {
		return err
	}
	for _, a := range applets {
		if a != path.Clean(a) || path.IsAbs(a) || a == ".." || strings.HasPrefix(a, "../") {
			return fmt.Errorf("applet path %q: not a clean relative path", a)
		}
		if a == "bin/busybox" {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(a))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", dst); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	files := []struct {
		name, text string
	}{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
		{"etc/hostname", "busybox\n"},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// HostRootfs is Rootfs with the host's busybox-static and all its applets.
func HostRootfs(dir string) error {
	applets, err := Applets(HostBinary)
	if err != nil {
		return err
	}
	return Rootfs(dir, HostBinary, applets)
}

func copyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}
