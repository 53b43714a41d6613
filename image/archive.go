package image

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/reference"
	"github.com/petrel-edge/petrel/image/unpack"
)

// Annotations of OCI layouts that carry image names.
const (
	annotationRefName   = "org.opencontainers.image.ref.name"
	annotationImageName = "io.containerd.image.name"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Platform picks from multi-platform OCI archives (default: the store's).
	Platform *manifest.Platform
	// Name names images the archive leaves unnamed (OCI layouts whose
	// entries carry only a tag, or none).
	Name string
}

// dockerManifest is an entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// Load reads a docker-archive ("docker save") or an OCI image layout tar,
// plain or compressed with gzip or zstd, from r in one pass (r may be a
// pipe), and stores its images; their Names are those the archive gave
// (the store may hold more for the same image). Every
// member is hashed as it is stored; OCI blobs must match their names.
// Members no image uses are collected afterwards.
func (s *Store) Load(ctx context.Context, r io.Reader, opt LoadOptions) ([]*Image, error) {
	// docker load takes compressed archives too (docker save | gzip).
	zr, _, err := unpack.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	files := map[string]digest.Digest{} // archive path -> stored blob
	links := map[string]string{}
	var dockerMan, ociIndex []byte
	var ingested []digest.Digest
	release := func() {}
	defer func() { release() }()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("load: read archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			links[name] = path.Join(path.Dir(name), hdr.Linkname)
			continue
		case tar.TypeLink:
			links[name] = path.Clean(hdr.Linkname)
			continue
		case tar.TypeReg, tar.TypeRegA:
		default:
			continue
		}
		switch name {
		case "manifest.json", "index.json":
			b, err := io.ReadAll(io.LimitReader(tr, manifest.MaxManifestSize+1))
			if err != nil || len(b) > manifest.MaxManifestSize {
				return nil, fmt.Errorf("load: %s: too large or unreadable", name)
			}
			if name == "manifest.json" {
				dockerMan = b
			} else {
				ociIndex = b
			}
			continue
		case "oci-layout", "repositories":
			continue
		}
		info, err := s.content.Ingest(tr)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", name, err)
		}
		// Keep the members from the collector until an image holds them.
		r := s.lease(info.Digest)
		prev := release
		release = func() { r(); prev() }
		ingested = append(ingested, info.Digest)
		if alg, hx, ok := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/"); ok && strings.HasPrefix(name, "blobs/") {
			if want := digest.Digest(alg + ":" + hx); want.Validate() == nil && want != info.Digest {
				release()
				release = func() {}
				s.GC()
				return nil, fmt.Errorf("load: %s: %w", name, &digest.MismatchError{Want: want, Got: info.Digest})
			}
		}
		files[name] = info.Digest
	}
	resolve := func(p string) (digest.Digest, bool) {
		p = path.Clean(p)
		for range 16 {
			if d, ok := files[p]; ok {
				return d, true
			}
			t, ok := links[p]
			if !ok {
				break
			}
			p = t
		}
		return "", false
	}
	var imgs []*Image
	switch {
	case dockerMan != nil:
		imgs, err = s.loadDocker(ctx, dockerMan, resolve, opt)
	case ociIndex != nil:
		imgs, err = s.loadOCI(ctx, ociIndex, opt)
	default:
		err = errors.New("load: neither manifest.json nor index.json in the archive: not a docker-archive or OCI layout")
	}
	release()
	release = func() {}
	if _, gcErr := s.GC(); err == nil {
		err = gcErr
	}
	return imgs, err
}

func (s *Store) loadDocker(ctx context.Context, b []byte, resolve func(string) (digest.Digest, bool), opt LoadOptions) ([]*Image, error) {
	var entries []dockerManifest
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("load: manifest.json: %w", err)
	}
	var out []*Image
	for _, e := range entries {
		cd, ok := resolve(e.Config)
		if !ok {
			return out, fmt.Errorf("load: config %s missing from the archive", e.Config)
		}
		ci, err := s.content.Info(cd)
		if err != nil {
			return out, err
		}
		m := manifest.Manifest{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIManifest,
			Config: manifest.Descriptor{MediaType: manifest.MediaTypeOCIConfig, Digest: cd, Size: ci.Size}}
		for _, lp := range e.Layers {
			ld, ok := resolve(lp)
			if !ok {
				return out, fmt.Errorf("load: layer %s missing from the archive", lp)
			}
			li, err := s.content.Info(ld)
			if err != nil {
				return out, err
			}
			mt, err := s.sniffLayer(ld)
			if err != nil {
				return out, err
			}
			m.Layers = append(m.Layers, manifest.Descriptor{MediaType: mt, Digest: ld, Size: li.Size})
		}
		var names []string
		for _, t := range e.RepoTags {
			ref, err := reference.Parse(t)
			if err != nil {
				return out, fmt.Errorf("load: %w", err)
			}
			names = append(names, ref.String())
		}
		if len(names) == 0 && opt.Name != "" {
			ref, err := reference.Parse(opt.Name)
			if err != nil {
				return out, err
			}
			names = append(names, ref.String())
		}
		img, err := s.createFromManifest(ctx, m, nil, nil, names)
		if err != nil {
			return out, fmt.Errorf("load: %w", err)
		}
		img.Names = names // what the archive named, as docker load reports
		out = append(out, img)
	}
	return out, nil
}

