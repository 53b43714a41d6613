//go:build integration

package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/image/registry"
)

func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("skopeo", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestArchivesWithSkopeo: what Save writes, skopeo reads as both a
// docker-archive and an OCI archive; what skopeo writes in either format,
// Load reads; the loaded image runs.
func TestArchivesWithSkopeo(t *testing.T) {
	requireTools(t)
	o := newLayout(t)
	app := tarOf(t, entry{name: "who", body: "archived"})
	o.tag("v1", o.image(hostPlatform(), []string{"sh"}, gzipLayer(t, busyboxTar(t)), gzipLayer(t, app))) // docker-archive takes no zstd
	dir := t.TempDir()
	dockerTar := filepath.Join(dir, "docker.tar")
	ociTar := filepath.Join(dir, "oci.tar")
	skopeo(t, "copy", "oci:"+o.dir+":v1", "docker-archive:"+dockerTar+":petrel/archived:v1")
	skopeo(t, "copy", "oci:"+o.dir+":v1", "oci-archive:"+ociTar+":v1")

	s := openStore(t, registry.Config{})
	ctx := context.Background()
	for _, tc := range []struct{ file, name, want string }{
		{dockerTar, "", "docker.io/petrel/archived:v1"},
		{ociTar, "petrel/oci", "docker.io/petrel/oci:v1"},
	} {
		f, err := os.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := s.Load(ctx, f, image.LoadOptions{Name: tc.name})
		f.Close()
		if err != nil {
			t.Fatalf("load %s: %v", tc.file, err)
		}
		// Both archives hold the same image: the second load adds a name.
		if len(imgs) != 1 || !slices.Contains(imgs[0].Names, tc.want) {
			t.Fatalf("load %s: %d images, names %v", tc.file, len(imgs), imgs[0].Names)
		}
		key := "c-" + filepath.Base(tc.file)
		if _, err := s.PrepareRootfs(key, tc.want); err != nil {
			t.Fatal(err)
		}
		if out := runIn(t, s, key, "/bin/cat", "/who"); out != "archived" {
			t.Errorf("%s: %q", tc.file, out)
		}
	}

	saved := filepath.Join(dir, "saved.tar")
	f, err := os.Create(saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(f, []string{"petrel/archived:v1"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, transport := range []string{"docker-archive:", "oci-archive:"} {
		out := skopeo(t, "inspect", "--config", transport+saved)
		if !strings.Contains(out, `"sh"`) {
			t.Errorf("skopeo inspect %s of the saved archive: %s", transport, out)
		}
		skopeo(t, "copy", transport+saved, "oci:"+filepath.Join(dir, "copy-"+strings.TrimSuffix(transport, ":"))+":x")
	}
}
