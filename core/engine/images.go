package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/reference"
	"github.com/petrel-edge/petrel/image/registry"
	"github.com/petrel-edge/petrel/image/snapshot"
)

// ImageOptions configure the engine's image store, kept under
// <root>/image and opened on first use.
type ImageOptions struct {
	// Driver is daemon.json's storage-driver: overlay2 (or overlay), vfs,
	// or "" for overlay where the kernel allows it.
	Driver string
	// StorageOpts are daemon.json's storage-opts.
	StorageOpts []string
	// Mirrors are docker.io mirrors (registry-mirrors).
	Mirrors []string
	// Insecure are registries reachable without verified TLS.
	Insecure []string
	// AuthFile keeps registry logins (default <root>/auth.json, mode 0600).
	AuthFile string
	// CertsDir holds per-registry certificates (default /etc/petrel/certs.d).
	CertsDir string
}

// snapshotDriver maps daemon.json's storage-driver to the image package's.
func snapshotDriver(name string) (string, error) {
	switch name {
	case "":
		return "", nil
	case "overlay", "overlay2":
		return "overlay", nil
	case "vfs":
		return "copy", nil
	}
	return "", errdefs.Invalid("storage driver %q is not supported (overlay2 or vfs)", name)
}

// validateImageOptions refuses bad values when the engine starts, before
// the store is opened.
func validateImageOptions(o ImageOptions) error {
	if _, err := snapshotDriver(o.Driver); err != nil {
		return err
	}
	for _, so := range o.StorageOpts {
		k, _, _ := strings.Cut(so, "=")
		switch k {
		case "overlay2.override_kernel_check":
		default:
			return errdefs.Invalid("storage-opt %q is not supported", so)
		}
	}
	return nil
}

// images returns the image store, opening it on first use: an engine
// that only runs external root filesystems never pays for it.
func (e *Engine) images() (*image.Store, error) {
	e.imgMu.Lock()
	defer e.imgMu.Unlock()
	if e.imgStore != nil {
		return e.imgStore, nil
	}
	o := e.opts.Images
	driver, err := snapshotDriver(o.Driver)
	if err != nil {
		return nil, err
	}
	auth := o.AuthFile
	if auth == "" {
		auth = filepath.Join(e.opts.Root, "auth.json")
	}
	certs := o.CertsDir
	if certs == "" {
		certs = "/etc/petrel/certs.d"
	}
	s, err := image.Open(image.Options{
		Root: filepath.Join(e.opts.Root, "image"), Driver: driver,
		Registry: registry.Config{Mirrors: map[string][]string{reference.DefaultDomain: o.Mirrors}, Insecure: o.Insecure,
			CertsDir: certs, Credentials: registry.NewCredentials(auth), UserAgent: "petreld"},
	})
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	e.imgStore = s
	return s, nil
}

// StorageDriver names the storage driver as docker info shows it.
func (e *Engine) StorageDriver() string {
	s, err := e.images()
	if err != nil {
		return "none"
	}
	if s.Snapshots().Driver() == "copy" {
		return "vfs"
	}
	return "overlay2"
}

// imageErr classifies the image package's errors for the API edge.
func imageErr(err error, name string) error {
	var nm *manifest.NoMatchError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, image.ErrNotFound):
		return errdefs.NotFound("No such image: %s", name)
	case errors.Is(err, reference.ErrInvalid), errors.Is(err, image.ErrAmbiguous):
		return errdefs.Invalid("%v", err)
	case errors.Is(err, image.ErrConflict), errors.Is(err, image.ErrInUse):
		return errdefs.Conflict("%v", err)
	case errors.Is(err, image.ErrPlatform), errors.As(err, &nm):
		return errdefs.NotFound("%v", err)
	case errors.Is(err, registry.ErrUnauthorized), errors.Is(err, registry.ErrDenied):
		return errdefs.NotFound("pull access denied for %s, repository does not exist or may require 'petrel login': %v", name, err)
	case errors.Is(err, registry.ErrNotFound):
		var he *registry.HTTPError
		if errors.As(err, &he) && he.Message != "" {
			return errdefs.NotFound("manifest for %s not found: %s", name, he.Message)
		}
		return errdefs.NotFound("%v", err)
	}
	return err
}

