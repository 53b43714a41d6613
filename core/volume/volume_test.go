package volume

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
)

func TestCreateGetListRemove(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, created, err := s.Create(api.VolumeCreateRequest{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if v.Driver != "local" || v.Labels["a"] != "b" || v.Mountpoint != s.Path("data") {
		t.Errorf("volume %+v", v)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
		t.Fatalf("mountpoint: %v", err)
	}
	os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644)
	// Creating it again returns it unchanged: the data stays.
	v2, created, err := s.Create(api.VolumeCreateRequest{Name: "data"})
	if err != nil || created || v2.CreatedAt != v.CreatedAt || v2.Labels["a"] != "b" {
		t.Fatalf("second create: %+v %v %v", v2, created, err)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); err != nil {
		t.Errorf("data lost: %v", err)
	}
	anon, _, err := s.Create(api.VolumeCreateRequest{})
	if err != nil || len(anon.Name) != 64 || !s.IsAnonymous(anon.Name) || s.IsAnonymous("data") {
		t.Fatalf("anonymous volume %+v: %v", anon, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := s.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("data"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("get after remove: %v", err)
	}
	if err := s.Remove("data"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		req  api.VolumeCreateRequest
		want string
	}{
		{api.VolumeCreateRequest{Name: "a"}, "invalid characters"},
		{api.VolumeCreateRequest{Name: "../etc"}, "invalid characters"},
		{api.VolumeCreateRequest{Name: ".hidden"}, "invalid characters"},
		{api.VolumeCreateRequest{Name: "ok", Driver: "nfs"}, "not supported"},
		{api.VolumeCreateRequest{Name: "ok", DriverOpts: map[string]string{"type": "tmpfs"}}, "options are not supported yet: type"},
	}
	for _, tc := range tests {
		if _, _, err := s.Create(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
	// Nothing was made.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	if _, err := s.Get("../x"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("get ../x: %v", err)
	}
}

// What an interrupted create or remove leaves is swept; whole volumes stay.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	s.Create(api.VolumeCreateRequest{Name: "keep"})
	os.MkdirAll(filepath.Join(dir, ".new-123", "_data"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".rm-gone", "_data"), 0o755)
	s.Sweep()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "keep" {
		t.Errorf("after sweep: %v", ents)
	}
}

// A volume is filled on its first mount only, and only when empty.
func TestPopulate(t *testing.T) {
	s, _ := Open(t.TempDir())
	s.Create(api.VolumeCreateRequest{Name: "v1"})
	s.Create(api.VolumeCreateRequest{Name: "v2"})
	calls := 0
	fill := func(dir string) error {
		calls++
		return os.WriteFile(filepath.Join(dir, "seed"), []byte("x"), 0o644)
	}
	for i := 0; i < 2; i++ {
		if err := s.Populate("v1", fill); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Errorf("filled %d times, want once", calls)
	}
	os.WriteFile(filepath.Join(s.Path("v2"), "mine"), nil, 0o644)
	if err := s.Populate("v2", fill); err != nil || calls != 1 {
		t.Errorf("a volume with data was filled: %v, %d calls", err, calls)
	}
	if err := s.Populate("v1", func(string) error { return errors.New("boom") }); err != nil {
		t.Errorf("a populated volume ran fill again: %v", err)
	}
	if err := s.Populate("nosuch", fill); err == nil {
		t.Error("populate of a missing volume succeeded")
	}
}
