//go:build integration

package image

import (
	"os"
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
