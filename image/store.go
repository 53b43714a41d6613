package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/image/content"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/reference"
	"github.com/petrel-edge/petrel/image/registry"
	"github.com/petrel-edge/petrel/image/snapshot"
)

// Options configure a Store.
type Options struct {
	// Root is the store's directory, e.g. /var/lib/petrel/image.
	Root string
	// Driver is the snapshot driver: "overlay", "copy" or "" (overlay
	// where available).
	Driver string
	// Registry configures the registry client (mirrors, insecure
	// registries, certificates, credentials).
	Registry registry.Config
	// MaxConcurrentDownloads bounds parallel layer downloads (default 3).
	MaxConcurrentDownloads int
	// Platform is what images are pulled for (default: this host).
	Platform *manifest.Platform
}

// Store is the image store.
type Store struct {
	root     string
	content  *content.Store
	snaps    *snapshot.Snapshotter
	reg      *registry.Client
	platform manifest.Platform
	maxDL    int
	lockFile *os.File

	mu     sync.Mutex // image records and names
	leases map[digest.Digest]int
}

// A Layer of an image.
type Layer struct {
	Digest    digest.Digest `json:"digest"` // compressed blob
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"` // compressed
	DiffID    digest.Digest `json:"diffID"`
	ChainID   digest.Digest `json:"chainID"`
}

// Image is an image record. ID is the digest of the image config, as in
// Docker.
type Image struct {
	ID       digest.Digest        `json:"id"`
	Manifest manifest.Descriptor  `json:"manifest"`
	Index    *manifest.Descriptor `json:"index,omitempty"`
	Platform manifest.Platform    `json:"platform"`
	Layers   []Layer              `json:"layers"`
	Created  time.Time            `json:"created"`
	Added    time.Time            `json:"added"`
	// Size is the uncompressed size of the layers' files.
	Size int64 `json:"size"`

	// Filled when read, not stored in the record.
	Names   []string        `json:"-"` // repo:tag references
	Digests []string        `json:"-"` // repo@digest references
	Config  *manifest.Image `json:"-"`
}

// TopLayer returns the chain ID of the top layer ("" for no layers).
func (img *Image) TopLayer() digest.Digest {
	if len(img.Layers) == 0 {
		return ""
	}
	return img.Layers[len(img.Layers)-1].ChainID
}

// Open opens or creates the store at opt.Root and locks it.
func Open(opt Options) (*Store, error) {
	if opt.Root == "" {
		return nil, errors.New("image store: no root directory")
	}
	if err := os.MkdirAll(filepath.Join(opt.Root, "images"), 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(opt.Root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, opt.Root)
		}
		return nil, fmt.Errorf("image store: lock: %w", err)
	}
	s := &Store{root: opt.Root, lockFile: lf, leases: map[digest.Digest]int{}, maxDL: opt.MaxConcurrentDownloads}
	fail := func(err error) (*Store, error) {
		lf.Close()
		return nil, err
	}
	if s.content, err = content.Open(filepath.Join(opt.Root, "content")); err != nil {
		return fail(err)
	}
	if s.snaps, err = snapshot.New(filepath.Join(opt.Root, "snapshots"), opt.Driver); err != nil {
		return fail(err)
	}
	s.reg = registry.New(opt.Registry)
	s.platform = manifest.Host()
	if opt.Platform != nil {
		s.platform = opt.Platform.Normalize()
	}
	if s.maxDL <= 0 {
		s.maxDL = 3
	}
	return s, nil
}

// Close releases the store's lock.
func (s *Store) Close() error { return s.lockFile.Close() }

// Registry returns the registry client (for login and logout).
func (s *Store) Registry() *registry.Client { return s.reg }

// Content returns the content store.
func (s *Store) Content() *content.Store { return s.content }

// Snapshots returns the snapshotter.
func (s *Store) Snapshots() *snapshot.Snapshotter { return s.snaps }

// Platform returns the default platform of pulls.
func (s *Store) Platform() manifest.Platform { return s.platform }

