package regtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
)

// An Entry is one member of a test layer tar.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg by default
	Body     string
	Linkname string
	Mode     int64
	Xattrs   map[string]string
	Uid, Gid int
	Major    int64
	Minor    int64
}

// Tar returns an uncompressed layer tar of entries.
func Tar(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Linkname, Mode: e.Mode,
			Uid: e.Uid, Gid: e.Gid, Devmajor: e.Major, Devminor: e.Minor, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if len(e.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.Body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Zstd compresses b.
func Zstd(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// A Layer is a layer ready to push: its blob, media type and diff ID.
type Layer struct {
	Blob      []byte
	MediaType string
	DiffID    digest.Digest
}

// GzipLayer makes a gzip layer of tar bytes.
func GzipLayer(tarBytes []byte) Layer {
	return Layer{Gzip(tarBytes), manifest.MediaTypeOCILayerGzip, digest.FromBytes(tarBytes)}
}

// ZstdLayer makes a zstd layer of tar bytes.
func ZstdLayer(tarBytes []byte) Layer {
	return Layer{Zstd(tarBytes), manifest.MediaTypeOCILayerZstd, digest.FromBytes(tarBytes)}
}

// PlainLayer makes an uncompressed layer.
func PlainLayer(tarBytes []byte) Layer {
	return Layer{tarBytes, manifest.MediaTypeOCILayer, digest.FromBytes(tarBytes)}
}

// Image builds an OCI manifest and config for layers on platform p and
// returns the manifest bytes, its descriptor (with platform) and the blobs
// (config and layers) by digest.
func Image(p manifest.Platform, cmd []string, layers ...Layer) ([]byte, manifest.Descriptor, map[digest.Digest][]byte) {
	blobs := map[digest.Digest][]byte{}
	img := manifest.Image{Architecture: p.Architecture, OS: p.OS, Variant: p.Variant,
		Config: manifest.Config{Cmd: cmd, Env: []string{"PATH=/bin"}}, RootFS: manifest.RootFS{Type: "layers"}}
	m := manifest.Manifest{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIManifest}
	for _, l := range layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.DiffID)
		d := digest.FromBytes(l.Blob)
		blobs[d] = l.Blob
		m.Layers = append(m.Layers, manifest.Descriptor{MediaType: l.MediaType, Digest: d, Size: int64(len(l.Blob))})
	}
	cfg, _ := json.Marshal(img)
	cd := digest.FromBytes(cfg)
	blobs[cd] = cfg
	m.Config = manifest.Descriptor{MediaType: manifest.MediaTypeOCIConfig, Digest: cd, Size: int64(len(cfg))}
	mb, _ := json.Marshal(m)
	pc := p
	return mb, manifest.Descriptor{MediaType: manifest.MediaTypeOCIManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)), Platform: &pc}, blobs
}

// Push stores an image made by Image under repo:tag.
func (r *Registry) Push(repo, tag string, mb []byte, blobs map[digest.Digest][]byte) manifest.Descriptor {
	for d, b := range blobs {
		r.SetBlob(d, b)
	}
	return r.PutManifest(repo, tag, manifest.MediaTypeOCIManifest, mb)
}

// PushIndex stores the images and an OCI index over them under repo:tag.
func (r *Registry) PushIndex(repo, tag string, images ...ImageParts) manifest.Descriptor {
	x := manifest.Index{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIIndex}
	for _, im := range images {
		r.Push(repo, "", im.Manifest, im.Blobs)
		x.Manifests = append(x.Manifests, im.Desc)
	}
	xb, _ := json.Marshal(x)
	return r.PutManifest(repo, tag, manifest.MediaTypeOCIIndex, xb)
}

// ImageParts bundles what Image returns.
type ImageParts struct {
	Manifest []byte
	Desc     manifest.Descriptor
	Blobs    map[digest.Digest][]byte
}

// MakeImage is Image returning ImageParts.
func MakeImage(p manifest.Platform, cmd []string, layers ...Layer) ImageParts {
	mb, d, b := Image(p, cmd, layers...)
	return ImageParts{mb, d, b}
}
