package imagetool

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func rootfsTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string]string{"bin/hello": "hi", "etc/motd": "petrel"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func TestCommands(t *testing.T) {
	root := t.TempDir()
	tool := func(stdin []byte, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"--root", root, "--driver", "copy", "--auth-file", filepath.Join(root, "auth.json")}, args...),
			bytes.NewReader(stdin), &out, &errb)
		return out.String(), err
	}
	id, err := tool(rootfsTar(t), "import", "--name", "hello:v1", "--cmd", "/bin/hello", "-")
	if err != nil || !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import: %q %v", id, err)
	}
	if _, err := tool(nil, "tag", "hello:v1", "hello:v2"); err != nil {
		t.Fatal(err)
	}
	out, err := tool(nil, "images")
	if err != nil || !strings.Contains(out, "hello ") || !strings.Contains(out, "v1") || !strings.Contains(out, "v2") {
		t.Fatalf("images: %q %v", out, err)
	}
	out, err = tool(nil, "inspect", "hello:v2")
	if err != nil || !strings.Contains(out, `"/bin/hello"`) {
		t.Fatalf("inspect: %q %v", out, err)
	}
	archive := filepath.Join(root, "hello.tar")
	if _, err := tool(nil, "save", "-o", archive, "hello:v1"); err != nil {
		t.Fatal(err)
	}
	out, err = tool(nil, "rmi", "hello:v1", "hello:v2")
	if err != nil || !strings.Contains(out, "Deleted: "+strings.TrimSpace(id)) {
		t.Fatalf("rmi: %q %v", out, err)
	}
	out, err = tool(nil, "load", "-i", archive)
	if err != nil || !strings.Contains(out, "Loaded image: docker.io/library/hello:v1") {
		t.Fatalf("load: %q %v", out, err)
	}
	if _, err := tool(nil, "rootfs", "c1", "hello:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := tool(nil, "rmi", "hello:v1"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("rmi of an image in use: %v", err)
	}
	if out, err := tool(nil, "df"); err != nil || !strings.Contains(out, "rootfs c1") {
		t.Fatalf("df: %q %v", out, err)
	}
	exp := filepath.Join(root, "c1.tar")
	if _, err := tool(nil, "export", "-o", exp, "c1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(exp); !bytes.Contains(b, []byte("petrel")) {
		t.Error("export lacks the rootfs")
	}
	if _, err := tool(nil, "frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
	if _, err := tool(nil, "logout", "127.0.0.1:1"); err == nil {
		t.Error("logout without a login succeeded")
	}
}
