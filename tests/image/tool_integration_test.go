//go:build integration

package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageToolApplet drives "petrel image-tool" (the built binary from
// PETREL_BIN, as make test-integration sets it) against the registry.
func TestImageToolApplet(t *testing.T) {
	requireTools(t)
	bin := os.Getenv("PETREL_BIN")
	require(t, bin != "", "PETREL_BIN (make test-integration sets it)")
	reg := startRegistry(t, "", "")
	o := newLayout(t)
	o.tag("v1", o.image(hostPlatform(), []string{"sh"}, zstdLayer(t, busyboxTar(t))))
	o.push(reg, "v1", "tool/busybox")

	root := t.TempDir()
	tool := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"image-tool", "--root", root, "--auth-file", filepath.Join(root, "auth.json")}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("image-tool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	name := reg.host + "/tool/busybox:v1"
	if out := tool("pull", name); !strings.Contains(out, "Pull complete") {
		t.Errorf("pull output: %s", out)
	}
	if out := tool("images"); !strings.Contains(out, reg.host+"/tool/busybox") {
		t.Errorf("images: %s", out)
	}
	tool("rootfs", "c1", name)
	mnt := t.TempDir()
	tool("mount", "c1", mnt)
	b, err := os.ReadFile(filepath.Join(mnt, "etc/os-release"))
	tool("umount", mnt)
	if err != nil || string(b) != "NAME=petrel-test\n" {
		t.Errorf("mounted rootfs: %q %v", b, err)
	}
	exp := filepath.Join(t.TempDir(), "c1.tar")
	tool("export", "-o", exp, "c1")
	if fi, err := os.Stat(exp); err != nil || fi.Size() < 1<<20 {
		t.Errorf("export: %v", err)
	}
	tool("rm", "c1")
	if out := tool("rmi", name); !strings.Contains(out, "Deleted:") {
		t.Errorf("rmi: %s", out)
	}
}
