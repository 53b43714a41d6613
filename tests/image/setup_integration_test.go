//go:build integration

package image

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

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/bcrypt"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
)

// require fails under CI and skips elsewhere when a prerequisite is missing.
func require(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite: %s", what)
	}
	t.Skipf("missing prerequisite: %s", what)
}

func requireTools(t *testing.T) {
	t.Helper()
	require(t, os.Geteuid() == 0, "root")
	for _, tool := range []string{"docker-registry", "skopeo"} {
		_, err := exec.LookPath(tool)
		require(t, err == nil, tool+" (apt-get install "+tool+")")
	}
	_, err := os.Stat(busyboxPath)
	require(t, err == nil, busyboxPath+" (apt-get install busybox-static)")
}

const busyboxPath = "/bin/busybox"

// A testRegistry is a docker-registry process on loopback.
type testRegistry struct {
	host string // 127.0.0.1:port
	user string
	pass string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRegistry runs docker-registry with its own config and storage;
// with user set it requires basic auth from an htpasswd file.
func startRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	var auth string
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("htpasswd:\n    realm: petrel-test\n    path: %s\n", htpasswd)
	}
	r := startRegistryWithAuth(t, auth)
	r.user, r.pass = user, pass
	return r
}

// startRegistryWithAuth runs docker-registry with auth, the YAML under the
// config's auth: key ("" for none).
func startRegistryWithAuth(t *testing.T, auth string) *testRegistry {
	t.Helper()
	return startRegistryConfig(t, t.TempDir(), auth, "")
}

// startRegistryConfig runs docker-registry storing in dir, with auth (YAML
// under auth:) and extra top-level YAML.
func startRegistryConfig(t *testing.T, dir, auth, extra string) *testRegistry {
	t.Helper()
	port := freePort(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
`, filepath.Join(dir, "data"), port)
	if auth != "" {
		cfg += "auth:\n  " + auth
	}
	cfg += extra
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
	r := &testRegistry{host: fmt.Sprintf("127.0.0.1:%d", port)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// A layer of a test image.
type layer struct {
	blob      []byte
	mediaType string
	diffID    digest.Digest
}

type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func tarOf(t *testing.T, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// busyboxTar is a root filesystem with Debian's static busybox and a few
// applet links.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	es := []entry{{name: "bin/", typ: tar.TypeDir}, {name: "bin/busybox", body: string(bb), mode: 0o755}}
	for _, a := range []string{"sh", "ls", "cat", "echo", "true"} {
		es = append(es, entry{name: "bin/" + a, typ: tar.TypeSymlink, link: "busybox"})
	}
	es = append(es, entry{name: "etc/", typ: tar.TypeDir}, entry{name: "etc/os-release", body: "NAME=petrel-test\n"},
		entry{name: "tmp/", typ: tar.TypeDir, mode: 0o1777})
	return tarOf(t, es...)
}

func gzipLayer(t *testing.T, tb []byte) layer {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(tb)
	zw.Close()
	return layer{buf.Bytes(), manifest.MediaTypeOCILayerGzip, digest.FromBytes(tb)}
}

func zstdLayer(t *testing.T, tb []byte) layer {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return layer{enc.EncodeAll(tb, nil), manifest.MediaTypeOCILayerZstd, digest.FromBytes(tb)}
}

// An ociLayout is an OCI image layout directory the tests write and
// skopeo pushes.
type ociLayout struct {
	dir string
	t   *testing.T
}

func newLayout(t *testing.T) *ociLayout {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return &ociLayout{dir: dir, t: t}
}

func (o *ociLayout) blob(b []byte) manifest.Descriptor {
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(o.dir, "blobs", "sha256", d.Hex()), b, 0o644); err != nil {
		o.t.Fatal(err)
	}
	return manifest.Descriptor{Digest: d, Size: int64(len(b))}
}

// image writes config and manifest for layers on p and returns the
// manifest's descriptor.
func (o *ociLayout) image(p manifest.Platform, cmd []string, layers ...layer) manifest.Descriptor {
	created := time.Unix(1700000000, 0).UTC()
	img := manifest.Image{Created: &created, Architecture: p.Architecture, OS: p.OS, Variant: p.Variant,
		Config: manifest.Config{Cmd: cmd, Env: []string{"PATH=/bin"}}, RootFS: manifest.RootFS{Type: "layers"}}
	m := manifest.Manifest{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIManifest}
	for _, l := range layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.diffID)
		d := o.blob(l.blob)
		d.MediaType = l.mediaType
		m.Layers = append(m.Layers, d)
	}
	cb, _ := json.Marshal(img)
	m.Config = o.blob(cb)
	m.Config.MediaType = manifest.MediaTypeOCIConfig
	mb, _ := json.Marshal(m)
	d := o.blob(mb)
	d.MediaType = manifest.MediaTypeOCIManifest
	pc := p
	d.Platform = &pc
	return d
}

// index writes an index of manifests and returns its descriptor.
func (o *ociLayout) index(ms ...manifest.Descriptor) manifest.Descriptor {
	x := manifest.Index{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIIndex, Manifests: ms}
	xb, _ := json.Marshal(x)
	d := o.blob(xb)
	d.MediaType = manifest.MediaTypeOCIIndex
	return d
}

// tag makes the layout's index.json name d as tag.
func (o *ociLayout) tag(tag string, d manifest.Descriptor) {
	d.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	d.Platform = nil
	top := manifest.Index{SchemaVersion: 2, Manifests: []manifest.Descriptor{d}}
	b, _ := json.Marshal(top)
	if err := os.WriteFile(filepath.Join(o.dir, "index.json"), b, 0o644); err != nil {
		o.t.Fatal(err)
	}
}

// push copies the layout's tag to the registry as repo:tag with skopeo.
func (o *ociLayout) push(r *testRegistry, tag, repo string) {
	o.t.Helper()
	args := []string{"copy", "--all", "--dest-tls-verify=false"}
	if r.user != "" {
		args = append(args, "--dest-creds", r.user+":"+r.pass)
	}
	args = append(args, "oci:"+o.dir+":"+tag, "docker://"+r.host+"/"+repo+":"+tag)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "skopeo", args...).CombinedOutput()
	if err != nil {
		o.t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func hostPlatform() manifest.Platform { return manifest.Host() }

func listen(port int) (net.Listener, error) {
	return net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
}
