// Package regtest is an in-process Docker Registry v2 server for tests:
// it serves manifests and blobs from memory, supports Range requests,
// optional basic or bearer-token auth, and lets a test break transfers.
package regtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
)

// Auth modes.
const (
	AuthNone = iota
	AuthBasic
	AuthBearer
)

// A Request is what the server saw.
type Request struct {
	Method, Path, Range, Authorization string
}

// Registry is the server. Fields may be set before the first request.
type Registry struct {
	Server   *httptest.Server
	Auth     int
	User     string
	Password string
	// BlobHook, if set, may answer a blob request itself (return true).
	BlobHook func(w http.ResponseWriter, r *http.Request, d digest.Digest, content []byte) bool

	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[string]stored // repo + "@" + tag or digest
	requests  []Request
	tokens    int
}

type stored struct {
	mediaType string
	body      []byte
}

// New starts a registry over plain HTTP on loopback.
func New() *Registry {
	r := &Registry{blobs: map[digest.Digest][]byte{}, manifests: map[string]stored{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// Host returns "127.0.0.1:port".
func (r *Registry) Host() string { return strings.TrimPrefix(r.Server.URL, "http://") }

// Close stops the server.
func (r *Registry) Close() { r.Server.Close() }

// PutBlob stores b and returns its digest.
func (r *Registry) PutBlob(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	r.mu.Lock()
	r.blobs[d] = b
	r.mu.Unlock()
	return d
}

// SetBlob stores content under an arbitrary digest (to serve lies).
func (r *Registry) SetBlob(d digest.Digest, b []byte) {
	r.mu.Lock()
	r.blobs[d] = b
	r.mu.Unlock()
}

// PutManifest stores a manifest or index for repo under tag (and its
// digest) and returns its descriptor.
func (r *Registry) PutManifest(repo, tag, mediaType string, body []byte) manifest.Descriptor {
	d := digest.FromBytes(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.manifests[repo+"@"+string(d)] = stored{mediaType, body}
	if tag != "" {
		r.manifests[repo+"@"+tag] = stored{mediaType, body}
	}
	return manifest.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(body))}
}

// Requests returns the requests seen so far and forgets them.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.requests
	r.requests = nil
	return out
}

// BlobRequests returns the recorded blob GETs for d.
func BlobRequests(reqs []Request, d digest.Digest) []Request {
	var out []Request
	for _, q := range reqs {
		if strings.HasSuffix(q.Path, "/blobs/"+string(d)) {
			out = append(out, q)
		}
	}
	return out
}

// Tokens returns how many tokens the token endpoint issued.
func (r *Registry) Tokens() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokens
}

func (r *Registry) basicOK(req *http.Request) bool {
	u, p, ok := req.BasicAuth()
	return ok && u == r.User && p == r.Password
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, Request{req.Method, req.URL.Path, req.Header.Get("Range"), req.Header.Get("Authorization")})
	r.mu.Unlock()

	if req.URL.Path == "/token" {
		if r.User != "" && !r.basicOK(req) {
			http.Error(w, `{"details":"bad credentials"}`, http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		r.tokens++
		r.mu.Unlock()
		tok := base64.RawURLEncoding.EncodeToString([]byte("scope=" + req.URL.Query().Get("scope")))
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
		return
	}
	if !strings.HasPrefix(req.URL.Path, "/v2/") {
		http.NotFound(w, req)
		return
	}
	switch r.Auth {
	case AuthBasic:
		if !r.basicOK(req) {
			w.Header().Set("WWW-Authenticate", `Basic realm="regtest"`)
			writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
	case AuthBearer:
		if !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
			scope := ""
			if p := strings.TrimPrefix(req.URL.Path, "/v2/"); p != "" {
				if i := strings.LastIndex(p, "/manifests/"); i >= 0 {
					scope = "repository:" + p[:i] + ":pull"
				} else if i := strings.LastIndex(p, "/blobs/"); i >= 0 {
					scope = "repository:" + p[:i] + ":pull"
				}
			}
			ch := fmt.Sprintf(`Bearer realm="%s/token",service="regtest"`, r.Server.URL)
			if scope != "" {
				ch += fmt.Sprintf(`,scope="%s"`, scope)
			}
			w.Header().Set("WWW-Authenticate", ch)
			writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
	}
	p := strings.TrimPrefix(req.URL.Path, "/v2/")
	if p == "" {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.Write([]byte("{}"))
		return
	}
	if i := strings.LastIndex(p, "/manifests/"); i >= 0 {
		repo, obj := p[:i], p[i+len("/manifests/"):]
		r.mu.Lock()
		m, ok := r.manifests[repo+"@"+obj]
		r.mu.Unlock()
		if !ok {
			writeErr(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			return
		}
		w.Header().Set("Content-Type", m.mediaType)
		w.Header().Set("Docker-Content-Digest", string(digest.FromBytes(m.body)))
		w.Write(m.body)
		return
	}
	if i := strings.LastIndex(p, "/blobs/"); i >= 0 {
		d := digest.Digest(p[i+len("/blobs/"):])
		r.mu.Lock()
		b, ok := r.blobs[d]
		r.mu.Unlock()
		if !ok {
			writeErr(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
			return
		}
		if r.BlobHook != nil && r.BlobHook(w, req, d, b) {
			return
		}
		w.Header().Set("Docker-Content-Digest", string(d))
		http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(b))
		return
	}
	http.NotFound(w, req)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
}

// DropAfter returns a BlobHook that, for the first request of d only,
// sends the headers and the first n bytes and then cuts the connection.
func DropAfter(d digest.Digest, n int) func(http.ResponseWriter, *http.Request, digest.Digest, []byte) bool {
	var once sync.Once
	return func(w http.ResponseWriter, r *http.Request, got digest.Digest, b []byte) bool {
		if got != d {
			return false
		}
		cut := false
		once.Do(func() { cut = true })
		if !cut {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:n])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
}
