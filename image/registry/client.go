package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/reference"
)

// Config configures a Client. The zero value pulls anonymously over HTTPS
// with the system's CA certificates.
type Config struct {
	// Mirrors lists mirror base URLs per registry domain, tried in order
	// before the registry itself; daemon.json's registry-mirrors are
	// Mirrors["docker.io"].
	Mirrors map[string][]string
	// Insecure lists registries ("host:port", "host") or CIDRs
	// ("10.0.0.0/8") that may be reached over plain HTTP or with
	// unverified TLS. Loopback addresses are always insecure, as in Docker.
	Insecure []string
	// CertsDir holds per-registry certificates: CertsDir/<host[:port]>/*.crt
	// are extra CAs, client.cert and client.key a client certificate.
	CertsDir string
	// Credentials is where logins are kept; nil means anonymous only.
	Credentials *Credentials
	// UserAgent is sent with every request.
	UserAgent string
	// Retries is how many times a failing blob download is retried
	// without progress (default 5); an attempt that moved data does not
	// count.
	Retries int
	// Backoff returns the wait before retry n (1-based); default
	// exponential from 500ms to 30s.
	Backoff func(n int) time.Duration
	// StallTimeout aborts (and retries) a transfer that receives nothing
	// for this long; default 60s.
	StallTimeout time.Duration
	// Transport, if set, replaces the HTTP transports (tests).
	Transport http.RoundTripper
}

// Client talks to registries. It caches tokens and transports.
type Client struct {
	cfg Config

	mu      sync.Mutex
	auth    map[string]cachedAuth
	clients map[string]*http.Client
	plain   map[string]bool // hosts found to speak plain HTTP

	loginOverride *loginOverride // credentials being checked by Login
}

type loginOverride struct{ user, pass string }

// New returns a client for cfg.
func New(cfg Config) *Client {
	return &Client{cfg: cfg, auth: map[string]cachedAuth{}, clients: map[string]*http.Client{}, plain: map[string]bool{}}
}

// WithLogin returns a client that presents user and pass to every
// registry instead of the credentials file: a pull that brings its own
// login (Docker's X-Registry-Auth). It caches nothing shared with c.
func (c *Client) WithLogin(user, pass string) *Client {
	n := New(c.cfg)
	n.loginOverride = &loginOverride{user, pass}
	return n
}

func (c *Client) userAgent() string {
	if c.cfg.UserAgent != "" {
		return c.cfg.UserAgent
	}
	return "petrel"
}

// IsInsecure reports whether host may be reached without verified TLS.
func (c *Client) IsInsecure(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	h = strings.Trim(h, "[]")
	ip := net.ParseIP(h)
	if h == "localhost" || ip != nil && ip.IsLoopback() {
		return true
	}
	for _, s := range c.cfg.Insecure {
		s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://"), "/")
		if s == host || s == h {
			return true
		}
		if _, n, err := net.ParseCIDR(s); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

func (c *Client) skipVerify(host string) bool { return c.IsInsecure(host) }

// httpClient returns the client for host, with its CA certificates.
func (c *Client) httpClient(host string, skipVerify bool) *http.Client {
	key := fmt.Sprintf("%s|%v", host, skipVerify)
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc, ok := c.clients[key]; ok {
		return hc
	}
	rt := c.cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = c.tlsConfig(host, skipVerify)
		t.ResponseHeaderTimeout = 60 * time.Second
		t.MaxIdleConnsPerHost = 8
		rt = t
	}
	hc := &http.Client{Transport: rt}
	c.clients[key] = hc
	return hc
}

func (c *Client) tlsConfig(host string, skipVerify bool) *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: skipVerify, MinVersion: tls.VersionTLS12}
	if c.cfg.CertsDir == "" {
		return cfg
	}
	dir := filepath.Join(c.cfg.CertsDir, strings.ReplaceAll(host, "/", "_"))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return cfg
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			pem, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil || cfg.RootCAs == nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			cfg.RootCAs.AppendCertsFromPEM(pem)
		case strings.HasSuffix(e.Name(), ".cert"):
			key := strings.TrimSuffix(p, ".cert") + ".key"
			if pair, err := tls.LoadX509KeyPair(p, key); err == nil {
				cfg.Certificates = append(cfg.Certificates, pair)
			}
		}
	}
	return cfg
}

// An endpoint is one base URL that serves a registry domain.
type endpoint struct {
	base       *url.URL
	skipVerify bool
	mirror     bool
}

func (c *Client) endpoints(domain string) ([]endpoint, error) {
	var eps []endpoint
	for _, m := range c.cfg.Mirrors[domain] {
		if !strings.Contains(m, "://") {
			m = "https://" + m
		}
		u, err := url.Parse(strings.TrimSuffix(m, "/"))
		if err != nil {
			return nil, fmt.Errorf("registry mirror %q: %w", m, err)
		}
		eps = append(eps, endpoint{base: u, skipVerify: c.IsInsecure(u.Host), mirror: true})
	}
	host := domain
	if domain == reference.DefaultDomain {
		host = reference.LegacyDomain
	}
	insecure := c.IsInsecure(host)
	c.mu.Lock()
	plain := c.plain[host]
	c.mu.Unlock()
	https := endpoint{base: &url.URL{Scheme: "https", Host: host}, skipVerify: insecure}
	http := endpoint{base: &url.URL{Scheme: "http", Host: host}}
	switch {
	case insecure && plain:
		eps = append(eps, http, https)
	case insecure:
		eps = append(eps, https, http)
	default:
		eps = append(eps, https)
	}
	return eps, nil
}

