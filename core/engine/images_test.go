package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/image/manifest"
)

func TestMergeImageConfig(t *testing.T) {
	img := manifest.Config{
		User: "app", WorkingDir: "/srv", StopSignal: "SIGQUIT", Env: []string{"PATH=/bin", "A=image"},
		Entrypoint: []string{"/entry"}, Cmd: []string{"serve"}, Labels: map[string]string{"a": "image", "b": "image"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		Healthcheck:  &manifest.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 2},
	}
	tests := []struct {
		name string
		req  api.Config
		want api.Config
	}{
		{"image defaults", api.Config{}, api.Config{User: "app", WorkingDir: "/srv", StopSignal: "SIGQUIT",
			Env: []string{"PATH=/bin", "A=image"}, Entrypoint: []string{"/entry"}, Cmd: []string{"serve"},
			Labels: map[string]string{"a": "image", "b": "image"}, ExposedPorts: map[string]struct{}{"80/tcp": {}},
			Healthcheck: &api.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 2}}},
		{"request wins", api.Config{User: "root", WorkingDir: "/", StopSignal: "SIGINT", Env: []string{"A=req", "B=req"},
			Cmd: []string{"sh"}, Labels: map[string]string{"a": "req"}, ExposedPorts: map[string]struct{}{"53/udp": {}},
			Healthcheck: &api.HealthConfig{Test: []string{"NONE"}}},
			api.Config{User: "root", WorkingDir: "/", StopSignal: "SIGINT", Env: []string{"PATH=/bin", "A=req", "B=req"},
				Entrypoint: []string{"/entry"}, Cmd: []string{"sh"}, Labels: map[string]string{"a": "req", "b": "image"},
				ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}}, Healthcheck: &api.HealthConfig{Test: []string{"NONE"}}}},
		{"entrypoint given drops the image's command", api.Config{Entrypoint: []string{"/bin/sh"}},
			api.Config{User: "app", WorkingDir: "/srv", StopSignal: "SIGQUIT", Env: []string{"PATH=/bin", "A=image"},
				Entrypoint: []string{"/bin/sh"}, Labels: map[string]string{"a": "image", "b": "image"},
				ExposedPorts: map[string]struct{}{"80/tcp": {}}, Healthcheck: &api.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 2}}},
		{"empty entrypoint keeps the image's command", api.Config{Entrypoint: []string{}},
			api.Config{User: "app", WorkingDir: "/srv", StopSignal: "SIGQUIT", Env: []string{"PATH=/bin", "A=image"},
				Entrypoint: []string{}, Cmd: []string{"serve"}, Labels: map[string]string{"a": "image", "b": "image"},
				ExposedPorts: map[string]struct{}{"80/tcp": {}}, Healthcheck: &api.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 2}}},
		{"health options without a test keep the image's test", api.Config{Healthcheck: &api.HealthConfig{Retries: 5}},
			api.Config{User: "app", WorkingDir: "/srv", StopSignal: "SIGQUIT", Env: []string{"PATH=/bin", "A=image"},
				Entrypoint: []string{"/entry"}, Cmd: []string{"serve"}, Labels: map[string]string{"a": "image", "b": "image"},
				ExposedPorts: map[string]struct{}{"80/tcp": {}}, Healthcheck: &api.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.req
			mergeImageConfig(&got, &img)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("merged\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestApplyChanges(t *testing.T) {
	tests := []struct {
		changes []string
		want    manifest.Config
		err     string
	}{
		{[]string{`CMD ["sh", "-c", "echo hi"]`}, manifest.Config{Cmd: []string{"sh", "-c", "echo hi"}}, ""},
		{[]string{`ENTRYPOINT httpd -f`}, manifest.Config{Entrypoint: []string{"/bin/sh", "-c", "httpd -f"}}, ""},
		{[]string{`ENV A=1 B="two words"`, `env C three`}, manifest.Config{Env: []string{"A=1", "B=two words", "C=three"}}, ""},
		{[]string{`LABEL a=b`, `EXPOSE 80 53/udp`}, manifest.Config{Labels: map[string]string{"a": "b"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}}}, ""},
		{[]string{`USER nobody`, `WORKDIR /srv`, `STOPSIGNAL SIGQUIT`}, manifest.Config{User: "nobody", WorkingDir: "/srv", StopSignal: "SIGQUIT"}, ""},
		{[]string{`RUN make`}, manifest.Config{}, "is not one of"},
		{[]string{`WORKDIR srv`}, manifest.Config{}, "must be absolute"},
		{[]string{`EXPOSE http`}, manifest.Config{}, "want a port"},
		{[]string{`STOPSIGNAL SIGNOPE`}, manifest.Config{}, "invalid signal"},
		{[]string{`CMD`}, manifest.Config{}, "no value"},
		{[]string{`LABEL a="open`}, manifest.Config{}, "unterminated"},
	}
	for _, tc := range tests {
		var got manifest.Config
		err := ApplyChanges(&got, tc.changes)
		if tc.err != "" {
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an invalid-parameter error with %q", tc.changes, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, %v; want %+v", tc.changes, got, err, tc.want)
		}
	}
}

func rootfsTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/app", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3},
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
	} {
		h.Uid, h.Gid = os.Getuid(), os.Getgid()
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("app"))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// TestContainerFromImage imports an image, makes a container of it and
// checks that its writable layer lives exactly as long as the container
// and holds the image against rmi.
func TestContainerFromImage(t *testing.T) {
	e, _ := newTestEngine(t)
	img, err := e.ImportImage(context.Background(), bytes.NewReader(rootfsTar(t)), ImportOptions{
		Ref: "local/app:v1", Changes: []string{`CMD ["/bin/app"]`, "ENV MODE=test", "WORKDIR /srv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Create("", api.Config{Image: "local/app:v2"}, nil); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "No such image: local/app:v2") {
		t.Errorf("create from an unknown tag: %v", err)
	}
	if _, _, err := e.Create("", api.Config{Image: "Bad:Ref"}, nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("create from a bad reference: %v", err)
	}
	if _, _, err := e.CreateWith(CreateOptions{Platform: "linux/s390x"}, api.Config{Image: "local/app:v1"}, nil); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "does not match the specified platform") {
		t.Errorf("create for another platform: %v", err)
	}
	if _, _, err := e.Create("", api.Config{Image: "local/app:v1", Healthcheck: &api.HealthConfig{Retries: 2}}, nil); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "has no HEALTHCHECK") {
		t.Errorf("health options for an image without a health check: %v", err)
	}
	id, _, err := e.Create("app", api.Config{Image: "local/app:v1", Env: []string{"EXTRA=1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	j, err := e.Inspect(id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Image != string(img.ID) || j.Path != "/bin/app" || j.Config.WorkingDir != "/srv" || j.Config.Image != "local/app:v1" ||
		strings.Join(j.Config.Env, " ") != "MODE=test EXTRA=1" {
		t.Errorf("inspect: image %s path %s config %+v", j.Image, j.Path, j.Config)
	}
	c, _ := e.Lookup(id)
	rootfs := c.rec.Rootfs
	if data, err := os.ReadFile(filepath.Join(rootfs, "bin", "app")); err != nil || string(data) != "app" {
		t.Errorf("rootfs %s: %q, %v", rootfs, data, err)
	}
	if _, err := e.RemoveImage("local/app:v1", false); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "must force") {
		t.Errorf("rmi of a used image: %v", err)
	}
	if err := e.Remove(id, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.TagImage("local/app:v1", "local/app:v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RemoveImage(img.ID.Hex()[:12], false); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "referenced in multiple repositories") {
		t.Errorf("rmi by ID of an image with two names: %v", err)
	}
	if r, err := e.RemoveImage("local/app:v2", false); err != nil || len(r.Untagged) != 1 || len(r.Deleted) != 0 {
		t.Errorf("rmi of one of two names: %+v, %v", r, err)
	}
	if _, err := os.Stat(rootfs); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rootfs left after rm: %v", err)
	}
	r, err := e.RemoveImage("local/app:v1", false)
	if err != nil || len(r.Deleted) != 1 || r.Deleted[0] != img.ID {
		t.Errorf("rmi: %+v, %v", r, err)
	}
	if imgs, err := e.Images(); err != nil || len(imgs) != 0 {
		t.Errorf("images after rmi: %d, %v", len(imgs), err)
	}
}

// TestForcedRmiThenRm: rmi -f of an image a stopped container uses keeps
// its layers until the container goes.
func TestForcedRmiThenRm(t *testing.T) {
	e, _ := newTestEngine(t)
	if _, err := e.ImportImage(context.Background(), bytes.NewReader(rootfsTar(t)), ImportOptions{Ref: "local/app:v1", Changes: []string{`CMD ["/bin/app"]`}}); err != nil {
		t.Fatal(err)
	}
	id, _, err := e.Create("", api.Config{Image: "local/app:v1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RemoveImage("local/app:v1", true); err != nil {
		t.Fatalf("rmi -f: %v", err)
	}
	s, _ := e.images()
	if layers, _ := s.Snapshots().Layers(); len(layers) != 1 {
		t.Errorf("%d layers while the container exists, want 1", len(layers))
	}
	if err := e.Remove(id, RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	e.removals.Wait() // the rootfs goes after the answer
	if layers, _ := s.Snapshots().Layers(); len(layers) != 0 {
		t.Errorf("%d layers left after rm", len(layers))
	}
}

// TestPartialCreateDiscarded: a container directory without a record (a
// create cut short by a crash) and its writable layer go at the next
// start of the engine.
func TestPartialCreateDiscarded(t *testing.T) {
	e, _ := newTestEngine(t)
	img, err := e.ImportImage(context.Background(), bytes.NewReader(rootfsTar(t)), ImportOptions{Ref: "local/app:v1", Changes: []string{`CMD ["/bin/app"]`}})
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	dir := filepath.Join(e.containersDir(), id)
	if err := os.Mkdir(dir, 0o710); err != nil {
		t.Fatal(err)
	}
	if _, err := e.prepareRootfs(id, dir, img); err != nil {
		t.Fatal(err)
	}
	opts := e.opts
	e.Close()
	e2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial container's directory is left: %v", err)
	}
	s, err := e2.images()
	if err != nil {
		t.Fatal(err)
	}
	if acts, err := s.Snapshots().Actives(); err != nil || len(acts) != 0 {
		t.Errorf("writable layers left: %v, %v", acts, err)
	}
	if _, err := e2.RemoveImage("local/app:v1", false); err != nil {
		t.Errorf("rmi after the partial container went: %v", err)
	}
}
