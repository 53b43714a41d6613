//go:build integration

package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/registry"
	"github.com/petrel-edge/petrel/image/snapshot"
)

func openStore(t *testing.T, cfg registry.Config) *image.Store {
	t.Helper()
	s, err := image.Open(image.Options{Root: t.TempDir(), Registry: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runIn mounts the rootfs of key and runs argv in it (chroot), returning
// its output: the image is not only stored but usable.
func runIn(t *testing.T, s *image.Store, key string, argv ...string) string {
	t.Helper()
	m, err := s.RootfsMount(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := snapshot.MountAt(m, dir); err != nil {
		t.Fatal(err)
	}
	defer snapshot.Unmount(dir)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run %v in %s: %v\n%s", argv, key, err, out)
	}
	return string(out)
}

func TestPullFromRegistry(t *testing.T) {
	requireTools(t)
	reg := startRegistry(t, "", "")
	bb := busyboxTar(t)
	o := newLayout(t)
	// Single-arch, gzip.
	o.tag("gzip", o.image(hostPlatform(), []string{"sh"}, gzipLayer(t, bb)))
	o.push(reg, "gzip", "petrel/busybox")
	// Single-arch, zstd base plus a gzip layer on top.
	app := tarOf(t, entry{name: "app/hello", body: "hello from petrel\n"})
	o.tag("zstd", o.image(hostPlatform(), []string{"sh"}, zstdLayer(t, bb), gzipLayer(t, app)))
	o.push(reg, "zstd", "petrel/busybox")
	// Multi-arch index: the host gets busybox, the others a marker.
	entries := []manifest.Descriptor{o.image(hostPlatform(), []string{"sh"}, gzipLayer(t, bb))}
	for _, p := range []string{"linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/riscv64"} {
		pl, _ := manifest.ParsePlatform(p)
		if pl.String() == hostPlatform().String() {
			continue
		}
		entries = append(entries, o.image(pl, nil, zstdLayer(t, tarOf(t, entry{name: "platform", body: p}))))
	}
	o.tag("multi", o.index(entries...))
	o.push(reg, "multi", "petrel/busybox")

	s := openStore(t, registry.Config{})
	ctx := context.Background()
	for _, tag := range []string{"gzip", "zstd", "multi"} {
		img, err := s.Pull(ctx, reg.host+"/petrel/busybox:"+tag, image.PullOptions{})
		if err != nil {
			t.Fatalf("pull %s: %v", tag, err)
		}
		if (tag == "multi") != (img.Index != nil) {
			t.Errorf("%s: index %v", tag, img.Index)
		}
		if _, err := s.PrepareRootfs("c-"+tag, string(img.ID)); err != nil {
			t.Fatal(err)
		}
		if out := runIn(t, s, "c-"+tag, "/bin/busybox", "cat", "/etc/os-release"); out != "NAME=petrel-test\n" {
			t.Errorf("%s: os-release %q", tag, out)
		}
	}
	if out := runIn(t, s, "c-zstd", "/bin/cat", "/app/hello"); out != "hello from petrel\n" {
		t.Errorf("zstd image: %q", out)
	}
	// --platform picks another entry of the index.
	for _, p := range []string{"linux/arm/v7", "linux/riscv64"} {
		pl, _ := manifest.ParsePlatform(p)
		img, err := s.Pull(ctx, reg.host+"/petrel/busybox:multi", image.PullOptions{Platform: &pl})
		if err != nil {
			t.Fatalf("pull --platform %s: %v", p, err)
		}
		if img.Platform.String() != p {
			t.Errorf("--platform %s gave %s", p, img.Platform)
		}
	}
	// A platform the index lacks: a clear error.
	pl, _ := manifest.ParsePlatform("linux/s390x")
	_, err := s.Pull(ctx, reg.host+"/petrel/busybox:multi", image.PullOptions{Platform: &pl})
	var nm *manifest.NoMatchError
	if !errors.As(err, &nm) {
		t.Errorf("pull for s390x: %v", err)
	}
}

func TestPullWithBasicAuth(t *testing.T) {
	requireTools(t)
	reg := startRegistry(t, "petrel", "s3cret")
	o := newLayout(t)
	o.tag("v1", o.image(hostPlatform(), []string{"sh"}, gzipLayer(t, busyboxTar(t))))
	o.push(reg, "v1", "private/busybox")

	creds := registry.NewCredentials(filepath.Join(t.TempDir(), "auth.json"))
	s := openStore(t, registry.Config{Credentials: creds})
	ctx := context.Background()
	name := reg.host + "/private/busybox:v1"
	if _, err := s.Pull(ctx, name, image.PullOptions{}); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("anonymous pull from a private registry: %v", err)
	}
	if err := s.Registry().Login(ctx, reg.host, "petrel", "wrong"); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if err := s.Registry().Login(ctx, reg.host, "petrel", "s3cret"); err != nil {
		t.Fatal(err)
	}
	img, err := s.Pull(ctx, name, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PrepareRootfs("c", string(img.ID)); err != nil {
		t.Fatal(err)
	}
	if out := runIn(t, s, "c", "/bin/echo", "ok"); out != "ok\n" {
		t.Errorf("echo: %q", out)
	}
	if err := s.Registry().Logout(reg.host); err != nil {
		t.Fatal(err)
	}
}

// TestSharedLayersAndRmi: two images on one busybox base store it once;
// removing one leaves the other runnable.
func TestSharedLayersAndRmi(t *testing.T) {
	requireTools(t)
	reg := startRegistry(t, "", "")
	base := gzipLayer(t, busyboxTar(t))
	o := newLayout(t)
	o.tag("one", o.image(hostPlatform(), nil, base, gzipLayer(t, tarOf(t, entry{name: "who", body: "one"}))))
	o.push(reg, "one", "app")
	o.tag("two", o.image(hostPlatform(), nil, base, zstdLayer(t, tarOf(t, entry{name: "who", body: "two"}))))
	o.push(reg, "two", "app")

	s := openStore(t, registry.Config{})
	ctx := context.Background()
	one, err := s.Pull(ctx, reg.host+"/app:one", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	two, err := s.Pull(ctx, reg.host+"/app:two", image.PullOptions{Progress: func(p image.Progress) {
		if p.Digest == one.Layers[0].Digest {
			statuses = append(statuses, p.Status)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0] != image.StatusExists {
		t.Errorf("shared base during the second pull: %v", statuses)
	}
	layers, _ := s.Snapshots().Layers()
	if len(layers) != 3 {
		t.Errorf("%d unpacked layers, want 3", len(layers))
	}
	if _, err := s.Remove(reg.host+"/app:one", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PrepareRootfs("c2", string(two.ID)); err != nil {
		t.Fatal(err)
	}
	if out := runIn(t, s, "c2", "/bin/cat", "/who"); out != "two" {
		t.Errorf("image two after rmi of one: %q", out)
	}
}

// TestPullResumesThroughProxy puts a proxy on loopback in front of the
// registry that cuts the first transfer of the big layer halfway; the pull
// completes and the retry asks only for the second half.
func TestPullResumesThroughProxy(t *testing.T) {
	requireTools(t)
	reg := startRegistry(t, "", "")
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i*131 + i/4096)
	}
	l := gzipLayer(t, tarOf(t, entry{name: "big", body: string(big)}))
	o := newLayout(t)
	o.tag("big", o.image(hostPlatform(), nil, gzipLayer(t, busyboxTar(t)), l))
	o.push(reg, "big", "big")
	bigDigest := digest.FromBytes(l.blob)

	upstream, _ := url.Parse("http://" + reg.host)
	rp := httputil.NewSingleHostReverseProxy(upstream)
	var mu sync.Mutex
	var ranges []string
	cut := false
	proxy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+string(bigDigest)) {
			rp.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := !cut
		cut = true
		mu.Unlock()
		if !first {
			rp.ServeHTTP(w, r)
			return
		}
		resp, err := http.Get("http://" + reg.host + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Length", resp.Header.Get("Content-Length"))
		w.WriteHeader(resp.StatusCode)
		io.CopyN(w, resp.Body, int64(len(l.blob)/2))
		w.(http.Flusher).Flush()
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	})}
	port := freePort(t)
	ln, err := listen(port)
	if err != nil {
		t.Fatal(err)
	}
	go proxy.Serve(ln)
	defer proxy.Close()

	s := openStore(t, registry.Config{})
	img, err := s.Pull(context.Background(), "127.0.0.1:"+strconv.Itoa(port)+"/big:big", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	half := len(l.blob) / 2
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes="+strconv.Itoa(half)+"-" {
		t.Fatalf("requests for the big layer: %q, want a full GET then bytes=%d-", ranges, half)
	}
	if _, err := s.PrepareRootfs("c", string(img.ID)); err != nil {
		t.Fatal(err)
	}
	m, _ := s.RootfsMount("c")
	dir := t.TempDir()
	if err := snapshot.MountAt(m, dir); err != nil {
		t.Fatal(err)
	}
	defer snapshot.Unmount(dir)
	got, err := os.ReadFile(filepath.Join(dir, "big"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big file after a resumed pull: %d bytes, %v", len(got), err)
	}
}