// familiar returns the short form of a full reference, as docker shows it.
func familiar(name string) string {
	if ref, err := reference.Parse(name); err == nil {
		return ref.Familiar()
	}
	return name
}

// parsePlatform reads --platform ("" for the host's).
func parsePlatform(s string) (*manifest.Platform, error) {
	if s == "" {
		return nil, nil
	}
	p, err := manifest.ParsePlatform(s)
	if err != nil {
		return nil, errdefs.Invalid("invalid platform %q: %v", s, err)
	}
	return &p, nil
}

// PullOptions tune Pull.
type PullOptions struct {
	Platform string // os/arch[/variant], "" for the host's
	// Progress, if set, gets per-layer updates, one call at a time.
	Progress func(image.Progress)
	// Username and Password, if set, are the request's own login
	// (X-Registry-Auth), used instead of the stored ones.
	Username, Password string
}

// Pull fetches an image. It reports whether the image was already
// stored under that name.
func (e *Engine) Pull(ctx context.Context, name string, o PullOptions) (img *image.Image, existed bool, err error) {
	ref, err := reference.Parse(name)
	if err != nil {
		return nil, false, errdefs.Invalid("invalid reference format: %v", err)
	}
	p, err := parsePlatform(o.Platform)
	if err != nil {
		return nil, false, err
	}
	s, err := e.images()
	if err != nil {
		return nil, false, err
	}
	before, _ := s.Get(ref.String())
	img, err = s.Pull(ctx, ref.String(), image.PullOptions{Platform: p, Progress: o.Progress, Username: o.Username, Password: o.Password})
	if err != nil {
		return nil, false, imageErr(err, ref.Familiar())
	}
	e.Events.Publish("image", "pull", ref.Familiar(), map[string]string{"name": ref.Familiar()})
	return img, before != nil && before.ID == img.ID, nil
}

// Images lists the stored images, newest first.
func (e *Engine) Images() ([]*image.Image, error) {
	s, err := e.images()
	if err != nil {
		return nil, err
	}
	return s.List()
}

// Image finds an image by name, ID or unique ID prefix.
func (e *Engine) Image(name string) (*image.Image, error) {
	s, err := e.images()
	if err != nil {
		return nil, err
	}
	img, err := s.Get(name)
	return img, imageErr(err, name)
}

// usersOf returns the containers made (or being made) from image id, and
// whether one of them runs.
func (e *Engine) usersOf(id digest.Digest) (users []string, running bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.byID {
		c.mu.Lock()
		if c.rec.Image == string(id) && !c.removed {
			users = append(users, c.rec.ID)
			running = running || c.running()
		}
		c.mu.Unlock()
	}
	for _, r := range e.creating {
		if r.image == string(id) {
			users = append(users, r.id)
		}
	}
	return users, running
}