// names maps full references ("docker.io/library/busybox:latest",
// "…@sha256:…") to image IDs; kept in one file so that a retag is one
// atomic write.
type names struct {
	Names map[string]digest.Digest `json:"names"`
}

func (s *Store) namesPath() string { return filepath.Join(s.root, "names.json") }

func (s *Store) loadNames() (names, error) {
	n := names{Names: map[string]digest.Digest{}}
	b, err := os.ReadFile(s.namesPath())
	if errors.Is(err, fs.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("image names: %w", err)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return n, fmt.Errorf("image names %s: %w", s.namesPath(), err)
	}
	if n.Names == nil {
		n.Names = map[string]digest.Digest{}
	}
	return n, nil
}

func (s *Store) saveNames(n names) error {
	b, err := json.MarshalIndent(n, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.namesPath(), append(b, '\n'), 0o600)
}

func (s *Store) recordPath(id digest.Digest) string {
	return filepath.Join(s.root, "images", id.Hex()+".json")
}

func (s *Store) loadRecord(id digest.Digest) (*Image, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return nil, fmt.Errorf("image record %s: %w", id, err)
	}
	return &img, nil
}

func (s *Store) saveRecord(img *Image) error {
	b, err := json.MarshalIndent(img, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.recordPath(img.ID), append(b, '\n'), 0o600)
}

func (s *Store) recordIDs() ([]digest.Digest, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "images"))
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, e := range ents {
		hx, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if d, err := digest.Parse("sha256:" + hx); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// fill adds names and the parsed config to img.
func (s *Store) fill(img *Image, n names) {
	img.Names, img.Digests = nil, nil
	for name, id := range n.Names {
		if id != img.ID {
			continue
		}
		if strings.Contains(name, "@") {
			img.Digests = append(img.Digests, name)
		} else {
			img.Names = append(img.Names, name)
		}
	}
	sort.Strings(img.Names)
	sort.Strings(img.Digests)
	if b, err := s.content.ReadAll(img.ID, manifest.MaxManifestSize); err == nil {
		img.Config, _ = manifest.ParseImage(b)
	}
}

// lookup finds an image by name, full ID or unique ID prefix; s.mu held.
// It returns the normalised name when nameOrID was a name.
func (s *Store) lookup(nameOrID string, n names) (*Image, string, error) {
	if ref, err := reference.Parse(nameOrID); err == nil {
		if id, ok := n.Names[ref.String()]; ok {
			img, err := s.loadRecord(id)
			return img, ref.String(), err
		}
	}
	id := strings.TrimPrefix(nameOrID, "sha256:")
	if len(id) == 0 || len(id) > 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return nil, "", fmt.Errorf("%w: %s", ErrNotFound, nameOrID)
	}
	ids, err := s.recordIDs()
	if err != nil {
		return nil, "", err
	}
	var match []digest.Digest
	for _, d := range ids {
		if strings.HasPrefix(d.Hex(), id) {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 0:
		return nil, "", fmt.Errorf("%w: %s", ErrNotFound, nameOrID)
	case 1:
		img, err := s.loadRecord(match[0])
		return img, "", err
	}
	return nil, "", fmt.Errorf("%w: %s", ErrAmbiguous, nameOrID)
}

// Get returns the image a name ("busybox", "host:5000/app:v1",
// "app@sha256:…"), a full ID or a unique ID prefix refers to, with its
// names and config filled in.
func (s *Store) Get(nameOrID string) (*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.loadNames()
	if err != nil {
		return nil, err
	}
	img, _, err := s.lookup(nameOrID, n)
	if err != nil {
		return nil, err
	}
	s.fill(img, n)
	return img, nil
}

// List returns every image, most recently added first.
func (s *Store) List() ([]*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.loadNames()
	if err != nil {
		return nil, err
	}
	ids, err := s.recordIDs()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, id := range ids {
		img, err := s.loadRecord(id)
		if err != nil {
			continue
		}
		s.fill(img, n)
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Added.After(out[j].Added) })
	return out, nil
}

