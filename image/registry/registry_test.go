package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/image/content"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/internal/regtest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/reference"
)

func mustRef(t *testing.T, s string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fastConfig() Config {
	return Config{Backoff: func(int) time.Duration { return time.Millisecond }}
}

func pushSmall(reg *regtest.Registry, repo string) (manifest.Descriptor, regtest.ImageParts) {
	im := regtest.MakeImage(manifest.Platform{OS: "linux", Architecture: "amd64"}, []string{"sh"},
		regtest.GzipLayer(regtest.Tar(regtest.Entry{Name: "hello", Body: "world"})))
	return reg.Push(repo, "v1", im.Manifest, im.Blobs), im
}

func TestResolveAndFetchAuthModes(t *testing.T) {
	tests := []struct {
		name       string
		auth       int
		login      bool
		wantErr    error
		wantTokens int
	}{
		{"anonymous", regtest.AuthNone, false, nil, 0},
		{"basic with login", regtest.AuthBasic, true, nil, 0},
		{"basic without login", regtest.AuthBasic, false, ErrUnauthorized, 0},
		{"bearer anonymous", regtest.AuthBearer, false, nil, 1},
		{"bearer with login", regtest.AuthBearer, true, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := regtest.New()
			defer reg.Close()
			reg.Auth = tt.auth
			if tt.login || tt.auth == regtest.AuthBasic {
				reg.User, reg.Password = "alice", "s3cret"
			}
			cfg := fastConfig()
			cfg.Credentials = NewCredentials(filepath.Join(t.TempDir(), "auth.json"))
			if tt.login {
				cfg.Credentials.Set(reg.Host(), "alice", "s3cret")
			}
			c := New(cfg)
			desc, im := pushSmall(reg, "team/app")
			ref := mustRef(t, reg.Host()+"/team/app:v1")
			got, body, err := c.Resolve(context.Background(), ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "log in") {
					t.Fatalf("Resolve = %v, want %v with a hint to log in", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != desc.Digest || got.MediaType != manifest.MediaTypeOCIManifest || !bytes.Equal(body, im.Manifest) {
				t.Fatalf("Resolve = %+v", got)
			}
			m, _ := manifest.ParseManifest(body)
			cfgBytes, err := c.FetchSmall(context.Background(), ref, m.Config, 1<<20)
			if err != nil || !bytes.Equal(cfgBytes, im.Blobs[m.Config.Digest]) {
				t.Fatalf("FetchSmall: %v", err)
			}
			if _, _, err := c.Resolve(context.Background(), ref.WithDigest(desc.Digest)); err != nil {
				t.Fatalf("resolve by digest: %v", err)
			}
			if n := reg.Tokens(); n != tt.wantTokens {
				t.Errorf("token endpoint called %d times, want %d (tokens are cached per scope)", n, tt.wantTokens)
			}
		})
	}
}

func TestLoginLogout(t *testing.T) {
	for _, auth := range []int{regtest.AuthBasic, regtest.AuthBearer} {
		reg := regtest.New()
		reg.Auth, reg.User, reg.Password = auth, "bob", "pw"
		path := filepath.Join(t.TempDir(), "petrel", "auth.json")
		c := New(Config{Credentials: NewCredentials(path)})
		err := c.Login(context.Background(), reg.Host(), "bob", "wrong")
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("auth %d: login with a wrong password: %v", auth, err)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("auth %d: failed login stored credentials", auth)
		}
		if err := c.Login(context.Background(), reg.Host(), "bob", "pw"); err != nil {
			t.Fatalf("auth %d: login: %v", auth, err)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("auth %d: credentials file %v, %v; want mode 0600", auth, fi.Mode(), err)
		}
		if u, p, ok, _ := c.cfg.Credentials.Get(reg.Host()); !ok || u != "bob" || p != "pw" {
			t.Errorf("auth %d: stored %q %q %v", auth, u, p, ok)
		}
		if err := c.Logout(reg.Host()); err != nil {
			t.Fatal(err)
		}
		if err := c.Logout(reg.Host()); err == nil {
			t.Error("second logout succeeded")
		}
		if _, _, ok, _ := c.cfg.Credentials.Get(reg.Host()); ok {
			t.Error("credentials kept after logout")
		}
		reg.Close()
	}
}

func TestResolveVerifiesDigest(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	desc, _ := pushSmall(reg, "app")
	c := New(fastConfig())
	ref := mustRef(t, reg.Host()+"/app")
	// Serve another manifest's bytes under desc's digest.
	other := regtest.MakeImage(manifest.Platform{OS: "linux", Architecture: "arm64"}, nil, regtest.PlainLayer(regtest.Tar()))
	reg.PutManifest("app", string(desc.Digest), manifest.MediaTypeOCIManifest, other.Manifest)
	_, _, err := c.Resolve(context.Background(), ref.WithDigest(desc.Digest))
	if !errors.Is(err, digest.ErrMismatch) {
		t.Fatalf("Resolve of a lying registry = %v, want a digest mismatch", err)
	}
	if _, _, err := c.Resolve(context.Background(), ref.WithTag("nope")); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("Resolve of a missing tag = %v", err)
	}
}

