package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/petrel-edge/petrel/core/atomicfile"
)

// Credentials keeps registry logins in a JSON file of mode 0600, in the
// layout of Docker's config.json: {"auths": {"host": {"auth": base64(user:pass)}}}.
type Credentials struct {
	path string
	mu   sync.Mutex
}

type authEntry struct {
	Auth string `json:"auth"`
}

type credFile struct {
	Auths map[string]authEntry `json:"auths"`
}

// NewCredentials returns a store backed by path (created on first Set).
func NewCredentials(path string) *Credentials { return &Credentials{path: path} }

// credKey normalises a registry host: docker.io and its aliases are one.
func credKey(host string) string {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://"), "/")
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "index.docker.io/v1":
		return "https://index.docker.io/v1/"
	}
	return h
}

func (c *Credentials) load() (credFile, error) {
	var f credFile
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return credFile{Auths: map[string]authEntry{}}, nil
	}
	if err != nil {
		return f, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("credentials %s: %w", c.path, err)
	}
	if f.Auths == nil {
		f.Auths = map[string]authEntry{}
	}
	return f, nil
}

func (c *Credentials) save(f credFile) error {
	b, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return atomicfile.WriteFile(c.path, append(b, '\n'), 0o600)
}

// Get returns the login for host; ok is false when there is none.
func (c *Credentials) Get(host string) (user, pass string, ok bool, err error) {
	if c == nil {
		return "", "", false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.load()
	if err != nil {
		return "", "", false, err
	}
	e, found := f.Auths[credKey(host)]
	if !found {
		return "", "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(e.Auth)
	if err != nil {
		return "", "", false, fmt.Errorf("credentials for %s: %w", host, err)
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", false, fmt.Errorf("credentials for %s: malformed auth", host)
	}
	return user, pass, true, nil
}

// Set stores a login for host.
func (c *Credentials) Set(host, user, pass string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.load()
	if err != nil {
		return err
	}
	f.Auths[credKey(host)] = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	return c.save(f)
}

// Delete removes the login for host; it reports whether there was one.
func (c *Credentials) Delete(host string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.load()
	if err != nil {
		return false, err
	}
	k := credKey(host)
	if _, ok := f.Auths[k]; !ok {
		return false, nil
	}
	delete(f.Auths, k)
	return true, c.save(f)
}
