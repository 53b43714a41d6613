package snapshot

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/unpack"
)

// Drivers.
const (
	Overlay = "overlay"
	Copy    = "copy"
)

// Errors.
var (
	ErrNotFound = errors.New("snapshot not found")
	ErrExists   = errors.New("snapshot exists")
)

// Snapshotter keeps layers under root/layers/<chain hex>/{fs,layer.json}
// and container snapshots under root/active/<key>.
type Snapshotter struct {
	root     string
	driver   string
	dropping sync.WaitGroup // DropActive's deletions
}

// Layer describes an unpacked layer.
type Layer struct {
	ChainID digest.Digest `json:"chainID"`
	Parent  digest.Digest `json:"parent,omitempty"`
	DiffID  digest.Digest `json:"diffID"`
	// Size is the sum of the regular files of the layer's diff.
	Size int64 `json:"size"`
}

// New opens a snapshotter at root with driver "overlay", "copy", or ""
// to pick overlay where the kernel and privileges allow it.
func New(root, driver string) (*Snapshotter, error) {
	for _, d := range []string{"layers", "active", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("snapshots: %w", err)
		}
	}
	// Leftovers of unpacks cut short by a crash.
	if ents, err := os.ReadDir(filepath.Join(root, "tmp")); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(root, "tmp", e.Name()))
		}
	}
	marker := filepath.Join(root, "driver")
	if b, err := os.ReadFile(marker); err == nil && driver == "" {
		driver = strings.TrimSpace(string(b)) // a store keeps the driver it was made with
	}
	switch driver {
	case "":
		driver = Copy
		if OverlaySupported() && probeOverlay(filepath.Join(root, "tmp")) == nil {
			driver = Overlay
		}
	case Overlay:
		if !OverlaySupported() {
			return nil, errors.New("snapshots: overlay driver asked for, but overlayfs is not available (no kernel support or not root)")
		}
		if err := probeOverlay(filepath.Join(root, "tmp")); err != nil {
			return nil, fmt.Errorf("snapshots: overlay driver asked for, but overlayfs does not work on %s: %w", root, err)
		}
	case Copy:
	default:
		return nil, fmt.Errorf("snapshots: unknown driver %q (want overlay or copy)", driver)
	}
	// A store keeps its driver: layers of one driver are no use to the other.
	if b, err := os.ReadFile(marker); err == nil {
		if have := strings.TrimSpace(string(b)); have != driver {
			return nil, fmt.Errorf("snapshots in %s were made by the %s driver, not %s", root, have, driver)
		}
	} else if err := atomicfile.WriteFile(marker, []byte(driver+"\n"), 0o600); err != nil {
		return nil, err
	}
	return &Snapshotter{root: root, driver: driver}, nil
}

// OverlaySupported reports whether this process can mount overlayfs.
func OverlaySupported() bool {
	if os.Geteuid() != 0 {
		return false
	}
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), "\toverlay") {
			return true
		}
	}
	return false
}

// probeOverlay mounts a small overlay in dir: overlayfs can be in the
// kernel and still refuse the filesystem of the store (an overlay upper
// directory on overlayfs, for one).
func probeOverlay(dir string) error {
	p, err := os.MkdirTemp(dir, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(p)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(p, d), 0o755); err != nil {
			return err
		}
	}
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + filepath.Join(p, "lower"),
		"upperdir=" + filepath.Join(p, "upper"), "workdir=" + filepath.Join(p, "work")}}
	if err := MountAt(m, filepath.Join(p, "merged")); err != nil {
		return err
	}
	return Unmount(filepath.Join(p, "merged"))
}

// Driver returns the driver in use.
func (s *Snapshotter) Driver() string { return s.driver }

func (s *Snapshotter) layerDir(chainID digest.Digest) string {
	return filepath.Join(s.root, "layers", chainID.Hex())
}

