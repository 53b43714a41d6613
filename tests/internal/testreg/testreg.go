// Package testreg runs a private docker-registry on loopback for
// end-to-end tests and pushes small busybox images to it with skopeo.
// Missing prerequisites fail the test under CI=true and skip it
// otherwise (testenv.Require).
package testreg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// A Registry is a docker-registry process on 127.0.0.1.
type Registry struct {
	Host       string // 127.0.0.1:port
	User, Pass string // basic auth, when set
}

// Start runs docker-registry on a free loopback port with its own
// storage; with user set it requires basic auth from an htpasswd file.
func Start(t testing.TB, user, pass string) *Registry {
	t.Helper()
	testenv.LookPath(t, "docker-registry")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n",
		filepath.Join(dir, "data"), port)
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: petrel-test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry log:\n%s", logs.String())
		}
	})
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), User: user, Pass: pass}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BusyboxLayer is a gzip layer holding Debian's static busybox, its
// applet links, /etc/passwd and /etc/group, and the usual directories.
func BusyboxLayer(t testing.TB) []byte {
	t.Helper()
	const bb = "/bin/busybox"
	data, err := os.ReadFile(bb)
	testenv.Require(t, err == nil, "static busybox at /bin/busybox (Debian busybox-static)")
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mtime := time.Unix(1700000000, 0)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = mtime
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	for _, d := range []string{"bin/", "dev/", "etc/", "proc/", "root/", "sys/", "srv/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, data)
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
		}
	}
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg}, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"))
	add(&tar.Header{Name: "etc/group", Typeflag: tar.TypeReg}, []byte("root:x:0:\nnogroup:x:65534:\n"))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// Image describes a test image: a busybox layer, an optional extra
// layer, and the runtime config.
type Image struct {
	Config manifest.Config
	Extra  map[string]string // files of a second layer: path → content
	// Platform defaults to the host's.
	Platform *manifest.Platform
}

// Push builds img as an OCI layout and copies it to the registry as
// repo:tag with skopeo; it returns the manifest digest.
func (r *Registry) Push(t testing.TB, repo, tag string, img Image) digest.Digest {
	t.Helper()
	testenv.LookPath(t, "skopeo")
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	put := func(b []byte, mt string) manifest.Descriptor {
		d := digest.FromBytes(b)
		if err := os.WriteFile(filepath.Join(blobs, d.Hex()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return manifest.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
	}
	layers := [][]byte{BusyboxLayer(t)}
	if len(img.Extra) > 0 {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for name, body := range img.Extra {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)})
			tw.Write([]byte(body))
		}
		tw.Close()
		zw.Close()
		layers = append(layers, buf.Bytes())
	}
	p := manifest.Host()
	if img.Platform != nil {
		p = *img.Platform
	}
	created := time.Unix(1700000000, 0).UTC()
	cfg := manifest.Image{Created: &created, Architecture: p.Architecture, OS: p.OS, Variant: p.Variant, Config: img.Config,
		RootFS: manifest.RootFS{Type: "layers"}}
	m := manifest.Manifest{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIManifest}
	for _, l := range layers {
		zr, err := gzip.NewReader(bytes.NewReader(l))
		if err != nil {
			t.Fatal(err)
		}
		diffID, _, err := digest.FromReader(zr)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		m.Layers = append(m.Layers, put(l, manifest.MediaTypeOCILayerGzip))
	}
	cb, _ := json.Marshal(cfg)
	m.Config = put(cb, manifest.MediaTypeOCIConfig)
	mb, _ := json.Marshal(m)
	md := put(mb, manifest.MediaTypeOCIManifest)
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	index, _ := json.Marshal(manifest.Index{SchemaVersion: 2, Manifests: []manifest.Descriptor{md}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"copy", "--dest-tls-verify=false"}
	if r.User != "" {
		args = append(args, "--dest-creds", r.User+":"+r.Pass)
	}
	args = append(args, "oci:"+dir+":"+tag, "docker://"+r.Host+"/"+repo+":"+tag)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "skopeo", args...).CombinedOutput(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return md.Digest
}