// sniffLayer returns the media type of a layer blob from its first bytes.
func (s *Store) sniffLayer(d digest.Digest) (string, error) {
	f, err := s.content.Open(d)
	if err != nil {
		return "", err
	}
	defer f.Close()
	rc, c, err := unpack.Decompress(bufio.NewReader(f))
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", d, err)
	}
	rc.Close()
	switch c {
	case manifest.Gzip:
		return manifest.MediaTypeOCILayerGzip, nil
	case manifest.Zstd:
		return manifest.MediaTypeOCILayerZstd, nil
	}
	return manifest.MediaTypeOCILayer, nil
}

func (s *Store) createFromManifest(ctx context.Context, m manifest.Manifest, index *manifest.Descriptor, ibody []byte, names []string) (*Image, error) {
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md := manifest.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	return s.create(ctx, &puller{s: s}, source{mdesc: md, mbody: mb, index: index, ibody: ibody, names: names})
}

func (s *Store) loadOCI(ctx context.Context, b []byte, opt LoadOptions) ([]*Image, error) {
	x, err := manifest.ParseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("load: index.json: %w", err)
	}
	want := s.platform
	if opt.Platform != nil {
		want = opt.Platform.Normalize()
	}
	var out []*Image
	for _, d := range x.Manifests {
		var names []string
		if n := d.Annotations[annotationImageName]; n != "" {
			if ref, err := reference.Parse(n); err == nil {
				names = append(names, ref.String())
			}
		} else if t := d.Annotations[annotationRefName]; t != "" {
			// A full reference (skopeo's oci-archive:…:name) or a tag.
			if ref, err := reference.Parse(t); err == nil && strings.ContainsAny(t, "/:") {
				names = append(names, ref.String())
			} else if opt.Name != "" {
				if ref, err := reference.ParseRepository(opt.Name); err == nil {
					names = append(names, ref.WithTag(t).String())
				}
			}
		}
		if len(names) == 0 && opt.Name != "" {
			if ref, err := reference.Parse(opt.Name); err == nil {
				names = append(names, ref.String())
			}
		}
		mdesc, mbody := d, []byte(nil)
		var index *manifest.Descriptor
		var ibody []byte
		body, err := s.content.ReadAll(d.Digest, manifest.MaxManifestSize)
		if err != nil {
			return out, fmt.Errorf("load: %s: %w", d.Digest, err)
		}
		kind, mt, err := manifest.Detect(d.MediaType, body)
		if err != nil {
			return out, fmt.Errorf("load: %w", err)
		}
		if kind == manifest.KindIndex {
			nested, err := manifest.ParseIndex(body)
			if err != nil {
				return out, fmt.Errorf("load: %w", err)
			}
			sel, err := manifest.Select(nested, want)
			if err != nil {
				return out, fmt.Errorf("load: %w", err)
			}
			ix := manifest.Descriptor{MediaType: mt, Digest: d.Digest, Size: d.Size}
			index, ibody = &ix, body
			mdesc = sel
			if mbody, err = s.content.ReadAll(sel.Digest, manifest.MaxManifestSize); err != nil {
				return out, fmt.Errorf("load: %s: %w", sel.Digest, err)
			}
		} else {
			if d.Platform != nil && !manifest.Matches(want, *d.Platform) {
				continue
			}
			mbody = body
			mdesc.MediaType = mt
		}
		mdesc.Annotations = nil
		img, err := s.create(ctx, &puller{s: s}, source{mdesc: mdesc, mbody: mbody, index: index, ibody: ibody, names: names})
		if err != nil {
			return out, fmt.Errorf("load: %w", err)
		}
		img.Names = names
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load: %w", &manifest.NoMatchError{Want: want})
	}
	return out, nil
}