// Get returns the layer of chainID.
func (s *Snapshotter) Get(chainID digest.Digest) (Layer, error) {
	if err := chainID.Validate(); err != nil {
		return Layer{}, err
	}
	b, err := os.ReadFile(filepath.Join(s.layerDir(chainID), "layer.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Layer{}, fmt.Errorf("%w: %s", ErrNotFound, chainID)
	}
	if err != nil {
		return Layer{}, err
	}
	var l Layer
	if err := json.Unmarshal(b, &l); err != nil {
		return Layer{}, fmt.Errorf("snapshot %s: %w", chainID, err)
	}
	return l, nil
}

// Has reports whether the layer of chainID is unpacked.
func (s *Snapshotter) Has(chainID digest.Digest) bool {
	_, err := s.Get(chainID)
	return err == nil
}

// Path returns the directory of a layer's files.
func (s *Snapshotter) Path(chainID digest.Digest) string {
	return filepath.Join(s.layerDir(chainID), "fs")
}

func (s *Snapshotter) tempDir() (string, error) {
	var b [8]byte
	rand.Read(b[:])
	dir := filepath.Join(s.root, "tmp", hex.EncodeToString(b[:]))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// Unpack applies layer (compressed or not) on top of parent ("" for the
// bottom layer) as chainID. The uncompressed stream must hash to diffID,
// or the layer is discarded and the error wraps digest.ErrMismatch. A
// hostile layer fails (see unpack.Apply) and leaves nothing behind.
func (s *Snapshotter) Unpack(chainID, parent, diffID digest.Digest, layer io.Reader) (Layer, error) {
	return s.UnpackVerified(chainID, parent, diffID, layer, nil)
}

// ParentFirst reports whether a layer can only be unpacked once its parent
// is (the copy driver starts from the parent's tree); overlay layers are
// independent diffs and can be unpacked in any order.
func (s *Snapshotter) ParentFirst() bool { return s.driver == Copy }

// UnpackVerified is Unpack with a last check: verify, if not nil, runs
// after the layer is applied and before it becomes visible; an error from
// it discards the layer. A pull that unpacks a blob while it still
// downloads passes the blob's digest check here.
func (s *Snapshotter) UnpackVerified(chainID, parent, diffID digest.Digest, layer io.Reader, verify func() error) (Layer, error) {
	if err := chainID.Validate(); err != nil {
		return Layer{}, err
	}
	if s.Has(chainID) {
		return Layer{}, fmt.Errorf("%w: %s", ErrExists, chainID)
	}
	if parent != "" && s.ParentFirst() && !s.Has(parent) {
		return Layer{}, fmt.Errorf("unpack %s: parent: %w: %s", chainID, ErrNotFound, parent)
	}
	tmp, err := s.tempDir()
	if err != nil {
		return Layer{}, fmt.Errorf("unpack %s: %w", chainID, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return Layer{}, err
	}
	opt := unpack.Options{Whiteouts: unpack.OverlayWhiteouts}
	if s.driver == Copy {
		opt.Whiteouts = unpack.ApplyWhiteouts
		if parent != "" {
			if err := copyTree(s.Path(parent), fsDir); err != nil {
				return Layer{}, fmt.Errorf("unpack %s: copy parent: %w", chainID, err)
			}
		}
	}
	res, err := unpack.Apply(fsDir, layer, opt)
	if err != nil {
		return Layer{}, fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	if res.DiffID != diffID {
		return Layer{}, fmt.Errorf("unpack layer: uncompressed content does not match the image config: %w",
			&digest.MismatchError{Want: diffID, Got: res.DiffID})
	}
	if verify != nil {
		if err := verify(); err != nil {
			return Layer{}, err
		}
	}
	l := Layer{ChainID: chainID, Parent: parent, DiffID: diffID, Size: res.Size}
	b, _ := json.Marshal(l)
	if err := atomicfile.WriteFile(filepath.Join(tmp, "layer.json"), b, 0o600); err != nil {
		return Layer{}, err
	}
	if err := syncFS(tmp); err != nil {
		return Layer{}, fmt.Errorf("unpack %s: sync: %w", chainID, err)
	}
	if err := os.Rename(tmp, s.layerDir(chainID)); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
			return Layer{}, fmt.Errorf("%w: %s", ErrExists, chainID)
		}
		return Layer{}, fmt.Errorf("unpack %s: %w", chainID, err)
	}
	ok = true
	if err := atomicfile.SyncDir(filepath.Join(s.root, "layers")); err != nil {
		return Layer{}, err
	}
	return l, nil
}

// syncFS flushes the filesystem holding dir: the unpacked files must be
// on disk before the rename makes the layer visible.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// Remove deletes the layer of chainID. Callers check that nothing uses
// it (no child layer, no image, no container).
func (s *Snapshotter) Remove(chainID digest.Digest) error {
	if err := chainID.Validate(); err != nil {
		return err
	}
	dir := s.layerDir(chainID)
	s.removeShortLinks(chainID)
	// Rename first so that a crash never leaves a half-deleted layer that
	// looks complete.
	tmp, err := s.tempDir()
	if err != nil {
		return err
	}
	os.Remove(tmp)
	if err := os.Rename(dir, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove snapshot %s: %w", chainID, err)
	}
	return os.RemoveAll(tmp)
}

// Layers lists the unpacked layers.
func (s *Snapshotter) Layers() ([]Layer, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "layers"))
	if err != nil {
		return nil, err
	}
	var out []Layer
	for _, e := range ents {
		d, err := digest.Parse("sha256:" + e.Name())
		if err != nil {
			continue
		}
		if l, err := s.Get(d); err == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// Chain returns chainID and its ancestors, top first.
func (s *Snapshotter) Chain(chainID digest.Digest) ([]Layer, error) {
	var out []Layer
	for d := chainID; d != ""; {
		l, err := s.Get(d)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
		d = l.Parent
		if len(out) > 4096 {
			return nil, fmt.Errorf("snapshot %s: parent loop", chainID)
		}
	}
	return out, nil
}

// removeShortLinks drops the short links of a layer (see shortLink).
func (s *Snapshotter) removeShortLinks(chainID digest.Digest) {
	dir := filepath.Join(s.root, "l")
	target := s.Path(chainID)
	for n := 12; n <= len(chainID.Hex()); n += 4 {
		p := filepath.Join(dir, chainID.Hex()[:n])
		if have, err := os.Readlink(p); err == nil && have == target {
			os.Remove(p)
		}
	}
}