// RemoveImage untags a name, or removes an image by ID or by its last
// name, as docker rmi does: an image a container uses stays unless force,
// and never goes while one of them runs.
func (e *Engine) RemoveImage(name string, force bool) (image.Removal, error) {
	// Removed containers' layers are dropped after their rm answered:
	// an image is removed as if those removals had ended.
	e.removals.Wait()
	s, err := e.images()
	if err != nil {
		return image.Removal{}, err
	}
	img, err := s.Get(name)
	if err != nil {
		return image.Removal{}, imageErr(err, name)
	}
	byName := false
	if ref, err := reference.Parse(name); err == nil {
		for _, n := range img.Names {
			byName = byName || n == ref.String()
		}
	}
	deletes := !byName || len(img.Names) <= 1
	if !byName && len(img.Names) > 1 && !force {
		return image.Removal{}, errdefs.Conflict("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(name))
	}
	if users, running := e.usersOf(img.ID); deletes && len(users) > 0 {
		switch {
		case !force:
			what := fmt.Sprintf("repository reference %q", familiar(name))
			if !byName {
				what = img.ID.Short()
			}
			return image.Removal{}, errdefs.Conflict("conflict: unable to remove %s (must force) - container %s is using its referenced image %s", what, shortID(users[0]), img.ID.Short())
		case running:
			return image.Removal{}, errdefs.Conflict("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", img.ID.Short(), shortID(users[0]))
		}
	}
	r, err := s.Remove(name, force)
	if err != nil {
		return r, imageErr(err, name)
	}
	for _, u := range r.Untagged {
		e.Events.Publish("image", "untag", string(img.ID), map[string]string{"name": familiar(u)})
	}
	for _, d := range r.Deleted {
		e.Events.Publish("image", "delete", string(d), map[string]string{"name": string(d)})
	}
	return r, nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// TagImage gives the image src names the name dst.
func (e *Engine) TagImage(src, dst string) error {
	s, err := e.images()
	if err != nil {
		return err
	}
	if err := s.Tag(src, dst); err != nil {
		return imageErr(err, src)
	}
	e.Events.Publish("image", "tag", src, map[string]string{"name": familiar(dst)})
	return nil
}

// SaveImages writes the named images as one docker-archive (which is an
// OCI layout too). Every name is checked before a byte is written.
func (e *Engine) SaveImages(w io.Writer, names []string) error {
	s, err := e.images()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return errdefs.Invalid("no image to save")
	}
	for _, n := range names {
		if _, err := s.Get(n); err != nil {
			return imageErr(err, n)
		}
	}
	return s.Save(w, names)
}

// CheckImages reports the first of names that is not an image, so that a
// caller can answer with an error before it streams.
func (e *Engine) CheckImages(names []string) error {
	if len(names) == 0 {
		return errdefs.Invalid("no image to save")
	}
	for _, n := range names {
		if _, err := e.Image(n); err != nil {
			return err
		}
	}
	return nil
}

// LoadImages stores the images of a docker-archive or OCI layout tar.
func (e *Engine) LoadImages(ctx context.Context, r io.Reader) ([]*image.Image, error) {
	s, err := e.images()
	if err != nil {
		return nil, err
	}
	imgs, err := s.Load(ctx, r, image.LoadOptions{})
	for _, img := range imgs {
		e.Events.Publish("image", "load", string(img.ID), map[string]string{"name": string(img.ID)})
	}
	if err != nil {
		return imgs, errdefs.Invalid("%v", err)
	}
	return imgs, nil
}

// ImportOptions tune ImportImage.
type ImportOptions struct {
	Ref      string   // REPOSITORY[:TAG], "" for an unnamed image
	Changes  []string // Dockerfile instructions: CMD, ENTRYPOINT, ENV, …
	Message  string
	Platform string
}

// ImportImage makes a one-layer image of a root filesystem tar.
func (e *Engine) ImportImage(ctx context.Context, r io.Reader, o ImportOptions) (*image.Image, error) {
	var cfg manifest.Config
	if err := ApplyChanges(&cfg, o.Changes); err != nil {
		return nil, err
	}
	if o.Ref != "" {
		if _, err := reference.Parse(o.Ref); err != nil {
			return nil, errdefs.Invalid("invalid reference format: %v", err)
		}
	}
	p, err := parsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	s, err := e.images()
	if err != nil {
		return nil, err
	}
	img, err := s.Import(ctx, r, image.ImportOptions{Name: o.Ref, Platform: p, Config: cfg, Comment: o.Message})
	if err != nil {
		if errors.Is(err, reference.ErrInvalid) {
			return nil, imageErr(err, o.Ref)
		}
		return nil, errdefs.Invalid("%v", err)
	}
	e.Events.Publish("image", "import", string(img.ID), map[string]string{"name": string(img.ID)})
	return img, nil
}

// registryHost turns what users give login ("", "docker.io",
// "https://index.docker.io/v1/", "host:5000") into a registry host.
func registryHost(server string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	switch h {
	case "", "index.docker.io", "registry-1.docker.io":
		return reference.DefaultDomain
	}
	return h
}

// Login checks a user and password against a registry and keeps them
// for pulls from it.
func (e *Engine) Login(ctx context.Context, server, user, pass string) error {
	if user == "" || pass == "" {
		return errdefs.Invalid("a user name and a password are required")
	}
	s, err := e.images()
	if err != nil {
		return err
	}
	host := registryHost(server)
	if err := s.Registry().Login(ctx, host, user, pass); err != nil {
		if errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrDenied) {
			return errdefs.Unauthorized("login to %s failed: unauthorized: incorrect username or password", host)
		}
		return errdefs.Unavailable("login to %s: %v", host, err)
	}
	return nil
}