// TestFetchBlobResumes cuts the first transfer halfway and checks that the
// retry asks for the second half only.
func TestFetchBlobResumes(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	blob := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	d := reg.PutBlob(blob)
	half := len(blob) / 2
	reg.BlobHook = regtest.DropAfter(d, half)
	store, _ := content.Open(t.TempDir())
	w, err := store.Writer(d, int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	c := New(fastConfig())
	desc := manifest.Descriptor{MediaType: manifest.MediaTypeOCILayer, Digest: d, Size: int64(len(blob))}
	err = c.FetchBlob(context.Background(), mustRef(t, reg.Host()+"/app"), desc, w, func(n int64) { last = n })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if last != int64(len(blob)) {
		t.Errorf("last progress %d, want %d", last, len(blob))
	}
	reqs := regtest.BlobRequests(reg.Requests(), d)
	if len(reqs) != 2 {
		t.Fatalf("%d blob requests, want 2: %+v", len(reqs), reqs)
	}
	if reqs[0].Range != "" {
		t.Errorf("first request had Range %q", reqs[0].Range)
	}
	if want := "bytes=" + strconv.Itoa(half) + "-"; reqs[1].Range != want {
		t.Errorf("retry asked Range %q, want %q", reqs[1].Range, want)
	}
}

func TestFetchBlobServerIgnoresRange(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	blob := bytes.Repeat([]byte("x"), 100000)
	d := reg.PutBlob(blob)
	first := true
	reg.BlobHook = func(w http.ResponseWriter, r *http.Request, _ digest.Digest, b []byte) bool {
		if first {
			first = false
			return regtest.DropAfter(d, 5000)(w, r, d, b)
		}
		w.Write(b) // 200 with everything, Range ignored
		return true
	}
	store, _ := content.Open(t.TempDir())
	w, _ := store.Writer(d, int64(len(blob)))
	c := New(fastConfig())
	desc := manifest.Descriptor{Digest: d, Size: int64(len(blob))}
	if err := c.FetchBlob(context.Background(), mustRef(t, reg.Host()+"/app"), desc, w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("commit after a full re-send: %v", err)
	}
}

func TestFetchBlobStalls(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	blob := bytes.Repeat([]byte("y"), 200000)
	d := reg.PutBlob(blob)
	stalled := false
	reg.BlobHook = func(w http.ResponseWriter, r *http.Request, _ digest.Digest, b []byte) bool {
		if stalled {
			return false
		}
		stalled = true
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:1000])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // hang until the client gives up
		return true
	}
	cfg := fastConfig()
	cfg.StallTimeout = 100 * time.Millisecond
	store, _ := content.Open(t.TempDir())
	w, _ := store.Writer(d, int64(len(blob)))
	if err := New(cfg).FetchBlob(context.Background(), mustRef(t, reg.Host()+"/app"), manifest.Descriptor{Digest: d, Size: int64(len(blob))}, w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	reqs := regtest.BlobRequests(reg.Requests(), d)
	if len(reqs) != 2 || reqs[1].Range != "bytes=1000-" {
		t.Fatalf("requests after a stall: %+v", reqs)
	}
}

func TestFetchBlobGivesUp(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	reg.BlobHook = func(w http.ResponseWriter, r *http.Request, _ digest.Digest, b []byte) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	}
	d := reg.PutBlob([]byte("z"))
	store, _ := content.Open(t.TempDir())
	w, _ := store.Writer(d, 1)
	defer w.Close()
	cfg := fastConfig()
	cfg.Retries = 3
	err := New(cfg).FetchBlob(context.Background(), mustRef(t, reg.Host()+"/app"), manifest.Descriptor{Digest: d, Size: 1}, w, nil)
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 attempts") {
		t.Fatalf("FetchBlob = %v", err)
	}
	if n := len(regtest.BlobRequests(reg.Requests(), d)); n != 4 {
		t.Errorf("%d attempts, want 4", n)
	}
	// A 404 is not retried.
	w2, _ := store.Writer(digest.FromBytes([]byte("missing")), 7)
	defer w2.Close()
	err = New(cfg).FetchBlob(context.Background(), mustRef(t, reg.Host()+"/app"), manifest.Descriptor{Digest: digest.FromBytes([]byte("missing")), Size: 7}, w2, nil)
	if !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "giving up") {
		t.Fatalf("FetchBlob of a missing blob = %v", err)
	}
}

