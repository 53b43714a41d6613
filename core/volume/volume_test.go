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
