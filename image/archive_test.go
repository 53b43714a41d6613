package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/image/content"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/internal/regtest"
	"github.com/petrel-edge/petrel/image/manifest"
)

type member struct {
	name, link string
	body       []byte
}

func tarOf(ms ...member) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg}
		if m.link != "" {
			h = &tar.Header{Name: m.name, Linkname: m.link, Typeflag: tar.TypeSymlink}
		}
		tw.WriteHeader(h)
		tw.Write(m.body)
	}
	tw.Close()
	return buf.Bytes()
}

func rootfsFile(t *testing.T, s *Store, key, image, file string) string {
	t.Helper()
	if _, err := s.PrepareRootfs(key, image); err != nil {
		t.Fatal(err)
	}
	return readRootfs(t, s, key, file)
}

func TestSaveLoadRoundTrip(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	im := regtest.MakeImage(amd64, []string{"/app/run"}, regtest.GzipLayer(baseTar), regtest.ZstdLayer(appTar))
	reg.Push("app", "v1", im.Manifest, im.Blobs)
	a := openStore(t)
	img, err := a.Pull(context.Background(), reg.Host()+"/app:v1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Tag(string(img.ID), "local/app:saved"); err != nil {
		t.Fatal(err)
	}
	img, _ = a.Get(string(img.ID))
	var buf bytes.Buffer
	if err := a.Save(&buf, []string{string(img.ID)}); err != nil {
		t.Fatal(err)
	}
	// Both layouts are in the archive.
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		names[h.Name] = true
	}
	for _, n := range []string{"oci-layout", "index.json", "manifest.json", "blobs/sha256/" + img.ID.Hex()} {
		if !names[n] {
			t.Errorf("archive lacks %s", n)
		}
	}
	b := openStore(t)
	// Through a pipe: Load reads once.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(a.Save(pw, []string{string(img.ID)})) }()
	imgs, err := b.Load(context.Background(), pr, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ID != img.ID || len(img.Names) != 2 || !slices.Equal(imgs[0].Names, img.Names) {
		t.Fatalf("loaded %+v, want ID %s names %v", imgs, img.ID, img.Names)
	}
	if got := rootfsFile(t, b, "c", "local/app:saved", "app/run"); got != "app one" {
		t.Errorf("loaded rootfs: %q", got)
	}
	// Nothing unreferenced stays behind.
	n := 0
	b.content.Walk(func(content.Info) error { n++; return nil })
	if want := 2 + len(img.Layers); n != want {
		t.Errorf("%d blobs after load, want %d", n, want)
	}
}

