package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/internal/regtest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/registry"
	"github.com/petrel-edge/petrel/image/snapshot"
	"github.com/petrel-edge/petrel/image/unpack"
)

type E = regtest.Entry

var amd64 = manifest.Platform{OS: "linux", Architecture: "amd64"}

// driverEnv names the snapshot driver of the tests that take the default;
// TestUnitTestsOnOverlay (integration) runs them again on overlay.
const driverEnv = "PETREL_IMAGE_TEST_DRIVER"

func openStore(t *testing.T) *Store {
	t.Helper()
	driver := os.Getenv(driverEnv)
	if driver == "" {
		driver = "copy"
	}
	return openStoreDriver(t, driver)
}

// readRootfs reads file in the root filesystem key, mounting it if the
// driver needs that.
func readRootfs(t *testing.T, s *Store, key, file string) string {
	t.Helper()
	m, err := s.RootfsMount(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := m.Source
	if m.Type == "overlay" {
		dir = t.TempDir()
		if err := snapshot.MountAt(m, dir); err != nil {
			t.Fatal(err)
		}
		defer snapshot.Unmount(dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func openStoreDriver(t *testing.T, driver string) *Store {
	t.Helper()
	s, err := Open(Options{
		Root:     t.TempDir(),
		Driver:   driver,
		Platform: &amd64,
		Registry: registry.Config{Backoff: func(int) time.Duration { return time.Millisecond }},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// state lists the files of the store that make up its content (not the
// ingest area of partial downloads, nor the lock).
func state(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(s.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(s.root, p)
		if rel == "lock" || strings.HasPrefix(rel, "content/ingest") || d.IsDir() && rel != "." && len(strings.Split(rel, "/")) <= 2 {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

var (
	baseTar = regtest.Tar(E{Name: "bin/", Type: tar.TypeDir}, E{Name: "bin/sh", Body: "#!/bin/busybox", Mode: 0o755}, E{Name: "etc/os-release", Body: "petrel test\n"})
	appTar  = regtest.Tar(E{Name: "app/run", Body: "app one", Mode: 0o755})
	app2Tar = regtest.Tar(E{Name: "app/run", Body: "app two", Mode: 0o755}, E{Name: "etc/.wh.os-release"})
)

func TestPullStoresAndUnpacks(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	im := regtest.MakeImage(amd64, []string{"/app/run"}, regtest.GzipLayer(baseTar), regtest.ZstdLayer(appTar))
	desc := reg.Push("team/app", "v1", im.Manifest, im.Blobs)
	s := openStore(t)
	var mu sync.Mutex
	statuses := map[string][]string{}
	img, err := s.Pull(context.Background(), reg.Host()+"/team/app:v1", PullOptions{Progress: func(p Progress) {
		mu.Lock()
		statuses[p.ID] = append(statuses[p.ID], p.Status)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if img.Manifest.Digest != desc.Digest || len(img.Layers) != 2 || img.Config == nil || img.Config.Config.Cmd[0] != "/app/run" {
		t.Fatalf("image %+v", img)
	}
	wantName := reg.Host() + "/team/app:v1"
	if !slices.Equal(img.Names, []string{wantName}) || len(img.Digests) != 1 || !strings.HasSuffix(img.Digests[0], "@"+string(desc.Digest)) {
		t.Errorf("names %v digests %v", img.Names, img.Digests)
	}
	for _, l := range img.Layers {
		st := statuses[l.Digest.Short()]
		if len(st) == 0 || st[len(st)-1] != StatusComplete || !slices.Contains(st, StatusDownloaded) {
			t.Errorf("layer %s progress %v", l.Digest.Short(), st)
		}
	}
	for _, q := range []string{wantName, string(img.ID), img.ID.Hex()[:8], img.Digests[0]} {
		got, err := s.Get(q)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v", q, err)
		}
	}
	if _, err := s.Get("nothere"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nothere) = %v", err)
	}
	if _, err := s.PrepareRootfs("c1", wantName); err != nil {
		t.Fatal(err)
	}
	b, c := readRootfs(t, s, "c1", "app/run"), readRootfs(t, s, "c1", "etc/os-release")
	if b != "app one" || c != "petrel test\n" {
		t.Errorf("rootfs: %q %q", b, c)
	}
	// Pulling again transfers no layer.
	reg.Requests()
	if _, err := s.Pull(context.Background(), wantName, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range reg.Requests() {
		if strings.Contains(q.Path, "/blobs/") {
			t.Errorf("second pull fetched %s", q.Path)
		}
	}
}

func TestPullPlatformSelection(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	var parts []regtest.ImageParts
	for _, p := range []manifest.Platform{amd64, {OS: "linux", Architecture: "arm", Variant: "v6"},
		{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "riscv64"}} {
		tarb := regtest.Tar(E{Name: "arch", Body: p.String()})
		parts = append(parts, regtest.MakeImage(p, nil, regtest.GzipLayer(tarb)))
	}
	idx := reg.PushIndex("multi", "latest", parts...)
	tests := []struct {
		want   string // --platform, "" for the store's (amd64)
		got    string
		errIs  error
		noPull bool
	}{
		{"", "linux/amd64", nil, false},
		{"linux/arm/v7", "linux/arm/v7", nil, false},
		{"linux/arm64", "linux/arm64/v8", nil, false},
		{"linux/riscv64", "linux/riscv64", nil, false},
		{"linux/s390x", "", nil, true},
	}
	for _, tt := range tests {
		s := openStore(t)
		var opt PullOptions
		if tt.want != "" {
			p, _ := manifest.ParsePlatform(tt.want)
			opt.Platform = &p
		}
		before := state(t, s)
		img, err := s.Pull(context.Background(), reg.Host()+"/multi", opt)
		if tt.noPull {
			var nm *manifest.NoMatchError
			if !errors.As(err, &nm) || !strings.Contains(err.Error(), "linux/riscv64") {
				t.Errorf("%s: %v, want a NoMatchError listing what there is", tt.want, err)
			}
			if after := state(t, s); !slices.Equal(before, after) {
				t.Errorf("%s: store changed: %v", tt.want, after)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.want, err)
		}
		if img.Platform.String() != tt.got || img.Index == nil || img.Index.Digest != idx.Digest {
			t.Errorf("%s: platform %s index %v", tt.want, img.Platform, img.Index)
		}
		if _, err := s.PrepareRootfs("c", string(img.ID)); err != nil {
			t.Fatal(err)
		}
		if b := readRootfs(t, s, "c", "arch"); b != tt.got {
			t.Errorf("%s: rootfs holds %q", tt.want, b)
		}
	}
}

// TestSharedLayers: two images on one base store and fetch it once, and
// removing one leaves the other whole.
func TestSharedLayers(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	base := regtest.GzipLayer(baseTar)
	one := regtest.MakeImage(amd64, nil, base, regtest.GzipLayer(appTar))
	two := regtest.MakeImage(amd64, nil, base, regtest.ZstdLayer(app2Tar))
	reg.Push("one", "latest", one.Manifest, one.Blobs)
	reg.Push("two", "latest", two.Manifest, two.Blobs)
	s := openStore(t)
	var statuses []string
	img1, err := s.Pull(context.Background(), reg.Host()+"/one", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img2, err := s.Pull(context.Background(), reg.Host()+"/two", PullOptions{Progress: func(p Progress) {
		if p.Digest == img1.Layers[0].Digest {
			statuses = append(statuses, p.Status)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	baseDigest := img1.Layers[0].Digest
	if img2.Layers[0].ChainID != img1.Layers[0].ChainID {
		t.Fatal("base chain IDs differ")
	}
	if n := len(regtest.BlobRequests(reg.Requests(), baseDigest)); n != 1 {
		t.Errorf("base layer fetched %d times, want 1", n)
	}
	if !slices.Equal(statuses, []string{StatusExists}) {
		t.Errorf("second pull reported %v for the shared layer", statuses)
	}
	layers, _ := s.snaps.Layers()
	if len(layers) != 3 {
		t.Errorf("%d unpacked layers, want 3 (base once)", len(layers))
	}
	u, err := s.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if u.LayerRefs[img1.Layers[0].ChainID] != 2 || u.LayerRefs[img1.Layers[1].ChainID] != 1 {
		t.Errorf("layer references %v", u.LayerRefs)
	}
	for _, iu := range u.Images {
		if iu.SharedSize == 0 || iu.SharedSize >= iu.Size {
			t.Errorf("image %s: size %d shared %d", iu.ID.Short(), iu.Size, iu.SharedSize)
		}
	}
	if _, err := s.Remove(reg.Host()+"/one", false); err != nil {
		t.Fatal(err)
	}
	if s.content.Has(img1.Layers[1].Digest) || s.snaps.Has(img1.Layers[1].ChainID) {
		t.Error("the removed image's own layer is still stored")
	}
	if !s.content.Has(baseDigest) || !s.snaps.Has(img1.Layers[0].ChainID) {
		t.Fatal("the shared base went with the removed image")
	}
	if _, err := s.PrepareRootfs("c2", reg.Host()+"/two"); err != nil {
		t.Fatal(err)
	}
	if b := readRootfs(t, s, "c2", "bin/sh"); b != "#!/bin/busybox" {
		t.Errorf("image two lost its base: %q", b)
	}
	if b := readRootfs(t, s, "c2", "etc/os-release"); !strings.HasPrefix(b, "<") {
		t.Error("whiteout of image two not applied")
	}
}

// TestPullResumes cuts a layer download halfway; the pull completes and
// the retry asks for the second half only.
func TestPullResumes(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	l := regtest.PlainLayer(regtest.Tar(E{Name: "big", Body: string(big)}))
	im := regtest.MakeImage(amd64, nil, l)
	reg.Push("big", "latest", im.Manifest, im.Blobs)
	d := digest.FromBytes(l.Blob)
	half := len(l.Blob) / 2
	reg.BlobHook = regtest.DropAfter(d, half)
	s := openStore(t)
	if _, err := s.Pull(context.Background(), reg.Host()+"/big", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs := regtest.BlobRequests(reg.Requests(), d)
	if len(reqs) != 2 || reqs[0].Range != "" || reqs[1].Range != "bytes="+strconv.Itoa(half)+"-" {
		t.Fatalf("blob requests %+v, want a full GET then bytes=%d-", reqs, half)
	}
}

func TestConcurrentDownloadsBounded(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	var layers []regtest.Layer
	for i := range 6 {
		layers = append(layers, regtest.GzipLayer(regtest.Tar(E{Name: "f" + strconv.Itoa(i), Body: strings.Repeat("x", i*1000)})))
	}
	im := regtest.MakeImage(amd64, nil, layers...)
	reg.Push("many", "latest", im.Manifest, im.Blobs)
	var mu sync.Mutex
	inFlight, peak := 0, 0
	reg.BlobHook = func(w http.ResponseWriter, r *http.Request, d digest.Digest, b []byte) bool {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		w.Write(b)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return true
	}
	s := openStore(t)
	s.maxDL = 2
	if _, err := s.Pull(context.Background(), reg.Host()+"/many", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if peak > 2 {
		t.Errorf("%d downloads at once, limit 2", peak)
	}
}

// TestHostilePulls: each bad image fails with a clear error and leaves the
// store as it was, even after a good image was pulled first.
func TestHostilePulls(t *testing.T) { testHostilePulls(t, "copy") }

func testHostilePulls(t *testing.T, driver string) {
	reg := regtest.New()
	defer reg.Close()
	good := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar))
	reg.Push("good", "latest", good.Manifest, good.Blobs)

	// A layer whose content does not match its digest.
	lieLayer := regtest.PlainLayer(regtest.Tar(E{Name: "lie", Body: "the truth"}))
	lie := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar), lieLayer)
	reg.Push("lie", "latest", lie.Manifest, lie.Blobs)
	reg.SetBlob(digest.FromBytes(lieLayer.Blob), regtest.Tar(E{Name: "lie", Body: "the lies!"}))

	// A truncated gzip stream (the digest is of the truncated bytes).
	truncTar := regtest.Tar(E{Name: "trunc", Body: strings.Repeat("truncated ", 100)})
	gz := regtest.Gzip(truncTar)
	trunc := regtest.Layer{Blob: gz[:len(gz)-20], MediaType: manifest.MediaTypeOCILayerGzip, DiffID: digest.FromBytes(truncTar)}
	tr := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar), trunc)
	reg.Push("trunc", "latest", tr.Manifest, tr.Blobs)

	// Path traversal, symlink escape, hard link escape.
	escapes := map[string][]byte{
		"dotdot":   regtest.Tar(E{Name: "../../etc/evil", Body: "x"}),
		"symlink":  regtest.Tar(E{Name: "l", Type: tar.TypeSymlink, Linkname: "../../../../etc"}),
		"hardlink": regtest.Tar(E{Name: "h", Type: tar.TypeLink, Linkname: "../../../etc/passwd"}),
	}
	for name, tb := range escapes {
		im := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar), regtest.GzipLayer(tb))
		reg.Push("escape-"+name, "latest", im.Manifest, im.Blobs)
	}

	// A diff ID in the config that the layer does not have.
	badDiff := regtest.GzipLayer(regtest.Tar(E{Name: "diffid", Body: "x"}))
	badDiff.DiffID = digest.FromBytes([]byte("something else"))
	bd := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar), badDiff)
	reg.Push("diffid", "latest", bd.Manifest, bd.Blobs)

	// A single manifest for another platform only.
	arm := regtest.MakeImage(manifest.Platform{OS: "linux", Architecture: "arm64"}, nil, regtest.GzipLayer(regtest.Tar(E{Name: "arm"})))
	reg.Push("armonly", "latest", arm.Manifest, arm.Blobs)

	tests := []struct {
		repo string
		is   error
		msg  string
	}{
		{"lie", digest.ErrMismatch, "digest mismatch"},
		{"trunc", nil, "truncated"},
		{"escape-dotdot", unpack.ErrHostile, "escapes"},
		{"escape-symlink", unpack.ErrHostile, "points outside the root"},
		{"escape-hardlink", unpack.ErrHostile, "points outside the root"},
		{"diffid", digest.ErrMismatch, "does not match the image config"},
		{"armonly", ErrPlatform, "linux/arm64/v8 only, not linux/amd64"},
		{"absent", registry.ErrNotFound, "MANIFEST_UNKNOWN"},
	}
	s := openStoreDriver(t, driver)
	if _, err := s.Pull(context.Background(), reg.Host()+"/good", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	before := state(t, s)
	for _, tt := range tests {
		_, err := s.Pull(context.Background(), reg.Host()+"/"+tt.repo, PullOptions{})
		if err == nil || tt.is != nil && !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: Pull = %v, want an error with %q", tt.repo, err, tt.msg)
		}
		if after := state(t, s); !slices.Equal(before, after) {
			var added []string
			for _, f := range after {
				if !slices.Contains(before, f) {
					added = append(added, f)
				}
			}
			t.Errorf("%s: the store changed: %d files before, %d after, new: %v", tt.repo, len(before), len(after), added)
		}
	}
	imgs, _ := s.List()
	if len(imgs) != 1 {
		t.Errorf("%d images after the failures, want 1", len(imgs))
	}
}

func TestRemoveAndTag(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	im := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar))
	reg.Push("app", "latest", im.Manifest, im.Blobs)
	s := openStore(t)
	img, err := s.Pull(context.Background(), reg.Host()+"/app", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(reg.Host()+"/app", "mine:v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("nothere", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag of a missing image: %v", err)
	}
	got, _ := s.Get("mine:v1")
	if got == nil || got.ID != img.ID || len(got.Names) != 2 {
		t.Fatalf("after tag: %+v", got)
	}
	if _, err := s.Remove(string(img.ID), false); !errors.Is(err, ErrConflict) {
		t.Errorf("remove by ID with two names: %v", err)
	}
	r, err := s.Remove("mine:v1", false)
	if err != nil || len(r.Deleted) != 0 || !slices.Equal(r.Untagged, []string{"docker.io/library/mine:v1"}) {
		t.Fatalf("untag: %+v %v", r, err)
	}
	if _, err := s.PrepareRootfs("ctr", string(img.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(reg.Host()+"/app", false); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "ctr") {
		t.Fatalf("remove of an image in use: %v", err)
	}
	r, err = s.Remove(reg.Host()+"/app", true)
	if err != nil || len(r.Deleted) != 1 {
		t.Fatalf("forced remove: %+v %v", r, err)
	}
	// The container keeps its layers until its rootfs goes.
	if !s.snaps.Has(img.Layers[0].ChainID) {
		t.Fatal("forced remove took the layers of a container")
	}
	if err := s.RemoveRootfs("ctr"); err != nil {
		t.Fatal(err)
	}
	if s.snaps.Has(img.Layers[0].ChainID) || s.content.Has(img.Layers[0].Digest) {
		t.Error("layers kept after the last user went")
	}
	if imgs, _ := s.List(); len(imgs) != 0 {
		t.Errorf("%d images left", len(imgs))
	}
}

func TestStoreLocked(t *testing.T) {
	root := t.TempDir()
	s, err := Open(Options{Root: root, Driver: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(Options{Root: root, Driver: "copy"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

// dockerImage pushes an image with Docker schema 2 media types and
// returns its manifest descriptor.
func dockerImage(t *testing.T, reg *regtest.Registry, repo string, p manifest.Platform, tarBytes []byte) manifest.Descriptor {
	t.Helper()
	blob := regtest.Gzip(tarBytes)
	ld := reg.PutBlob(blob)
	cfg, _ := json.Marshal(manifest.Image{Architecture: p.Architecture, OS: p.OS, Variant: p.Variant,
		RootFS: manifest.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tarBytes)}}})
	cd := reg.PutBlob(cfg)
	m, _ := json.Marshal(manifest.Manifest{SchemaVersion: 2, MediaType: manifest.MediaTypeDockerManifest,
		Config: manifest.Descriptor{MediaType: manifest.MediaTypeDockerConfig, Digest: cd, Size: int64(len(cfg))},
		Layers: []manifest.Descriptor{{MediaType: manifest.MediaTypeDockerLayer, Digest: ld, Size: int64(len(blob))}}})
	d := reg.PutManifest(repo, "", manifest.MediaTypeDockerManifest, m)
	d.Platform = &p
	return d
}

func TestPullDockerSchema2(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	arm := manifest.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	list, _ := json.Marshal(manifest.Index{SchemaVersion: 2, MediaType: manifest.MediaTypeDockerManifestList, Manifests: []manifest.Descriptor{
		dockerImage(t, reg, "docker", amd64, regtest.Tar(E{Name: "arch", Body: "amd64"})),
		dockerImage(t, reg, "docker", arm, regtest.Tar(E{Name: "arch", Body: "arm"})),
	}})
	ld := reg.PutManifest("docker", "list", manifest.MediaTypeDockerManifestList, list)
	s := openStore(t)
	img, err := s.Pull(context.Background(), reg.Host()+"/docker:list", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Manifest.MediaType != manifest.MediaTypeDockerManifest || img.Index == nil || img.Index.MediaType != manifest.MediaTypeDockerManifestList {
		t.Errorf("media types: manifest %s, index %+v", img.Manifest.MediaType, img.Index)
	}
	// By digest, with a platform override.
	img2, err := s.Pull(context.Background(), reg.Host()+"/docker@"+string(ld.Digest), PullOptions{Platform: &arm})
	if err != nil {
		t.Fatal(err)
	}
	if img2.Platform.String() != "linux/arm/v7" || len(img2.Names) != 0 || len(img2.Digests) != 1 {
		t.Errorf("pull by digest: platform %s names %v digests %v", img2.Platform, img2.Names, img2.Digests)
	}
	if got := rootfsFile(t, s, "c", string(img2.ID), "arch"); got != "arm" {
		t.Errorf("rootfs %q", got)
	}
}

// TestBadPartialIsRefetched: a partial download left from before whose
// bytes are wrong is dropped and the blob fetched again from the start.
func TestBadPartialIsRefetched(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	l := regtest.PlainLayer(regtest.Tar(E{Name: "f", Body: strings.Repeat("good ", 2000)}))
	im := regtest.MakeImage(amd64, nil, l)
	reg.Push("app", "latest", im.Manifest, im.Blobs)
	s := openStore(t)
	d := digest.FromBytes(l.Blob)
	w, err := s.content.Writer(d, int64(len(l.Blob)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("garbage left by a crash"))
	w.Close()
	if _, err := s.Pull(context.Background(), reg.Host()+"/app", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs := regtest.BlobRequests(reg.Requests(), d)
	if len(reqs) != 2 || reqs[0].Range == "" || reqs[1].Range != "" {
		t.Errorf("requests %+v, want a resume then a full fetch", reqs)
	}
}

// TestStreamedPullRecovers breaks transfers of a big layer in two ways —
// a cut the client resumes with a Range request, and a registry that then
// ignores the Range and sends everything again — and checks the unpacked
// file, whatever the driver (overlay unpacks while downloading).
func TestStreamedPullRecovers(t *testing.T) {
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>12)
	}
	for _, ignoreRange := range []bool{false, true} {
		reg := regtest.New()
		l := regtest.GzipLayer(regtest.Tar(E{Name: "big", Body: string(big)}))
		im := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar), l)
		reg.Push("big", "latest", im.Manifest, im.Blobs)
		d := digest.FromBytes(l.Blob)
		cut := regtest.DropAfter(d, len(l.Blob)/3)
		reg.BlobHook = func(w http.ResponseWriter, r *http.Request, got digest.Digest, b []byte) bool {
			if cut(w, r, got, b) {
				return true
			}
			if ignoreRange && got == d {
				w.Write(b) // 200 with everything
				return true
			}
			return false
		}
		s := openStore(t)
		img, err := s.Pull(context.Background(), reg.Host()+"/big", PullOptions{})
		if err != nil {
			t.Fatalf("ignoreRange=%v: %v", ignoreRange, err)
		}
		if _, err := s.PrepareRootfs("c", string(img.ID)); err != nil {
			t.Fatal(err)
		}
		if got := readRootfs(t, s, "c", "big"); got != string(big) {
			t.Errorf("ignoreRange=%v: big file differs (%d bytes)", ignoreRange, len(got))
		}
		if got := readRootfs(t, s, "c", "bin/sh"); got != "#!/bin/busybox" {
			t.Errorf("ignoreRange=%v: base layer: %q", ignoreRange, got)
		}
		reg.Close()
	}
}

// TestConcurrentPulls pulls one image from two goroutines at once: both
// succeed and the layers are stored once.
func TestConcurrentPulls(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	big := strings.Repeat("concurrent ", 100000)
	im := regtest.MakeImage(amd64, nil, regtest.GzipLayer(baseTar), regtest.ZstdLayer(regtest.Tar(E{Name: "big", Body: big})))
	reg.Push("app", "latest", im.Manifest, im.Blobs)
	s := openStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Pull(context.Background(), reg.Host()+"/app", PullOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
	if layers, _ := s.snaps.Layers(); len(layers) != 2 {
		t.Errorf("%d layers, want 2", len(layers))
	}
	if _, err := s.PrepareRootfs("c", reg.Host()+"/app"); err != nil {
		t.Fatal(err)
	}
	if got := readRootfs(t, s, "c", "big"); got != big {
		t.Errorf("big file: %d bytes", len(got))
	}
}