// Tag gives the image src refers to the name dst (tag "latest" unless
// given); a name that pointed at another image moves.
func (s *Store) Tag(src, dst string) error {
	ref, err := reference.Parse(dst)
	if err != nil {
		return err
	}
	if ref.Digest != "" {
		return fmt.Errorf("tag %s: %w: a tag cannot carry a digest", dst, reference.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.loadNames()
	if err != nil {
		return err
	}
	img, _, err := s.lookup(src, n)
	if err != nil {
		return err
	}
	n.Names[ref.String()] = img.ID
	return s.saveNames(n)
}

// usersOf returns the container snapshots using image id.
func (s *Store) usersOf(id digest.Digest) ([]string, error) {
	acts, err := s.snaps.Actives()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, a := range acts {
		if a.Labels[labelImage] == string(id) {
			keys = append(keys, a.Key)
		}
	}
	return keys, nil
}

const labelImage = "petrel.image"

// Removal reports what Remove did, in the terms of docker rmi.
type Removal struct {
	Untagged []string
	Deleted  []digest.Digest
	GC       GCStats
}

// Remove removes a name, or an image by ID. Removing a name leaves the
// image while it has other names; the last name (or the ID) removes the
// image, refused with ErrInUse while a container uses it and with
// ErrConflict (by ID) while it has several names, unless force. Content
// no other image or container uses is then deleted.
func (s *Store) Remove(nameOrID string, force bool) (Removal, error) {
	var r Removal
	s.mu.Lock()
	n, err := s.loadNames()
	if err != nil {
		s.mu.Unlock()
		return r, err
	}
	img, name, err := s.lookup(nameOrID, n)
	if err != nil {
		s.mu.Unlock()
		return r, err
	}
	var tags []string
	for k, id := range n.Names {
		if id == img.ID {
			tags = append(tags, k)
		}
	}
	sort.Strings(tags)
	users, err := s.usersOf(img.ID)
	if err != nil {
		s.mu.Unlock()
		return r, err
	}
	// Names other than the one given, not counting repo@digest names.
	others := 0
	for _, t := range tags {
		if t != name && !strings.Contains(t, "@") {
			others++
		}
	}
	deleteImage := true
	switch {
	case name != "" && others > 0:
		deleteImage = false
		delete(n.Names, name)
		r.Untagged = append(r.Untagged, name)
	case name == "" && others > 1 && !force:
		s.mu.Unlock()
		return r, fmt.Errorf("%w: %s has %d names; remove them one by one or force", ErrConflict, img.ID.Short(), others)
	}
	if deleteImage {
		if len(users) > 0 && !force {
			s.mu.Unlock()
			return r, fmt.Errorf("%w: %s is used by container %s", ErrInUse, img.ID.Short(), strings.Join(users, ", "))
		}
		for _, t := range tags {
			delete(n.Names, t)
			r.Untagged = append(r.Untagged, t)
		}
	}
	if err := s.saveNames(n); err != nil {
		s.mu.Unlock()
		return r, err
	}
	if deleteImage {
		if err := os.Remove(s.recordPath(img.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.mu.Unlock()
			return r, err
		}
		if err := atomicfile.SyncDir(filepath.Join(s.root, "images")); err != nil {
			s.mu.Unlock()
			return r, err
		}
		r.Deleted = append(r.Deleted, img.ID)
	}
	s.mu.Unlock()
	if deleteImage {
		st, err := s.GC()
		r.GC = st
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// Prune removes images without names that no container uses.
func (s *Store) Prune() ([]digest.Digest, error) {
	imgs, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, img := range imgs {
		if len(img.Names) > 0 {
			continue
		}
		if _, err := s.Remove(string(img.ID), false); err == nil {
			out = append(out, img.ID)
		} else if !errors.Is(err, ErrInUse) {
			return out, err
		}
	}
	return out, nil
}
