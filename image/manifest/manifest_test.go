package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/image/digest"
)

var (
	d1 = digest.FromBytes([]byte("1"))
	d2 = digest.FromBytes([]byte("2"))
)

func TestParseManifest(t *testing.T) {
	good := `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":{"mediaType":"` + MediaTypeDockerConfig + `","digest":"` + string(d1) + `","size":10},"layers":[{"mediaType":"` + MediaTypeOCILayerZstd + `","digest":"` + string(d2) + `","size":5}]}`
	m, err := ParseManifest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Digest != d1 || len(m.Layers) != 1 || m.Layers[0].Size != 5 {
		t.Fatalf("parsed %+v", m)
	}
	tests := []struct{ name, body, msg string }{
		{"not json", `{`, "unexpected end"},
		{"schema1", `{"schemaVersion":1,"fsLayers":[]}`, "schema 1"},
		{"index", `{"schemaVersion":2,"manifests":[]}`, "expected an image manifest"},
		{"schema 3", `{"schemaVersion":3,"layers":[],"config":{"digest":"` + string(d1) + `"}}`, "schemaVersion 3"},
		{"bad config digest", `{"schemaVersion":2,"config":{"digest":"sha256:zz"},"layers":[]}`, "config"},
		{"bad layer type", `{"schemaVersion":2,"config":{"digest":"` + string(d1) + `"},"layers":[{"mediaType":"text/plain","digest":"` + string(d2) + `"}]}`, "unsupported layer media type"},
		{"negative size", `{"schemaVersion":2,"config":{"digest":"` + string(d1) + `","size":-1},"layers":[]}`, "negative size"},
		{"unknown type", `{"schemaVersion":2,"mediaType":"application/x-foo"}`, "unknown media type"},
	}
	for _, tt := range tests {
		_, err := ParseManifest([]byte(tt.body))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want ErrInvalid with %q", tt.name, err, tt.msg)
		}
	}
}

func TestDetectContentTypeConflict(t *testing.T) {
	body := `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[]}`
	if _, _, err := Detect(MediaTypeDockerManifest, []byte(body)); err == nil {
		t.Fatal("an index served as a manifest was accepted")
	}
	k, mt, err := Detect("application/json", []byte(body))
	if err != nil || k != KindIndex || mt != MediaTypeOCIIndex {
		t.Fatalf("Detect = %v %q %v", k, mt, err)
	}
}

func TestSelect(t *testing.T) {
	entry := func(os, arch, variant string) Descriptor {
		return Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.FromBytes([]byte(os + arch + variant)),
			Platform: &Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	full := &Index{Manifests: []Descriptor{
		entry("linux", "amd64", ""), entry("linux", "arm", "v6"), entry("linux", "arm", "v7"),
		entry("linux", "arm64", "v8"), entry("linux", "riscv64", ""), entry("unknown", "unknown", ""),
	}}
	old := &Index{Manifests: []Descriptor{entry("linux", "arm", "v5"), entry("linux", "arm", "v6"), entry("linux", "arm64", "")}}
	tests := []struct {
		x    *Index
		want string
		got  string // "" means no match
	}{
		{full, "linux/amd64", "linux/amd64"},
		{full, "linux/arm/v7", "linux/arm/v7"},
		{full, "linux/arm/v6", "linux/arm/v6"},
		{full, "linux/arm", "linux/arm/v7"},
		{full, "linux/arm64", "linux/arm64/v8"},
		{full, "linux/riscv64", "linux/riscv64"},
		{full, "linux/arm/v5", ""},
		{full, "linux/s390x", ""},
		{full, "aarch64", "linux/arm64/v8"},
		{old, "linux/arm/v7", "linux/arm/v6"},
		{old, "linux/arm/v8", "linux/arm/v6"},
		{old, "linux/arm64/v8", "linux/arm64"},
		{old, "linux/amd64", ""},
	}
	for _, tt := range tests {
		want, err := ParsePlatform(tt.want)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Select(tt.x, want)
		if tt.got == "" {
			var nm *NoMatchError
			if !errors.As(err, &nm) || !strings.Contains(err.Error(), "available: ") {
				t.Errorf("Select(%s) = %v, %v; want a NoMatchError", tt.want, d.Platform, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Select(%s): %v", tt.want, err)
			continue
		}
		if d.Platform.String() != tt.got {
			t.Errorf("Select(%s) = %s, want %s", tt.want, d.Platform, tt.got)
		}
	}
}

func TestParsePlatformErrors(t *testing.T) {
	for _, s := range []string{"", "linux/", "a/b/c/d", "/amd64"} {
		if _, err := ParsePlatform(s); err == nil {
			t.Errorf("ParsePlatform(%q) succeeded", s)
		}
	}
}

func TestChainIDs(t *testing.T) {
	a, b, c := digest.FromBytes([]byte("a")), digest.FromBytes([]byte("b")), digest.FromBytes([]byte("c"))
	x := ChainIDs([]digest.Digest{a, b, c})
	y := ChainIDs([]digest.Digest{a, b})
	z := ChainIDs([]digest.Digest{b, a})
	if x[0] != a || x[1] != y[1] || x[2] == x[1] || z[1] == x[1] {
		t.Fatalf("chain IDs %v %v %v", x, y, z)
	}
	if want := digest.FromBytes([]byte(string(a) + " " + string(b))); x[1] != want {
		t.Fatalf("chain ID %s, want %s", x[1], want)
	}
}

func seedDocs() []string {
	m := Manifest{SchemaVersion: 2, MediaType: MediaTypeOCIManifest, Config: Descriptor{MediaType: MediaTypeOCIConfig, Digest: d1, Size: 2},
		Layers: []Descriptor{{MediaType: MediaTypeOCILayerGzip, Digest: d2, Size: 3}}}
	x := Index{SchemaVersion: 2, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{{MediaType: MediaTypeOCIManifest, Digest: d1, Size: 2,
		Platform: &Platform{OS: "linux", Architecture: "arm", Variant: "v7"}}}}
	mb, _ := json.Marshal(m)
	xb, _ := json.Marshal(x)
	return []string{string(mb), string(xb), `{"schemaVersion":1}`, `{"manifests":null}`, `[]`,
		`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + string(d1) + `"]}}`}
}

// FuzzParse checks that no input makes the parsers panic and that what
// they accept is internally consistent.
func FuzzParse(f *testing.F) {
	for _, s := range seedDocs() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseManifest([]byte(s)); err == nil {
			if m.Config.Digest.Validate() != nil {
				t.Fatal("accepted a manifest with a bad config digest")
			}
			for _, l := range m.Layers {
				if _, err := LayerCompression(l.MediaType); err != nil || l.Size < 0 {
					t.Fatalf("accepted layer %+v", l)
				}
			}
		}
		if x, err := ParseIndex([]byte(s)); err == nil {
			for _, d := range x.Manifests {
				if d.Digest.Validate() != nil {
					t.Fatal("accepted an index with a bad digest")
				}
			}
			Select(x, Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
		}
		if img, err := ParseImage([]byte(s)); err == nil {
			ChainIDs(img.RootFS.DiffIDs)
		}
	})
}
