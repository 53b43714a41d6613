package manifest

import (
	"fmt"
	"time"

	"github.com/petrel-edge/petrel/image/digest"
)

// Media types of manifests, indexes, configs and layers.
const (
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeDockerConfig        = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer         = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

	MediaTypeOCIManifest         = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex            = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIConfig           = "application/vnd.oci.image.config.v1+json"
	MediaTypeOCILayer            = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeOCILayerGzip        = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeOCILayerZstd        = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeOCINondistLayer     = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	MediaTypeOCINondistLayerGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	MediaTypeOCINondistLayerZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
)

// AcceptManifests is the Accept header value for fetching any manifest or
// index Petrel understands, preferred first.
const AcceptManifests = MediaTypeOCIIndex + ", " + MediaTypeDockerManifestList + ", " +
	MediaTypeOCIManifest + ", " + MediaTypeDockerManifest

// A Descriptor points at content by digest.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      digest.Digest     `json:"digest"`
	Size        int64             `json:"size"`
	URLs        []string          `json:"urls,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *Platform         `json:"platform,omitempty"`
}

// A Platform says where an image runs.
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

// A Manifest is a Docker schema 2 or OCI image manifest.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// An Index is a Docker manifest list or an OCI image index.
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// An Image is the image configuration blob (Docker and OCI share it).
type Image struct {
	Created      *time.Time `json:"created,omitempty"`
	Author       string     `json:"author,omitempty"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	OSVersion    string     `json:"os.version,omitempty"`
	Variant      string     `json:"variant,omitempty"`
	Config       Config     `json:"config"`
	RootFS       RootFS     `json:"rootfs"`
	History      []History  `json:"history,omitempty"`
}

// Config is the runtime part of an image configuration.
type Config struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	Healthcheck  *Healthcheck        `json:"Healthcheck,omitempty"`
}

// Healthcheck is Docker's image health check.
type Healthcheck struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// RootFS lists the uncompressed layer digests (diff IDs), bottom first.
type RootFS struct {
	Type    string          `json:"type"`
	DiffIDs []digest.Digest `json:"diff_ids"`
}

// History describes how a layer was made.
type History struct {
	Created    *time.Time `json:"created,omitempty"`
	CreatedBy  string     `json:"created_by,omitempty"`
	Author     string     `json:"author,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
}

// Compression of a layer blob.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return "none"
}

// LayerCompression returns how a layer of mediaType is compressed, or an
// error for media types that are not layers Petrel can unpack.
func LayerCompression(mediaType string) (Compression, error) {
	switch mediaType {
	case MediaTypeDockerLayer, MediaTypeDockerForeignLayer, MediaTypeOCILayerGzip, MediaTypeOCINondistLayerGzip:
		return Gzip, nil
	case MediaTypeOCILayerZstd, MediaTypeOCINondistLayerZstd:
		return Zstd, nil
	case MediaTypeOCILayer, MediaTypeOCINondistLayer:
		return Uncompressed, nil
	}
	return 0, fmt.Errorf("%w: unsupported layer media type %q", ErrInvalid, mediaType)
}