// fallback reports whether err from ep lets the next endpoint be tried.
func fallback(ep endpoint, err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return ep.mirror
	}
	return true // connection refused, TLS handshake to a plain-HTTP server, …
}

// do sends a GET for path (below /v2/) to the first endpoint of domain
// that answers, authenticating as challenged. A non-2xx answer is an
// *HTTPError; the caller closes the body.
func (c *Client) do(ctx context.Context, domain, scope, path string, hdr http.Header) (*http.Response, error) {
	eps, err := c.endpoints(domain)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, ep := range eps {
		resp, err := c.doEndpoint(ctx, domain, ep, scope, path, hdr)
		if err == nil {
			if ep.base.Scheme == "http" {
				c.mu.Lock()
				c.plain[ep.base.Host] = true
				c.mu.Unlock()
			}
			return resp, nil
		}
		if firstErr == nil || !ep.mirror {
			firstErr = err
		}
		if !fallback(ep, err) {
			return nil, err
		}
	}
	return nil, firstErr
}

func (c *Client) doEndpoint(ctx context.Context, domain string, ep endpoint, scope, path string, hdr http.Header) (*http.Response, error) {
	u := *ep.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v2/" + path
	hc := c.httpClient(ep.base.Host, ep.skipVerify)
	user, pass, haveCreds, err := c.login(domain)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", c.userAgent())
		if a := c.cachedAuthorization(ep.base.Host, scope); a != "" {
			req.Header.Set("Authorization", a)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			chs := parseChallenges(resp.Header.Values("WWW-Authenticate"))
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if err := c.authorize(ctx, domain, ep.base.Host, scope, chs, user, pass, haveCreds); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode/100 != 2 {
			defer resp.Body.Close()
			return nil, httpError(resp)
		}
		return resp, nil
	}
}

func pullScope(ref reference.Reference) string { return "repository:" + ref.Path + ":pull" }

// Ping checks that domain speaks the v2 API and that the stored (or no)
// credentials are accepted.
func (c *Client) Ping(ctx context.Context, domain string) error {
	resp, err := c.do(ctx, domain, "", "", nil)
	if err != nil {
		return fmt.Errorf("registry %s: %w", domain, err)
	}
	resp.Body.Close()
	return nil
}

// Login checks user and password against domain and, if accepted, stores
// them in the credentials file.
func (c *Client) Login(ctx context.Context, domain, user, pass string) error {
	if c.cfg.Credentials == nil {
		return errors.New("login: no credentials file configured")
	}
	probe := New(c.cfg)
	probe.cfg.Credentials = nil
	probe.cfg.Mirrors = nil
	probe.loginOverride = &loginOverride{user, pass}
	if err := probe.Ping(ctx, domain); err != nil {
		return fmt.Errorf("login to %s: %w", domain, err)
	}
	return c.cfg.Credentials.Set(domain, user, pass)
}

// Logout forgets the login for domain.
func (c *Client) Logout(domain string) error {
	if c.cfg.Credentials == nil {
		return errors.New("logout: no credentials file configured")
	}
	ok, err := c.cfg.Credentials.Delete(domain)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("logout: not logged in to %s", domain)
	}
	c.mu.Lock()
	c.auth = map[string]cachedAuth{}
	c.mu.Unlock()
	return nil
}

// Resolve fetches the manifest or index ref names (by tag or digest) and
// returns its descriptor and bytes. The bytes are checked against the
// reference's digest, or against the registry's Docker-Content-Digest.
func (c *Client) Resolve(ctx context.Context, ref reference.Reference) (manifest.Descriptor, []byte, error) {
	hdr := http.Header{"Accept": {manifest.AcceptManifests}}
	resp, err := c.do(ctx, ref.Domain, pullScope(ref), ref.Path+"/manifests/"+ref.Object(), hdr)
	if err != nil {
		return manifest.Descriptor{}, nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, manifest.MaxManifestSize+1))
	if err != nil {
		return manifest.Descriptor{}, nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	if len(body) > manifest.MaxManifestSize {
		return manifest.Descriptor{}, nil, fmt.Errorf("resolve %s: manifest larger than %d bytes", ref, manifest.MaxManifestSize)
	}
	want := ref.Digest
	if want == "" {
		if h, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil {
			want = h
		}
	}
	got := digest.FromBytes(body)
	if want != "" {
		if err := digest.Verify(want, body); err != nil {
			return manifest.Descriptor{}, nil, fmt.Errorf("resolve %s: manifest: %w", ref, err)
		}
		got = want
	}
	_, mt, err := manifest.Detect(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return manifest.Descriptor{}, nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return manifest.Descriptor{MediaType: mt, Digest: got, Size: int64(len(body))}, body, nil
}

// FetchSmall fetches a small blob (an image config) whole and verifies it.
func (c *Client) FetchSmall(ctx context.Context, ref reference.Reference, desc manifest.Descriptor, max int64) ([]byte, error) {
	if desc.Size > max {
		return nil, fmt.Errorf("blob %s: %d bytes is more than %d", desc.Digest, desc.Size, max)
	}
	resp, err := c.do(ctx, ref.Domain, pullScope(ref), ref.Path+"/blobs/"+string(desc.Digest), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s: %w", desc.Digest, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s: %w", desc.Digest, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("fetch blob %s: more than %d bytes", desc.Digest, max)
	}
	if err := digest.Verify(desc.Digest, b); err != nil {
		return nil, fmt.Errorf("fetch blob %s: %w", desc.Digest, err)
	}
	return b, nil
}