// Save writes the images named by refs as one tar that is both an OCI
// image layout and a docker-archive (manifest.json), as Docker 25 does:
// docker load, podman load, skopeo and umoci read it.
func (s *Store) Save(w io.Writer, refs []string) error {
	tw := tar.NewWriter(w)
	written := map[digest.Digest]bool{}
	epoch := time.Unix(0, 0)
	addFile := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o444, Size: int64(len(b)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	addBlob := func(d digest.Digest) error {
		if written[d] {
			return nil
		}
		written[d] = true
		f, err := s.content.Open(d)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/" + d.Algorithm() + "/" + d.Hex(), Mode: 0o444, Size: fi.Size(), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	var dm []dockerManifest
	x := manifest.Index{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIIndex}
	for _, r := range refs {
		img, err := s.Get(r)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		// A name given names the image in the archive; an ID saves all its names.
		var names []string
		if ref, err := reference.Parse(r); err == nil && slicesContains(img.Names, ref.String()) {
			names = []string{ref.String()}
		} else {
			names = img.Names
		}
		for _, d := range append([]digest.Digest{img.Manifest.Digest, img.ID}, layerDigests(img)...) {
			if err := addBlob(d); err != nil {
				return fmt.Errorf("save %s: %w", r, err)
			}
		}
		e := dockerManifest{Config: "blobs/sha256/" + img.ID.Hex()}
		for _, l := range img.Layers {
			e.Layers = append(e.Layers, "blobs/"+l.Digest.Algorithm()+"/"+l.Digest.Hex())
		}
		md := manifest.Descriptor{MediaType: img.Manifest.MediaType, Digest: img.Manifest.Digest, Size: img.Manifest.Size}
		if len(names) == 0 {
			x.Manifests = append(x.Manifests, md)
		}
		for _, n := range names {
			ref, _ := reference.Parse(n)
			e.RepoTags = append(e.RepoTags, ref.Familiar())
			d := md
			d.Annotations = map[string]string{annotationImageName: ref.String(), annotationRefName: ref.Tag}
			x.Manifests = append(x.Manifests, d)
		}
		dm = append(dm, e)
	}
	ib, _ := json.Marshal(x)
	mb, _ := json.Marshal(dm)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", ib}, {"manifest.json", mb}} {
		if err := addFile(f.name, f.b); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	return tw.Close()
}

func layerDigests(img *Image) []digest.Digest {
	out := make([]digest.Digest, len(img.Layers))
	for i, l := range img.Layers {
		out[i] = l.Digest
	}
	return out
}

func slicesContains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Name names the image ("app:v1"); empty leaves it unnamed.
	Name string
	// Platform is recorded in the config (default: the store's).
	Platform *manifest.Platform
	// Config sets the runtime config (Cmd, Env, …) of the image.
	Config manifest.Config
	// Comment goes into the history entry.
	Comment string
}

// Import makes a one-layer image of a root filesystem tar (plain, gzip or
// zstd), as "docker import" does. r may be a pipe.
func (s *Store) Import(ctx context.Context, r io.Reader, opt ImportOptions) (*Image, error) {
	var names []string
	if opt.Name != "" {
		ref, err := reference.Parse(opt.Name)
		if err != nil {
			return nil, err
		}
		names = []string{ref.String()}
	}
	info, err := s.content.Ingest(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	release := s.lease(info.Digest)
	defer func() {
		release()
		s.GC()
	}()
	f, err := s.content.Open(info.Digest)
	if err != nil {
		return nil, err
	}
	rc, comp, err := unpack.Decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("import: %w", err)
	}
	diffID, _, err := digest.FromReader(rc)
	rc.Close()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("import: read layer: %w", err)
	}
	mt := manifest.MediaTypeOCILayer
	switch comp {
	case manifest.Gzip:
		mt = manifest.MediaTypeOCILayerGzip
	case manifest.Zstd:
		mt = manifest.MediaTypeOCILayerZstd
	}
	p := s.platform
	if opt.Platform != nil {
		p = opt.Platform.Normalize()
	}
	now := time.Now().UTC()
	comment := opt.Comment
	if comment == "" {
		comment = "imported from a tar"
	}
	cfg := manifest.Image{Created: &now, Architecture: p.Architecture, OS: p.OS, Variant: p.Variant, Config: opt.Config,
		RootFS:  manifest.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []manifest.History{{Created: &now, CreatedBy: "petrel import", Comment: comment}}}
	if p.Architecture == "arm64" && p.Variant == "v8" {
		cfg.Variant = ""
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cd := digest.FromBytes(cb)
	if err := s.content.Put(cd, cb); err != nil {
		return nil, err
	}
	m := manifest.Manifest{SchemaVersion: 2, MediaType: manifest.MediaTypeOCIManifest,
		Config: manifest.Descriptor{MediaType: manifest.MediaTypeOCIConfig, Digest: cd, Size: int64(len(cb))},
		Layers: []manifest.Descriptor{{MediaType: mt, Digest: info.Digest, Size: info.Size}}}
	img, err := s.createFromManifest(ctx, m, nil, nil, names)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return img, nil
}
