package manifest

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/petrel-edge/petrel/core/lazy"
)

// String returns "os/arch[/variant]".
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Normalize maps architecture aliases (x86_64, aarch64, armhf, …) to Go's
// names and fills the default variant: arm64 is v8, arm without a
// variant is v7.
func (p Platform) Normalize() Platform {
	p.OS = strings.ToLower(p.OS)
	arch, variant := strings.ToLower(p.Architecture), strings.ToLower(p.Variant)
	switch arch {
	case "x86_64", "x86-64":
		arch = "amd64"
	case "i386", "i686":
		arch = "386"
	case "aarch64", "arm64":
		arch = "arm64"
		if variant == "8" || variant == "" {
			variant = "v8"
		}
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
	}
	p.Architecture, p.Variant = arch, variant
	return p
}

// ParsePlatform parses "os/arch[/variant]" or a bare "arch" (Linux), as
// --platform takes.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	var p Platform
	switch len(parts) {
	case 1:
		p = Platform{OS: "linux", Architecture: parts[0]}
	case 2:
		p = Platform{OS: parts[0], Architecture: parts[1]}
	case 3:
		p = Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	default:
		return Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant]", s)
	}
	for _, x := range parts {
		if x == "" {
			return Platform{}, fmt.Errorf("invalid platform %q: empty component", s)
		}
	}
	return p.Normalize(), nil
}

var hostPlatform lazy.Value[Platform]

// Host returns the platform Petrel runs on, with the ARM variant read from
// /proc/cpuinfo.
func Host() Platform {
	return hostPlatform.Get(func() Platform {
		p := Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
		if p.Architecture == "arm" {
			p.Variant = armVariant()
		}
		return p.Normalize()
	})
}

func armVariant() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "CPU architecture" {
			continue
		}
		switch v = strings.TrimSpace(v); v {
		case "5", "6", "7":
			return "v" + v
		case "8", "AArch64":
			return "v8"
		}
		break
	}
	return ""
}

// score says how well an image for have runs on want: 0 means not at all,
// higher is better. ARM variants run on the same or a newer core.
func score(want, have Platform) int {
	want, have = want.Normalize(), have.Normalize()
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return 0
	}
	if want.Variant == have.Variant {
		return 100
	}
	if want.Architecture == "arm" {
		w, h := armLevel(want.Variant), armLevel(have.Variant)
		if w > 0 && h > 0 && h <= w {
			return 10 + h
		}
		return 0
	}
	if have.Variant == "" {
		return 50
	}
	return 0
}

func armLevel(v string) int {
	switch v {
	case "v5":
		return 5
	case "v6":
		return 6
	case "v7":
		return 7
	case "v8":
		return 8
	}
	return 0
}

// Matches reports whether an image for have runs on want.
func Matches(want, have Platform) bool { return score(want, have) > 0 }

// NoMatchError says that an index has no manifest for a platform.
type NoMatchError struct {
	Want      Platform
	Available []Platform
}

func (e *NoMatchError) Error() string {
	av := make([]string, len(e.Available))
	for i, p := range e.Available {
		av[i] = p.String()
	}
	return fmt.Sprintf("no image for platform %s (available: %s)", e.Want, strings.Join(av, ", "))
}

// Select returns the index entry that best runs on want: the exact match,
// else for ARM the newest older variant. Entries without a platform and
// non-manifest entries (attestations) are skipped.
func Select(x *Index, want Platform) (Descriptor, error) {
	want = want.Normalize()
	best, bestScore := -1, 0
	var avail []Platform
	for i, d := range x.Manifests {
		if d.Platform == nil || !IsManifest(d.MediaType) && d.MediaType != "" {
			continue
		}
		if d.Platform.OS == "unknown" {
			continue // buildkit attestation manifests
		}
		avail = append(avail, d.Platform.Normalize())
		if s := score(want, *d.Platform); s > bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return Descriptor{}, &NoMatchError{Want: want, Available: avail}
	}
	return x.Manifests[best], nil
}
