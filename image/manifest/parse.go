package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/petrel-edge/petrel/image/digest"
)

// ErrInvalid is wrapped by every failure to parse or validate a document.
var ErrInvalid = errors.New("invalid manifest")

// Limits that keep a hostile document from costing much.
const (
	MaxManifestSize = 4 << 20 // bytes of a manifest, index or config
	maxEntries      = 4096    // layers of a manifest, entries of an index
)

// Kind tells a manifest from an index.
type Kind int

const (
	KindManifest Kind = iota + 1
	KindIndex
)

// IsIndex reports whether mediaType names an index or manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == MediaTypeOCIIndex || mediaType == MediaTypeDockerManifestList
}

// IsManifest reports whether mediaType names an image manifest.
func IsManifest(mediaType string) bool {
	return mediaType == MediaTypeOCIManifest || mediaType == MediaTypeDockerManifest
}

// Detect returns the kind and media type of body. contentType (from a
// registry's Content-Type or a descriptor) wins when it names a known
// type; otherwise the document's own mediaType field, then its shape
// ("manifests" or "layers") decide. Schema 1 manifests are refused.
func Detect(contentType string, body []byte) (Kind, string, error) {
	if len(body) > MaxManifestSize {
		return 0, "", fmt.Errorf("%w: %d bytes is larger than %d", ErrInvalid, len(body), MaxManifestSize)
	}
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(ct)
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Layers        json.RawMessage `json:"layers"`
		FSLayers      json.RawMessage `json:"fsLayers"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return 0, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	mt := ct
	if !IsIndex(mt) && !IsManifest(mt) {
		mt = probe.MediaType
	}
	if mt == MediaTypeDockerSchema1 || mt == MediaTypeDockerSchema1Signed || probe.SchemaVersion == 1 || probe.FSLayers != nil {
		return 0, "", fmt.Errorf("%w: Docker schema 1 manifests are not supported; push the image again with a current client", ErrInvalid)
	}
	if probe.MediaType != "" && probe.MediaType != mt {
		return 0, "", fmt.Errorf("%w: document says media type %q but was served as %q", ErrInvalid, probe.MediaType, mt)
	}
	switch {
	case IsIndex(mt):
		return KindIndex, mt, nil
	case IsManifest(mt):
		return KindManifest, mt, nil
	case mt == "" && probe.Manifests != nil && probe.Layers == nil:
		return KindIndex, MediaTypeOCIIndex, nil
	case mt == "" && probe.Layers != nil && probe.Manifests == nil:
		return KindManifest, MediaTypeOCIManifest, nil
	}
	return 0, "", fmt.Errorf("%w: unknown media type %q", ErrInvalid, mt)
}

func checkDescriptor(what string, d *Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, what, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s: negative size %d", ErrInvalid, what, d.Size)
	}
	return nil
}

// ParseManifest parses and validates an image manifest.
func ParseManifest(body []byte) (*Manifest, error) {
	kind, mt, err := Detect("", body)
	if err != nil {
		return nil, err
	}
	if kind != KindManifest {
		return nil, fmt.Errorf("%w: expected an image manifest, got %s", ErrInvalid, mt)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion %d, want 2", ErrInvalid, m.SchemaVersion)
	}
	if m.MediaType == "" {
		m.MediaType = mt
	}
	if err := checkDescriptor("config", &m.Config); err != nil {
		return nil, err
	}
	if len(m.Layers) > maxEntries {
		return nil, fmt.Errorf("%w: %d layers", ErrInvalid, len(m.Layers))
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		if err := checkDescriptor(fmt.Sprintf("layer %d", i), l); err != nil {
			return nil, err
		}
		if _, err := LayerCompression(l.MediaType); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return &m, nil
}

// ParseIndex parses and validates an index or manifest list.
func ParseIndex(body []byte) (*Index, error) {
	kind, mt, err := Detect("", body)
	if err != nil {
		return nil, err
	}
	if kind != KindIndex {
		return nil, fmt.Errorf("%w: expected an index, got %s", ErrInvalid, mt)
	}
	var x Index
	if err := json.Unmarshal(body, &x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if x.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion %d, want 2", ErrInvalid, x.SchemaVersion)
	}
	if x.MediaType == "" {
		x.MediaType = mt
	}
	if len(x.Manifests) > maxEntries {
		return nil, fmt.Errorf("%w: %d index entries", ErrInvalid, len(x.Manifests))
	}
	for i := range x.Manifests {
		if err := checkDescriptor(fmt.Sprintf("index entry %d", i), &x.Manifests[i]); err != nil {
			return nil, err
		}
	}
	return &x, nil
}

// ParseImage parses and validates an image configuration.
func ParseImage(body []byte) (*Image, error) {
	if len(body) > MaxManifestSize {
		return nil, fmt.Errorf("%w: image config of %d bytes", ErrInvalid, len(body))
	}
	var img Image
	if err := json.Unmarshal(body, &img); err != nil {
		return nil, fmt.Errorf("%w: image config: %v", ErrInvalid, err)
	}
	if img.RootFS.Type != "layers" {
		return nil, fmt.Errorf("%w: image config: rootfs type %q, want \"layers\"", ErrInvalid, img.RootFS.Type)
	}
	if len(img.RootFS.DiffIDs) > maxEntries {
		return nil, fmt.Errorf("%w: image config: %d diff IDs", ErrInvalid, len(img.RootFS.DiffIDs))
	}
	for i, d := range img.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("%w: image config: diff ID %d: %v", ErrInvalid, i, err)
		}
	}
	return &img, nil
}

// ChainIDs returns the chain ID of each layer stack: the first is the
// first diff ID, then sha256(parent + " " + diffID). Two images whose
// bottom layers are equal share the chain IDs of those layers.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromBytes([]byte(string(out[i-1]) + " " + string(d)))
	}
	return out
}