// Logout forgets the login for a registry.
func (e *Engine) Logout(server string) error {
	s, err := e.images()
	if err != nil {
		return err
	}
	host := registryHost(server)
	if err := s.Registry().Logout(host); err != nil {
		return errdefs.NotFound("not logged in to %s", host)
	}
	return nil
}

// imageForContainer finds the image of a new container and merges its
// configuration into cfg. With a platform, an image for another one is
// "not found", so that run pulls the right one.
func (e *Engine) imageForContainer(cfg *api.Config, platform string) (*image.Image, error) {
	if _, err := reference.Parse(cfg.Image); err != nil && !isIDPrefix(cfg.Image) {
		return nil, errdefs.Invalid("invalid reference format: %v", err)
	}
	img, err := e.Image(cfg.Image)
	if err != nil {
		return nil, err
	}
	if p, err := parsePlatform(platform); err != nil {
		return nil, err
	} else if p != nil && !manifest.Matches(p.Normalize(), img.Platform) {
		return nil, errdefs.NotFound("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s", cfg.Image, p.Normalize(), img.Platform)
	}
	if img.Config != nil {
		mergeImageConfig(cfg, &img.Config.Config)
	}
	return img, nil
}

func isIDPrefix(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	return s != "" && len(s) <= 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// mergeImageConfig fills what the request leaves unset from the image,
// as Docker does: an entrypoint given (even empty) drops the image's
// entrypoint, and a command given drops the image's command; Env and
// Labels are merged key by key, the request's winning.
func mergeImageConfig(cfg *api.Config, img *manifest.Config) {
	if cfg.User == "" {
		cfg.User = img.User
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = img.WorkingDir
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = img.StopSignal
	}
	if len(img.ExposedPorts) > 0 {
		ports := map[string]struct{}{}
		for p := range img.ExposedPorts {
			ports[p] = struct{}{}
		}
		for p := range cfg.ExposedPorts {
			ports[p] = struct{}{}
		}
		cfg.ExposedPorts = ports
	}
	if len(img.Env) > 0 {
		cfg.Env = mergeEnv(img.Env, cfg.Env)
	}
	if len(img.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	if len(cfg.Entrypoint) == 0 {
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = append([]string(nil), img.Cmd...)
		}
		if cfg.Entrypoint == nil {
			cfg.Entrypoint = append([]string(nil), img.Entrypoint...)
		}
	}
	if h := img.Healthcheck; h != nil {
		switch {
		case cfg.Healthcheck == nil:
			cfg.Healthcheck = &api.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		case len(cfg.Healthcheck.Test) == 0:
			hc := *cfg.Healthcheck
			hc.Test = h.Test
			if hc.Interval == 0 {
				hc.Interval = h.Interval
			}
			if hc.Timeout == 0 {
				hc.Timeout = h.Timeout
			}
			if hc.StartPeriod == 0 {
				hc.StartPeriod = h.StartPeriod
			}
			if hc.Retries == 0 {
				hc.Retries = h.Retries
			}
			cfg.Healthcheck = &hc
		}
	}
}

// prepareRootfs makes container id's writable layer over img and mounts
// it; it returns the root filesystem's path. Nothing is left on failure.
func (e *Engine) prepareRootfs(id, dir string, img *image.Image) (string, error) {
	s, err := e.images()
	if err != nil {
		return "", err
	}
	m, err := s.PrepareRootfs(id, string(img.ID))
	if err != nil {
		return "", imageErr(err, string(img.ID))
	}
	if m.Type == "bind" {
		return m.Source, nil // the copy driver's tree is the root filesystem
	}
	target := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		s.RemoveRootfs(id)
		return "", fmt.Errorf("rootfs: %w", err)
	}
	if err := snapshot.MountAt(m, target); err != nil {
		s.RemoveRootfs(id)
		return "", fmt.Errorf("rootfs: %w", err)
	}
	return target, nil
}