// TestLoadDockerArchive loads the layout of docker save before Docker 25:
// <id>/layer.tar members, a symlinked duplicate, manifest.json last.
func TestLoadDockerArchive(t *testing.T) {
	cfg := manifest.Image{Architecture: "amd64", OS: "linux", RootFS: manifest.RootFS{Type: "layers",
		DiffIDs: []digest.Digest{digest.FromBytes(baseTar), digest.FromBytes(appTar), digest.FromBytes(baseTar)}}}
	cb, _ := json.Marshal(cfg)
	cname := digest.FromBytes(cb).Hex() + ".json"
	man, _ := json.Marshal([]dockerManifest{{Config: cname, RepoTags: []string{"busybox:test"},
		Layers: []string{"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"}}})
	arch := tarOf(
		member{name: "aaa/layer.tar", body: baseTar},
		member{name: "bbb/layer.tar", body: regtest.Gzip(appTar)},
		member{name: "ccc/layer.tar", link: "../aaa/layer.tar"},
		member{name: cname, body: cb},
		member{name: "repositories", body: []byte(`{}`)},
		member{name: "manifest.json", body: man},
	)
	s := openStore(t)
	imgs, err := s.Load(context.Background(), bytes.NewReader(regtest.Gzip(arch)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !slices.Equal(imgs[0].Names, []string{"docker.io/library/busybox:test"}) {
		t.Fatalf("loaded %+v", imgs)
	}
	if imgs[0].Layers[1].MediaType != manifest.MediaTypeOCILayerGzip {
		t.Errorf("gzip layer recorded as %s", imgs[0].Layers[1].MediaType)
	}
	if got := rootfsFile(t, s, "c", "busybox:test", "bin/sh"); got != "#!/bin/busybox" {
		t.Errorf("rootfs: %q", got)
	}
}

func TestLoadRefusesCorruptBlob(t *testing.T) {
	bad := digest.FromBytes([]byte("what the name says"))
	arch := tarOf(
		member{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		member{name: "blobs/sha256/" + bad.Hex(), body: []byte("something else")},
		member{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[]}`)},
	)
	s := openStore(t)
	before := state(t, s)
	_, err := s.Load(context.Background(), bytes.NewReader(arch), LoadOptions{})
	if !errors.Is(err, digest.ErrMismatch) {
		t.Fatalf("Load = %v, want a digest mismatch", err)
	}
	if after := state(t, s); !slices.Equal(before, after) {
		t.Errorf("store changed: %v", after)
	}
	if _, err := s.Load(context.Background(), bytes.NewReader(tarOf(member{name: "x", body: []byte("y")})), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "not a docker-archive or OCI layout") {
		t.Errorf("Load of a random tar = %v", err)
	}
}

func TestLoadOCIIndexPlatform(t *testing.T) {
	amd := regtest.MakeImage(amd64, nil, regtest.GzipLayer(regtest.Tar(E{Name: "arch", Body: "amd64"})))
	arm := regtest.MakeImage(manifest.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, nil, regtest.GzipLayer(regtest.Tar(E{Name: "arch", Body: "arm"})))
	x := manifest.Index{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIIndex, Manifests: []manifest.Descriptor{amd.Desc, arm.Desc}}
	xb, _ := json.Marshal(x)
	xd := digest.FromBytes(xb)
	top := manifest.Index{SchemaVersion: 2, Manifests: []manifest.Descriptor{{MediaType: manifest.MediaTypeOCIIndex, Digest: xd, Size: int64(len(xb)),
		Annotations: map[string]string{annotationRefName: "v2"}}}}
	tb, _ := json.Marshal(top)
	ms := []member{{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {name: "blobs/sha256/" + xd.Hex(), body: xb}}
	for _, im := range []regtest.ImageParts{amd, arm} {
		ms = append(ms, member{name: "blobs/sha256/" + im.Desc.Digest.Hex(), body: im.Manifest})
		for d, b := range im.Blobs {
			ms = append(ms, member{name: "blobs/sha256/" + d.Hex(), body: b})
		}
	}
	ms = append(ms, member{name: "index.json", body: tb})
	s := openStore(t)
	p, _ := manifest.ParsePlatform("linux/arm/v7")
	imgs, err := s.Load(context.Background(), bytes.NewReader(tarOf(ms...)), LoadOptions{Platform: &p, Name: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Platform.String() != "linux/arm/v7" || !slices.Equal(imgs[0].Names, []string{"docker.io/library/multi:v2"}) {
		t.Fatalf("loaded %+v", imgs[0])
	}
	if got := rootfsFile(t, s, "c", "multi:v2", "arch"); got != "arm" {
		t.Errorf("rootfs holds %q", got)
	}
}

func TestImportExport(t *testing.T) {
	s := openStore(t)
	rootfs := regtest.Tar(E{Name: "bin/", Type: tar.TypeDir}, E{Name: "bin/hello", Body: "hi", Mode: 0o755},
		E{Name: "bin/hi", Type: tar.TypeLink, Linkname: "bin/hello"}, E{Name: "sh", Type: tar.TypeSymlink, Linkname: "/bin/hello"})
	img, err := s.Import(context.Background(), bytes.NewReader(regtest.Zstd(rootfs)), ImportOptions{Name: "imported:v1",
		Config: manifest.Config{Cmd: []string{"/bin/hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	if img.Config == nil || img.Config.Config.Cmd[0] != "/bin/hello" || img.Layers[0].DiffID != digest.FromBytes(rootfs) ||
		img.Layers[0].MediaType != manifest.MediaTypeOCILayerZstd || img.Platform.String() != "linux/amd64" {
		t.Fatalf("imported %+v", img)
	}
	if _, err := s.PrepareRootfs("c1", "imported:v1"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.Snapshots().UpperDir("c1"), "new"), []byte("written"), 0o644)
	var buf bytes.Buffer
	if err := s.Export("c1", &buf); err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(&buf)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		got[h.Name] = h
	}
	if got["bin/hello"] == nil || got["new"] == nil || got["sh"] == nil || got["sh"].Linkname != "/bin/hello" ||
		got["bin/hi"] == nil || (got["bin/hi"].Typeflag != tar.TypeLink && got["bin/hello"].Typeflag != tar.TypeLink) {
		t.Errorf("export holds %v", got)
	}
	if _, err := s.Import(context.Background(), strings.NewReader("not a tar at all, not even close"), ImportOptions{}); err == nil {
		t.Error("import of garbage succeeded")
	}
	if imgs, _ := s.List(); len(imgs) != 1 {
		t.Errorf("%d images after a failed import", len(imgs))
	}
}
