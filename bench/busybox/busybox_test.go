package busybox

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func fakeBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(p, []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRootfs(t *testing.T) {
	tests := []struct {
		name    string
		applets []string
		wantErr bool
	}{
		{"links", []string{"bin/sh", "usr/bin/awk", "sbin/init", "bin/busybox"}, false},
		{"escape", []string{"../sh"}, true},
		{"absolute", []string{"/bin/sh"}, true},
		{"unclean", []string{"bin/../../sh"}, true},
	}
	bin := fakeBinary(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Rootfs(dir, bin, tt.applets)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Rootfs: err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			fi, err := os.Lstat(filepath.Join(dir, "bin/busybox"))
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
				t.Fatalf("bin/busybox: %v %v, want regular 0755", fi, err)
			}
			for _, a := range tt.applets {
				if a == "bin/busybox" {
					continue
				}
				if l, err := os.Readlink(filepath.Join(dir, a)); err != nil || l != "/bin/busybox" {
					t.Errorf("%s -> %q (%v), want /bin/busybox", a, l, err)
				}
			}
			for _, d := range []string{"proc", "sys", "dev", "tmp"} {
				if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
					t.Errorf("mount point %s missing: %v", d, err)
				}
			}
		})
	}
}

func TestAdjust(t *testing.T) {
	tests := []struct {
		name   string
		in     *specs.Spec
		wantNS int
	}{
		{"runc template", &specs.Spec{
			Process: &specs.Process{Terminal: true, Args: []string{"sh"}},
			Root:    &specs.Root{Path: "rootfs", Readonly: true},
			Linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}}},
		}, 2},
		{"no network namespace", &specs.Spec{
			Process: &specs.Process{Terminal: true},
			Linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}}},
		}, 2},
		{"empty", &specs.Spec{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.in
			Adjust(s, "/b/rootfs", "sleep", "1000")
			if s.Process.Terminal {
				t.Error("terminal still on")
			}
			if !slices.Equal(s.Process.Args, []string{"sleep", "1000"}) {
				t.Errorf("args = %q", s.Process.Args)
			}
			if s.Root.Path != "/b/rootfs" {
				t.Errorf("root = %q", s.Root.Path)
			}
			n := 0
			for _, ns := range s.Linux.Namespaces {
				if ns.Type == specs.NetworkNamespace {
					n++
				}
			}
			if n != 1 || len(s.Linux.Namespaces) != tt.wantNS {
				t.Errorf("namespaces = %v: want one network namespace among %d", s.Linux.Namespaces, tt.wantNS)
			}
		})
	}
}

func TestWriteDockerArchive(t *testing.T) {
	dir := t.TempDir()
	if err := Rootfs(dir, fakeBinary(t), []string{"bin/sh"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteDockerArchive(&buf, dir, "busybox:test", ImageConfig{Cmd: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	m := manifest[0]
	if !slices.Equal(m.RepoTags, []string{"busybox:test"}) || len(m.Layers) != 1 {
		t.Fatalf("manifest = %+v", m)
	}
	cfgSum := sha256.Sum256(files[m.Config])
	if hex.EncodeToString(cfgSum[:])+".json" != m.Config {
		t.Errorf("config %s: content digest differs", m.Config)
	}
	var cfg struct {
		Config struct{ Cmd []string }
		Rootfs struct {
			DiffIDs []string `json:"diff_ids"`
		}
	}
	if err := json.Unmarshal(files[m.Config], &cfg); err != nil {
		t.Fatal(err)
	}
	layer := files[m.Layers[0]]
	sum := sha256.Sum256(layer)
	if want := "sha256:" + hex.EncodeToString(sum[:]); !slices.Equal(cfg.Rootfs.DiffIDs, []string{want}) {
		t.Errorf("diff_ids = %v, want [%s]", cfg.Rootfs.DiffIDs, want)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"true"}) {
		t.Errorf("cmd = %v", cfg.Config.Cmd)
	}
	found := map[string]string{}
	lr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
		}
		found[h.Name] = h.Linkname
	}
	if found["bin/sh"] != "/bin/busybox" {
		t.Errorf("layer: bin/sh -> %q, want /bin/busybox", found["bin/sh"])
	}
	if _, ok := found["bin/busybox"]; !ok {
		t.Error("layer lacks bin/busybox")
	}
}