// mounted reports whether something is mounted on dir (its device
// differs from its parent's).
func mounted(dir string) bool {
	var a, b unix.Stat_t
	if unix.Lstat(dir, &a) != nil || unix.Lstat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// mountRootfs mounts an image container's root filesystem again if it
// is not (after a reboot); the op token is held.
func (e *Engine) mountRootfs(c *Container) error {
	c.mu.Lock()
	id, imageID, rootfs, dir := c.rec.ID, c.rec.Image, c.rec.Rootfs, c.dir
	c.mu.Unlock()
	if imageID == "" || rootfs != filepath.Join(dir, "rootfs") || mounted(rootfs) {
		return nil
	}
	s, err := e.images()
	if err != nil {
		return err
	}
	m, err := s.RootfsMount(id)
	if err != nil {
		return fmt.Errorf("rootfs of %s: %w", id, err)
	}
	return snapshot.MountAt(m, rootfs)
}

// releaseRootfs unmounts and deletes an image container's writable
// layer; layers no image or container uses any more are collected.
func (e *Engine) releaseRootfs(id, imageID, rootfs, dir string) error {
	if imageID == "" {
		return nil
	}
	if rootfs == filepath.Join(dir, "rootfs") {
		if err := snapshot.Unmount(rootfs); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	s, err := e.images()
	if err != nil {
		return err
	}
	if err := s.Snapshots().DropActive(id); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
		return fmt.Errorf("remove rootfs of %s: %w", id, err)
	}
	// Layers can only have been kept for this container when its image
	// was removed meanwhile (rmi -f): collect only then.
	if _, err := s.Get(imageID); err != nil {
		if _, err := s.GC(); err != nil {
			e.logf("container %s: collect its image's layers: %v", id, err)
		}
	}
	return nil
}

// Export writes a container's root filesystem as a tar.
func (e *Engine) Export(id string, w io.Writer) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	key, imageID, rootfs := c.rec.ID, c.rec.Image, c.rec.Rootfs
	c.mu.Unlock()
	if imageID == "" {
		return image.WriteTar(rootfs, w)
	}
	s, err := e.images()
	if err != nil {
		return err
	}
	if err := s.Export(key, w); err != nil {
		return err
	}
	e.event(c, "export")
	return nil
}

// discardPartial removes what a create cut short by a crash left: a
// container directory without a record, and its writable layer.
func (e *Engine) discardPartial(id string) {
	dir := filepath.Join(e.containersDir(), id)
	e.logf("removing container %s: its create did not complete", id)
	rootfs := filepath.Join(dir, "rootfs")
	if err := snapshot.Unmount(rootfs); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.logf("container %s: %v", id, err)
		return
	}
	if _, err := os.Stat(filepath.Join(e.opts.Root, "image")); err == nil {
		if s, err := e.images(); err == nil {
			if err := s.RemoveRootfs(id); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
				e.logf("container %s: %v", id, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		e.logf("container %s: %v", id, err)
	}
}
