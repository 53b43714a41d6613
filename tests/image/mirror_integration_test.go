//go:build integration

package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/image/registry"
)

// TestPullThroughMirror pulls an image of one registry through a second,
// configured as its mirror (docker-registry as a pull-through cache).
func TestPullThroughMirror(t *testing.T) {
	requireTools(t)
	origin := startRegistry(t, "", "")
	o := newLayout(t)
	o.tag("v1", o.image(hostPlatform(), []string{"sh"}, gzipLayer(t, busyboxTar(t))))
	o.push(origin, "v1", "mirrored/busybox")

	cache := t.TempDir()
	mirror := startRegistryConfig(t, cache, "", "proxy:\n  remoteurl: http://"+origin.host+"\n")
	s := openStore(t, registry.Config{Mirrors: map[string][]string{origin.host: {"http://" + mirror.host}}})
	img, err := s.Pull(context.Background(), origin.host+"/mirrored/busybox:v1", image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The mirror fetched and kept the layers: the pull went through it.
	var blobs int
	filepath.WalkDir(filepath.Join(cache, "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "data" && !d.IsDir() {
			blobs++
		}
		return nil
	})
	if blobs < 2 {
		t.Errorf("the mirror cached %d blobs; the pull did not go through it", blobs)
	}
	if _, err := s.PrepareRootfs("c", string(img.ID)); err != nil {
		t.Fatal(err)
	}
	if out := runIn(t, s, "c", "/bin/echo", "mirrored"); out != "mirrored\n" {
		t.Errorf("echo: %q", out)
	}
}
