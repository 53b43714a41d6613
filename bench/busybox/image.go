package busybox

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// epoch returns the modification time of every archive entry, so that the
// same root filesystem always gives the same layer digest.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// LayerTar writes the tree under dir as an uncompressed layer tar, entries
// in lexical order, owned by root, with a fixed modification time.
func LayerTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		h.ModTime, h.AccessTime, h.ChangeTime = epoch(), time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("layer of %s: %w", dir, err)
	}
	return tw.Close()
}

// ImageConfig is the image configuration of an archive: the command and
// environment a container of the image gets by default.
type ImageConfig struct {
	Cmd []string
	Env []string
}

// WriteDockerArchive writes the root filesystem under dir as a one-layer
// image in the docker-archive format (what `docker save` writes and
// `docker load`, `podman load` and `ctr images import` read), tagged repoTag.
func WriteDockerArchive(w io.Writer, dir, repoTag string, ic ImageConfig) error {
	var layer bytes.Buffer
	if err := LayerTar(&layer, dir); err != nil {
		return err
	}
	layerSum := sha256.Sum256(layer.Bytes())
	layerHex := hex.EncodeToString(layerSum[:])
	if ic.Env == nil {
		ic.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	if ic.Cmd == nil {
		ic.Cmd = []string{"sh"}
	}
	cfg := map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      epoch().Format(time.RFC3339),
		"config":       map[string]any{"Cmd": ic.Cmd, "Env": ic.Env},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerHex}},
		"history":      []map[string]any{{"created": epoch().Format(time.RFC3339), "created_by": "busybox rootfs"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   cfgName,
		"RepoTags": []string{repoTag},
		"Layers":   []string{layerHex + "/layer.tar"},
	}})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{layerHex + "/", nil},
		{layerHex + "/layer.tar", layer.Bytes()},
		{cfgName, cfgJSON},
		{"manifest.json", manifest},
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch(), Typeflag: tar.TypeReg}
		if e.data == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
}
