package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/image/digest"
)

// A Mount says how to mount a container's root filesystem, in the terms
// of mount(2) and of the OCI runtime spec's mounts. Mount it with MountAt:
// for deep layer stacks the options can exceed what mount(2) takes, and
// MountAt then uses the file-system context API.
type Mount struct {
	Type    string   `json:"type"` // "overlay" or "bind"
	Source  string   `json:"source"`
	Options []string `json:"options"`
}

// An Active snapshot is a container's writable root filesystem.
type Active struct {
	Key    string        `json:"key"`
	Parent digest.Digest `json:"parent,omitempty"` // top layer, "" for an empty rootfs
	// Labels are the caller's, for example the image a container uses.
	Labels map[string]string `json:"labels,omitempty"`
}

// maxMountData is the room mount(2) gives to options (one page).
const maxMountData = 4096

func checkKey(key string) error {
	if key == "" || key == "." || key == ".." || strings.ContainsAny(key, "/\x00") || len(key) > 128 {
		return fmt.Errorf("invalid snapshot key %q", key)
	}
	return nil
}

func (s *Snapshotter) activeDir(key string) string { return filepath.Join(s.root, "active", key) }

// Prepare makes the writable snapshot key on top of layer parent ("" for
// none) and returns how to mount it. With the copy driver the parent's
// tree is copied now.
func (s *Snapshotter) Prepare(key string, parent digest.Digest, labels map[string]string) (Mount, error) {
	if err := checkKey(key); err != nil {
		return Mount{}, err
	}
	if parent != "" && !s.Has(parent) {
		return Mount{}, fmt.Errorf("prepare %s: %w: %s", key, ErrNotFound, parent)
	}
	dir := s.activeDir(key)
	if _, err := os.Stat(dir); err == nil {
		return Mount{}, fmt.Errorf("prepare %s: %w", key, ErrExists)
	}
	tmp, err := s.tempDir()
	if err != nil {
		return Mount{}, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if s.driver == Overlay {
		for _, d := range []string{"upper", "work"} {
			if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
				return Mount{}, err
			}
		}
	} else {
		if err := os.Mkdir(filepath.Join(tmp, "fs"), 0o755); err != nil {
			return Mount{}, err
		}
		if parent != "" {
			if err := copyTree(s.Path(parent), filepath.Join(tmp, "fs")); err != nil {
				return Mount{}, fmt.Errorf("prepare %s: %w", key, err)
			}
		}
	}
	b, _ := json.Marshal(Active{Key: key, Parent: parent, Labels: labels})
	if err := writeSynced(tmp, "active.json", b); err != nil {
		return Mount{}, fmt.Errorf("prepare %s: %w", key, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return Mount{}, fmt.Errorf("prepare %s: %w", key, err)
	}
	ok = true
	if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
		return Mount{}, err
	}
	return s.Mounts(key)
}

// writeSynced writes name in dir, a directory that nothing reads until
// it is renamed into place (so no temporary file is needed), and makes
// the file and dir's entries durable, the two fsyncs issued together.
func writeSynced(dir, name string, data []byte) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := atomicfile.SyncAll(f.Sync, func() error { return atomicfile.SyncDir(dir) }); err != nil {
		return err
	}
	return f.Close()
}

// GetActive returns the record of snapshot key.
func (s *Snapshotter) GetActive(key string) (Active, error) {
	if err := checkKey(key); err != nil {
		return Active{}, err
	}
	b, err := os.ReadFile(filepath.Join(s.activeDir(key), "active.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Active{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return Active{}, err
	}
	var a Active
	if err := json.Unmarshal(b, &a); err != nil {
		return Active{}, fmt.Errorf("snapshot %s: %w", key, err)
	}
	return a, nil
}

// Mounts returns how to mount snapshot key.
func (s *Snapshotter) Mounts(key string) (Mount, error) {
	a, err := s.GetActive(key)
	if err != nil {
		return Mount{}, err
	}
	dir := s.activeDir(key)
	if s.driver == Copy {
		return Mount{Type: "bind", Source: filepath.Join(dir, "fs"), Options: []string{"rbind", "rw"}}, nil
	}
	var lowers []string
	if a.Parent != "" {
		chain, err := s.Chain(a.Parent)
		if err != nil {
			return Mount{}, fmt.Errorf("snapshot %s: %w", key, err)
		}
		for _, l := range chain {
			lowers = append(lowers, s.Path(l.ChainID))
		}
	} else {
		empty := filepath.Join(s.root, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return Mount{}, err
		}
		lowers = []string{empty}
	}
	m := overlayMount(lowers, dir)
	if n := len(strings.Join(m.Options, ",")); n >= maxMountData && a.Parent != "" {
		// Deep stacks overflow the page mount(2) takes for options: name
		// the layers by short links instead, as Docker's overlay2 does.
		chain, _ := s.Chain(a.Parent)
		lowers = lowers[:0]
		for _, l := range chain {
			p, err := s.shortLink(l.ChainID)
			if err != nil {
				return Mount{}, fmt.Errorf("snapshot %s: %w", key, err)
			}
			lowers = append(lowers, p)
		}
		m = overlayMount(lowers, dir)
	}
	return m, nil
}

func overlayMount(lowers []string, dir string) Mount {
	return Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"),
		"upperdir=" + filepath.Join(dir, "upper"),
		"workdir=" + filepath.Join(dir, "work"),
	}}
}

