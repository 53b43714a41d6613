//go:build integration

package image

import (
	"os"
	"os/exec"
	"testing"

	"github.com/petrel-edge/petrel/image/snapshot"
)

// TestHostilePullsOverlay runs the hostile-image table on the overlay
// driver, where layers unpack as diffs with overlay whiteouts.
func TestHostilePullsOverlay(t *testing.T) {
	if !snapshot.OverlaySupported() {
		if os.Getenv("CI") == "true" {
			t.Fatal("overlayfs needs root and kernel support")
		}
		t.Skip("overlayfs needs root and kernel support")
	}
	testHostilePulls(t, "overlay")
}

// TestUnitTestsOnOverlay runs the pull, archive and rootfs tests again
// with the overlay driver, where layers download and unpack in parallel.
func TestUnitTestsOnOverlay(t *testing.T) {
	if os.Getenv(driverEnv) != "" {
		t.Skip("this is the inner run")
	}
	if !snapshot.OverlaySupported() {
		if os.Getenv("CI") == "true" {
			t.Fatal("overlayfs needs root and kernel support")
		}
		t.Skip("overlayfs needs root and kernel support")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.run",
		"^Test(Pull|SharedLayers|ConcurrentDownloads|RemoveAndTag|BadPartial|SaveLoad|LoadDocker|LoadOCI|ImportExport|StreamedPull|ConcurrentPulls)")
	cmd.Env = append(os.Environ(), driverEnv+"=overlay")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests on overlay: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
