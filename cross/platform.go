package cross

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// A Platform is an OCI image platform as image indexes name it.
type Platform struct {
	OS           string // linux
	Architecture string // GOARCH: amd64, arm64, arm, riscv64, 386
	Variant      string // v6, v7 for arm; v8 for arm64; else empty
}

// String returns "os/architecture[/variant]", the form of --platform.
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// PlatformOf returns the OCI platform of a Go build target. OCI uses Go's
// GOOS and GOARCH names; the variant says the ARM architecture level:
// GOARM=6 is linux/arm/v6, and GOARM empty is v7, Go's default when
// cross-compiling. arm64 is always v8, as image indexes write it.
// A GOARM with a float mode ("7,softfloat") keeps its level.
func PlatformOf(goos, goarch, goarm string) Platform {
	p := Platform{OS: goos, Architecture: goarch}
	switch goarch {
	case "arm":
		level, _, _ := strings.Cut(goarm, ",")
		if level == "" {
			level = "7"
		}
		p.Variant = "v" + level
	case "arm64":
		p.Variant = "v8"
	}
	return p
}

// Build returns the platform this binary was compiled for, with GOARM taken
// from its build information. It says what the binary needs, not what the
// CPU offers: an armv6 build runs on an ARMv7 board.
func Build() Platform {
	goarm := ""
	if runtime.GOARCH == "arm" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "GOARM" {
					goarm = s.Value
				}
			}
		}
	}
	return PlatformOf(runtime.GOOS, runtime.GOARCH, goarm)
}
