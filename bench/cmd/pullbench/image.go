package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/petrel-edge/petrel/bench/busybox"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
)

// The tag of the image in the OCI layout and in the registry.
const imageTag = "latest"

// layerInfo describes one layer of the benchmark image.
type layerInfo struct {
	What     string `json:"what"`
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`      // compressed (gzip) bytes
	DiffSize int64  `json:"diff_size"` // uncompressed tar bytes
}

// imageInfo describes the benchmark image.
type imageInfo struct {
	Layers    []layerInfo `json:"layers"`
	Size      int64       `json:"size"`      // all layers, compressed
	DiffSize  int64       `json:"diff_size"` // all layers, uncompressed
	Reference string      `json:"reference,omitempty"`
}

// countWriter counts the bytes written through it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// layout is an OCI image layout directory being written.
type layout struct {
	dir    string
	layers []manifest.Descriptor
	diffs  []digest.Digest
	info   imageInfo
}

func newLayout(dir string) (*layout, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return nil, err
	}
	return &layout{dir: dir}, nil
}

// blob writes b as a blob and returns its descriptor.
func (o *layout) blob(mediaType string, b []byte) (manifest.Descriptor, error) {
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(o.dir, "blobs", "sha256", d.Hex()), b, 0o644); err != nil {
		return manifest.Descriptor{}, err
	}
	return manifest.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}

// addLayer streams the tar that fill writes through gzip into a blob, so
// that memory stays flat whatever the layer's size.
func (o *layout) addLayer(what string, fill func(tw *tar.Writer) error) error {
	f, err := os.CreateTemp(filepath.Join(o.dir, "blobs", "sha256"), ".layer-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	defer f.Close()
	blobD, _ := digest.NewDigester("sha256")
	diffD, _ := digest.NewDigester("sha256")
	var size, diffSize countWriter
	bw := bufio.NewWriterSize(io.MultiWriter(f, blobD, &size), 1<<16)
	zw := gzip.NewWriter(bw)
	tw := tar.NewWriter(io.MultiWriter(zw, diffD, &diffSize))
	if err := fill(tw); err != nil {
		return fmt.Errorf("layer %s: %w", what, err)
	}
	for _, c := range []func() error{tw.Close, zw.Close, bw.Flush, f.Close} {
		if err := c(); err != nil {
			return fmt.Errorf("layer %s: %w", what, err)
		}
	}
	d := blobD.Digest()
	if err := os.Rename(f.Name(), filepath.Join(o.dir, "blobs", "sha256", d.Hex())); err != nil {
		return err
	}
	o.layers = append(o.layers, manifest.Descriptor{MediaType: manifest.MediaTypeOCILayerGzip, Digest: d, Size: size.n})
	o.diffs = append(o.diffs, diffD.Digest())
	o.info.Layers = append(o.info.Layers, layerInfo{What: what, Digest: d.String(), Size: size.n, DiffSize: diffSize.n})
	o.info.Size += size.n
	o.info.DiffSize += diffSize.n
	return nil
}

// finish writes the config, the manifest and index.json naming it tag.
func (o *layout) finish(tag string) error {
	created := time.Unix(1700000000, 0).UTC()
	img := manifest.Image{Created: &created, Architecture: runtime.GOARCH, OS: "linux",
		Config: manifest.Config{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}},
		RootFS: manifest.RootFS{Type: "layers", DiffIDs: o.diffs}}
	cb, err := json.Marshal(img)
	if err != nil {
		return err
	}
	cd, err := o.blob(manifest.MediaTypeOCIConfig, cb)
	if err != nil {
		return err
	}
	mb, err := json.Marshal(manifest.Manifest{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIManifest, Config: cd, Layers: o.layers})
	if err != nil {
		return err
	}
	md, err := o.blob(manifest.MediaTypeOCIManifest, mb)
	if err != nil {
		return err
	}
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	xb, err := json.Marshal(manifest.Index{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIIndex, Manifests: []manifest.Descriptor{md}})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.dir, "index.json"), xb, 0o644)
}

// hdr is a tar header with fixed times and owner.
func hdr(name string, typ byte, mode, size int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
}

// writeFile adds a regular file with body to tw.
func writeFile(tw *tar.Writer, name string, body []byte) error {
	if err := tw.WriteHeader(hdr(name, tar.TypeReg, 0o644, int64(len(body)))); err != nil {
		return err
	}
	_, err := tw.Write(body)
	return err
}

// dataChunk is the size of the big layer's files.
const dataChunk = 8 << 20

// fillData writes size bytes of incompressible-ish data to w: pseudo-random
// bytes from seed, every fourth 4 KiB block of them hex-encoded, so that gzip
// saves a few per cent (about 4) and still has to work for it.
func fillData(w io.Writer, seed uint64, size int64) error {
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	var raw [4096]byte
	var hx [4096]byte
	for i := int64(0); size > 0; i++ {
		n := min(int64(len(raw)), size)
		var b []byte
		if i%4 == 3 {
			rng.Read(raw[:len(hx)/2])
			hex.Encode(hx[:], raw[:len(hx)/2])
			b = hx[:n]
		} else {
			rng.Read(raw[:])
			b = raw[:n]
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// buildImage writes the benchmark image as an OCI layout in dir: busybox,
// three small layers (the last removes a file with a whiteout) and a layer
// of dataSize bytes in files of dataChunk bytes.
func buildImage(dir, rootfs string, dataSize int64) (imageInfo, error) {
	o, err := newLayout(dir)
	if err != nil {
		return imageInfo{}, err
	}
	if err := busybox.HostRootfs(rootfs); err != nil {
		return imageInfo{}, fmt.Errorf("busybox rootfs: %w", err)
	}
	steps := []struct {
		what string
		fill func(tw *tar.Writer) error
	}{
		{"busybox", func(tw *tar.Writer) error {
			// LayerTar writes a whole tar; copy its entries into tw.
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(busybox.LayerTar(pw, rootfs)) }()
			defer pr.Close()
			tr := tar.NewReader(pr)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
				if _, err := io.Copy(tw, tr); err != nil {
					return err
				}
			}
		}},
		{"etc files", func(tw *tar.Writer) error {
			if err := tw.WriteHeader(hdr("etc/bench/", tar.TypeDir, 0o755, 0)); err != nil {
				return err
			}
			for i := range 20 {
				body := fmt.Appendf(nil, "# setting %d\nkey%d = value%d\n", i, i, i)
				if err := writeFile(tw, fmt.Sprintf("etc/bench/conf-%02d", i), body); err != nil {
					return err
				}
			}
			return nil
		}},
		{"text 2 MiB", func(tw *tar.Writer) error {
			if err := tw.WriteHeader(hdr("usr/share/bench/", tar.TypeDir, 0o755, 0)); err != nil {
				return err
			}
			var text []byte
			for i := 0; len(text) < 2<<20; i++ {
				text = fmt.Appendf(text, "line %d of a compressible text file of the benchmark image\n", i)
			}
			return writeFile(tw, "usr/share/bench/text", text[:2<<20])
		}},
		{"whiteout", func(tw *tar.Writer) error {
			if err := tw.WriteHeader(hdr("etc/bench/", tar.TypeDir, 0o755, 0)); err != nil {
				return err
			}
			if err := tw.WriteHeader(hdr("etc/bench/.wh.conf-00", tar.TypeReg, 0o644, 0)); err != nil {
				return err
			}
			return writeFile(tw, "etc/bench/conf-20", []byte("key20 = value20\n"))
		}},
		{fmt.Sprintf("data %d MiB", dataSize>>20), func(tw *tar.Writer) error {
			if err := tw.WriteHeader(hdr("data/", tar.TypeDir, 0o755, 0)); err != nil {
				return err
			}
			for i := int64(0); i*dataChunk < dataSize; i++ {
				n := min(dataChunk, dataSize-i*dataChunk)
				if err := tw.WriteHeader(hdr(fmt.Sprintf("data/blob-%03d", i), tar.TypeReg, 0o644, n)); err != nil {
					return err
				}
				if err := fillData(tw, uint64(i), n); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, s := range steps {
		if err := o.addLayer(s.what, s.fill); err != nil {
			return imageInfo{}, err
		}
	}
	if err := o.finish(imageTag); err != nil {
		return imageInfo{}, err
	}
	return o.info, nil
}
