//go:build integration

package image

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/image/registry"
)

// tokenServer issues registry bearer tokens (JWTs signed with ES256, the
// certificate in the x5c header) to one user, for any scope asked.
type tokenServer struct {
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	cert   []byte // DER
	issued atomic.Int32
}

const (
	tokenIssuer  = "petrel-test-issuer"
	tokenService = "petrel-test-registry"
)

func newTokenServer(t *testing.T, user, pass string) *tokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "petrel test token signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenServer{key: key, cert: der}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if ok && (u != user || p != pass) {
			http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
			return
		}
		var access []map[string]any
		for _, scope := range r.URL.Query()["scope"] {
			parts := strings.Split(scope, ":")
			if len(parts) != 3 {
				continue
			}
			actions := strings.Split(parts[2], ",")
			if !ok { // anonymous: nothing
				actions = nil
			}
			access = append(access, map[string]any{"type": parts[0], "name": parts[1], "actions": actions})
		}
		tok, err := ts.sign(u, access)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ts.issued.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300})
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (ts *tokenServer) sign(sub string, access []map[string]any) (string, error) {
	hdr, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.cert)}})
	now := time.Now()
	var jti [8]byte
	rand.Read(jti[:])
	claims, _ := json.Marshal(map[string]any{"iss": tokenIssuer, "sub": sub, "aud": tokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": b64(jti[:]), "access": access})
	signing := b64(hdr) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64(sig), nil
}

// TestPullWithTokenAuth runs docker-registry with token auth against a
// token server of the test: the client follows the WWW-Authenticate
// challenge to it, with the stored login.
func TestPullWithTokenAuth(t *testing.T) {
	requireTools(t)
	ts := newTokenServer(t, "petrel", "t0ken")
	dir := t.TempDir()
	bundle := filepath.Join(dir, "signer.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.cert}), 0o644)
	reg := startRegistryWithAuth(t, "token:\n    realm: "+ts.srv.URL+"/token\n    service: "+tokenService+
		"\n    issuer: "+tokenIssuer+"\n    rootcertbundle: "+bundle+"\n")
	reg.user, reg.pass = "petrel", "t0ken"
	o := newLayout(t)
	o.tag("v1", o.image(hostPlatform(), []string{"sh"}, gzipLayer(t, busyboxTar(t))))
	o.push(reg, "v1", "token/busybox")

	creds := registry.NewCredentials(filepath.Join(t.TempDir(), "auth.json"))
	s := openStore(t, registry.Config{Credentials: creds})
	ctx := context.Background()
	name := reg.host + "/token/busybox:v1"
	if _, err := s.Pull(ctx, name, image.PullOptions{}); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("anonymous pull: %v", err)
	}
	if err := s.Registry().Login(ctx, reg.host, "petrel", "nope"); !errors.Is(err, registry.ErrUnauthorized) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if err := s.Registry().Login(ctx, reg.host, "petrel", "t0ken"); err != nil {
		t.Fatal(err)
	}
	before := ts.issued.Load()
	img, err := s.Pull(ctx, name, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := ts.issued.Load() - before; n != 1 {
		t.Errorf("%d tokens for one pull, want 1 (cached per scope)", n)
	}
	if _, err := s.PrepareRootfs("c", string(img.ID)); err != nil {
		t.Fatal(err)
	}
	if out := runIn(t, s, "c", "/bin/echo", "token ok"); out != "token ok\n" {
		t.Errorf("echo: %q", out)
	}
}