func TestMirror(t *testing.T) {
	mirror := regtest.New()
	defer mirror.Close()
	desc, _ := pushSmall(mirror, "library/busybox")
	c := New(Config{Mirrors: map[string][]string{"docker.io": {mirror.Server.URL}}})
	got, _, err := c.Resolve(context.Background(), mustRef(t, "busybox:v1"))
	if err != nil || got.Digest != desc.Digest {
		t.Fatalf("Resolve through mirror = %+v, %v", got, err)
	}
}

func TestIsInsecure(t *testing.T) {
	c := New(Config{Insecure: []string{"reg.local:5000", "10.1.0.0/16", "http://plain.example"}})
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:5000", true},
		{"localhost:5000", true},
		{"[::1]:5000", true},
		{"reg.local:5000", true},
		{"reg.local", false},
		{"10.1.2.3:443", true},
		{"10.2.0.1", false},
		{"plain.example", true},
		{"registry-1.docker.io", false},
	}
	for _, tt := range tests {
		if got := c.IsInsecure(tt.host); got != tt.want {
			t.Errorf("IsInsecure(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestParseChallenges(t *testing.T) {
	chs := parseChallenges([]string{`Bearer realm="https://auth.example/token",service="reg, 1",scope="repository:a/b:pull,push"`, `Basic realm="x"`})
	if len(chs) != 2 {
		t.Fatalf("%d challenges: %+v", len(chs), chs)
	}
	b := chs[0]
	if b.Scheme != "bearer" || b.Params["realm"] != "https://auth.example/token" || b.Params["service"] != "reg, 1" || b.Params["scope"] != "repository:a/b:pull,push" {
		t.Errorf("bearer = %+v", b)
	}
	if chs[1].Scheme != "basic" || chs[1].Params["realm"] != "x" {
		t.Errorf("basic = %+v", chs[1])
	}
}

func TestFetchBlobWrongSize(t *testing.T) {
	reg := regtest.New()
	defer reg.Close()
	d := reg.PutBlob([]byte("short"))
	store, _ := content.Open(t.TempDir())
	w, _ := store.Writer(d, 50)
	defer w.Close()
	err := New(fastConfig()).FetchBlob(context.Background(), mustRef(t, reg.Host()+"/app"), manifest.Descriptor{Digest: d, Size: 50}, w, nil)
	if !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("FetchBlob = %v, want ErrSizeMismatch", err)
	}
	if n := len(regtest.BlobRequests(reg.Requests(), d)); n != 1 {
		t.Errorf("%d requests for a blob of the wrong size, want 1 (no retries)", n)
	}
}

// TestBlobRedirect follows a redirect to blob storage on another host and
// does not send the registry's credentials there.
func TestBlobRedirect(t *testing.T) {
	var storageAuth []string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageAuth = append(storageAuth, r.Header.Get("Authorization"))
		w.Write([]byte("blob from storage"))
	}))
	defer storage.Close()
	reg := regtest.New()
	defer reg.Close()
	reg.Auth, reg.User, reg.Password = regtest.AuthBasic, "u", "p"
	d := reg.PutBlob([]byte("blob from storage"))
	// Another name for the loopback host, so that the redirect crosses hosts.
	target := strings.Replace(storage.URL, "127.0.0.1", "localhost", 1)
	reg.BlobHook = func(w http.ResponseWriter, r *http.Request, _ digest.Digest, _ []byte) bool {
		http.Redirect(w, r, target+"/signed?sig=secret", http.StatusTemporaryRedirect)
		return true
	}
	cfg := fastConfig()
	cfg.Credentials = NewCredentials(filepath.Join(t.TempDir(), "auth.json"))
	cfg.Credentials.Set(reg.Host(), "u", "p")
	store, _ := content.Open(t.TempDir())
	w, _ := store.Writer(d, 17)
	if err := New(cfg).FetchBlob(context.Background(), mustRef(t, reg.Host()+"/app"), manifest.Descriptor{Digest: d, Size: 17}, w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(storageAuth) != 1 || storageAuth[0] != "" {
		t.Errorf("blob storage saw Authorization %q", storageAuth)
	}
}

// TestCertsDir trusts a registry's CA from CertsDir/<host>/ca.crt.
func TestCertsDir(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "reg.example:443"), 0o755)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	os.WriteFile(filepath.Join(dir, "reg.example:443", "ca.crt"), pemBytes, 0o644)
	get := func(cfg *tls.Config) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get("https://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	c := New(Config{CertsDir: dir})
	with := c.tlsConfig("reg.example:443", false)
	with.ServerName = "example.com" // the name in httptest's certificate
	if err := get(with); err != nil {
		t.Errorf("with the CA from certs.d: %v", err)
	}
	without := c.tlsConfig("other.example:443", false)
	without.ServerName = "example.com"
	if err := get(without); err == nil {
		t.Error("a registry with an unknown CA was trusted")
	}
}