// shortLink returns root/l/<12 hex>, a symlink to the layer's files.
func (s *Snapshotter) shortLink(chainID digest.Digest) (string, error) {
	dir := filepath.Join(s.root, "l")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	target := s.Path(chainID)
	for n := 12; n <= len(chainID.Hex()); n += 4 {
		p := filepath.Join(dir, chainID.Hex()[:n])
		if have, err := os.Readlink(p); err == nil {
			if have == target {
				return p, nil
			}
			continue // another layer with the same prefix
		}
		if err := os.Symlink(target, p); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
		if have, err := os.Readlink(p); err == nil && have == target {
			return p, nil
		}
	}
	return "", fmt.Errorf("no short link for layer %s", chainID)
}

// UpperDir returns the directory holding what the container changed
// (overlay) or its whole tree (copy).
func (s *Snapshotter) UpperDir(key string) string {
	if s.driver == Copy {
		return filepath.Join(s.activeDir(key), "fs")
	}
	return filepath.Join(s.activeDir(key), "upper")
}

// Actives lists the writable snapshots.
func (s *Snapshotter) Actives() ([]Active, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "active"))
	if err != nil {
		return nil, err
	}
	var out []Active
	for _, e := range ents {
		if a, err := s.GetActive(e.Name()); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// RemoveActive deletes snapshot key; it must not be mounted.
func (s *Snapshotter) RemoveActive(key string) error {
	tmp, err := s.detachActive(key)
	if err != nil {
		return err
	}
	return os.RemoveAll(tmp)
}

// DropActive removes the active snapshot key as RemoveActive does, but
// deletes its files in the background (Settle waits for them): a
// container's writable layer can hold much, and nothing refers to it once
// it has left active/. What a crash leaves behind goes when a snapshotter
// opens the root next.
func (s *Snapshotter) DropActive(key string) error {
	tmp, err := s.detachActive(key)
	if err != nil {
		return err
	}
	s.dropping.Add(1)
	go func() {
		defer s.dropping.Done()
		os.RemoveAll(tmp)
	}()
	return nil
}

// Settle waits for the deletions that DropActive started.
func (s *Snapshotter) Settle() { s.dropping.Wait() }

// detachActive moves the active snapshot key out of active/, into a
// temporary directory that it returns.
func (s *Snapshotter) detachActive(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	tmp, err := s.tempDir()
	if err != nil {
		return "", err
	}
	os.Remove(tmp)
	if err := os.Rename(s.activeDir(key), tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return "", fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	return tmp, nil
}

// MountAt mounts m on target.
func MountAt(m Mount, target string) error {
	switch m.Type {
	case "overlay":
		data := strings.Join(m.Options, ",")
		if len(data) >= maxMountData {
			return mountOverlayFS(m, target)
		}
		if err := unix.Mount(m.Source, target, "overlay", 0, data); err != nil {
			return fmt.Errorf("mount overlay on %s: %w", target, err)
		}
	case "bind":
		if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, target, err)
		}
	default:
		return fmt.Errorf("mount on %s: unknown type %q", target, m.Type)
	}
	return nil
}

// mountOverlayFS mounts an overlay whose options do not fit mount(2)'s
// page with the file-system context API, one lower directory at a time
// ("lowerdir+", Linux 6.8).
func mountOverlayFS(m Mount, target string) error {
	fail := func(err error) error {
		return fmt.Errorf("mount overlay on %s (%d bytes of options, beyond mount(2)): %w", target, len(strings.Join(m.Options, ",")), err)
	}
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			for _, l := range strings.Split(v, ":") {
				if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
					return fail(fmt.Errorf("lowerdir+ %s: %w", l, err))
				}
			}
		case "ro":
			if err := unix.FsconfigSetFlag(fd, "ro"); err != nil {
				return fail(err)
			}
		default:
			if err := unix.FsconfigSetString(fd, k, v); err != nil {
				return fail(fmt.Errorf("%s: %w", k, err))
			}
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fail(err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fail(err)
	}
	return nil
}

// Unmount detaches what is mounted on target.
func Unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}
