package volume

import (
	"crypto/rand"
	"encoding/hex"
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

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/core/errdefs"
)

const (
	dataDir    = "_data"
	recordFile = "volume.json"
	// Driver is the one volume driver: a directory on the host.
	Driver = "local"
)

// Store holds the volumes under one directory.
type Store struct {
	dir string
	mu  sync.Mutex
}

// record is what volume.json holds.
type record struct {
	Name      string            `json:"Name"`
	CreatedAt time.Time         `json:"CreatedAt"`
	Labels    map[string]string `json:"Labels,omitempty"`
	Anonymous bool              `json:"Anonymous,omitempty"`
}

// Open returns the store in dir, creating the directory.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	return &Store{dir: dir}, nil
}

// ValidateName accepts Docker's volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
func ValidateName(name string) error {
	ok := len(name) >= 2 && len(name) <= 255
	for i := 0; ok && i < len(name); i++ {
		b := name[i]
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		ok = alnum || i > 0 && (b == '_' || b == '.' || b == '-')
	}
	if !ok {
		return errdefs.Invalid("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name)
	}
	return nil
}

// Create makes a volume, or returns the existing one of that name (as
// Docker does). An empty name makes an anonymous volume with a random
// name. Labels apply to a new volume only.
func (s *Store) Create(req api.VolumeCreateRequest) (api.Volume, bool, error) {
	if req.Driver != "" && req.Driver != Driver {
		return api.Volume{}, false, errdefs.NotSupported("volume driver %q is not supported: only %q", req.Driver, Driver)
	}
	if len(req.DriverOpts) > 0 {
		keys := make([]string, 0, len(req.DriverOpts))
		for k := range req.DriverOpts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return api.Volume{}, false, errdefs.NotSupported("volume driver options are not supported yet: %s", strings.Join(keys, ", "))
	}
	anon := req.Name == ""
	if anon {
		var b [32]byte
		rand.Read(b[:])
		req.Name = hex.EncodeToString(b[:])
	}
	if err := ValidateName(req.Name); err != nil {
		return api.Volume{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, err := s.getLocked(req.Name); err == nil {
		return v, false, nil
	} else if !errors.Is(err, errdefs.ErrNotFound) {
		return api.Volume{}, false, err
	}
	// Build the volume beside its place, then rename it in: a crash
	// leaves either no volume or a whole one.
	tmp, err := os.MkdirTemp(s.dir, ".new-")
	if err != nil {
		return api.Volume{}, false, fmt.Errorf("create volume %s: %w", req.Name, err)
	}
	fail := func(err error) (api.Volume, bool, error) {
		os.RemoveAll(tmp)
		return api.Volume{}, false, fmt.Errorf("create volume %s: %w", req.Name, err)
	}
	if err := os.Chmod(tmp, 0o701); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(filepath.Join(tmp, dataDir), 0o755); err != nil {
		return fail(err)
	}
	rec := record{Name: req.Name, CreatedAt: time.Now().UTC().Truncate(time.Second), Labels: req.Labels, Anonymous: anon}
	data, err := json.Marshal(rec)
	if err != nil {
		return fail(err)
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, recordFile), data, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, req.Name)); err != nil {
		return fail(err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return api.Volume{}, false, err
	}
	return s.toAPI(rec), true, nil
}

func (s *Store) toAPI(rec record) api.Volume {
	labels := rec.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return api.Volume{Name: rec.Name, Driver: Driver, Scope: "local", Labels: labels, Options: map[string]string{},
		CreatedAt: rec.CreatedAt.Format(time.RFC3339), Mountpoint: s.Path(rec.Name)}
}

// Path is the host directory a volume's data lives in.
func (s *Store) Path(name string) string { return filepath.Join(s.dir, name, dataDir) }

// Get returns a volume.
func (s *Store) Get(name string) (api.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(name)
}

func (s *Store) getLocked(name string) (api.Volume, error) {
	if ValidateName(name) != nil {
		return api.Volume{}, errdefs.NotFound("get %s: no such volume", name)
	}
	data, err := os.ReadFile(filepath.Join(s.dir, name, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return api.Volume{}, errdefs.NotFound("get %s: no such volume", name)
	}
	if err != nil {
		return api.Volume{}, fmt.Errorf("volume %s: %w", name, err)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return api.Volume{}, fmt.Errorf("volume %s: %s: %w", name, recordFile, err)
	}
	return s.toAPI(rec), nil
}

// List returns every volume by name.
func (s *Store) List() ([]api.Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	out := []api.Volume{}
	for _, ent := range ents {
		if !ent.IsDir() || strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		if v, err := s.getLocked(ent.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a volume and its data; the caller has checked that no
// container uses it. The record goes first, so a crash halfway leaves
// no volume that looks whole.
func (s *Store) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.getLocked(name); err != nil {
		return err
	}
	dir := filepath.Join(s.dir, name)
	trash := filepath.Join(s.dir, ".rm-"+name)
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// Sweep removes what an interrupted create or remove left behind.
func (s *Store) Sweep() {
	ents, _ := os.ReadDir(s.dir)
	for _, ent := range ents {
		if n := ent.Name(); strings.HasPrefix(n, ".new-") || strings.HasPrefix(n, ".rm-") {
			os.RemoveAll(filepath.Join(s.dir, n))
		}
	}
}

// IsAnonymous reports whether name is a volume made without a name.
func (s *Store) IsAnonymous(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(filepath.Join(s.dir, name, recordFile))
	if err != nil {
		return false
	}
	var rec record
	return json.Unmarshal(data, &rec) == nil && rec.Anonymous
}

// populatedFile marks a volume that has been mounted once: Docker copies
// the container's content into a volume on its first mount only.
const populatedFile = "populated"

// Populate runs fill on the data directory of a volume mounted for the
// first time while it is empty (Docker's copy of the image's content);
// later mounts, and a volume that already holds data, are left alone.
func (s *Store) Populate(name string, fill func(dir string) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	marker := filepath.Join(s.dir, name, populatedFile)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	dir := filepath.Join(s.dir, name, dataDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	if len(ents) == 0 {
		if err := fill(dir); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(marker, nil, 0o600)
}
