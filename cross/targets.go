package cross

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

//go:embed targets
var targetsFile string

// A Target is one line of cross/targets: a build of the binary.
type Target struct {
	// Name is the make-level name (arm64, armv7, …) and the suffix of
	// the built binary: bin/petrel-<GOOS>-<Name>.
	Name string
	// GOOS, GOARCH and GOARM are the Go build environment; GOARM is
	// empty except on arm.
	GOOS, GOARCH, GOARM string
	// QEMU names the qemu-user emulator (qemu-<QEMU>-static) that runs
	// the target on an amd64 host; empty for the host's own architecture.
	QEMU string
	// DebianArch is Debian's name of the architecture (armhf, armel, …),
	// for fetching foreign packages (busybox-static) in emulated tests.
	DebianArch string
}

// Platform returns the OCI platform of the target.
func (t Target) Platform() Platform { return PlatformOf(t.GOOS, t.GOARCH, t.GOARM) }

var parsedTargets = sync.OnceValues(func() ([]Target, error) { return parseTargets(targetsFile) })

// Targets returns the targets of cross/targets in file order.
func Targets() ([]Target, error) {
	ts, err := parsedTargets()
	if err != nil {
		return nil, err
	}
	return append([]Target(nil), ts...), nil
}

// Lookup returns the target called name.
func Lookup(name string) (Target, error) {
	ts, err := parsedTargets()
	if err != nil {
		return Target{}, err
	}
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("no target %q in cross/targets", name)
}

// parseTargets reads the whitespace-separated columns of cross/targets;
// "#" starts a comment and "-" stands for an empty field.
func parseTargets(s string) ([]Target, error) {
	var ts []Target
	seen := map[string]bool{}
	for i, line := range strings.Split(s, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 6 {
			return nil, fmt.Errorf("cross/targets:%d: want 6 fields (name GOOS GOARCH GOARM qemu debian-arch), have %d", i+1, len(f))
		}
		for k := range f {
			if f[k] == "-" {
				f[k] = ""
			}
		}
		t := Target{Name: f[0], GOOS: f[1], GOARCH: f[2], GOARM: f[3], QEMU: f[4], DebianArch: f[5]}
		switch {
		case t.Name == "" || t.GOOS == "" || t.GOARCH == "":
			return nil, fmt.Errorf("cross/targets:%d: name, GOOS and GOARCH are required", i+1)
		case seen[t.Name]:
			return nil, fmt.Errorf("cross/targets:%d: duplicate target %q", i+1, t.Name)
		case t.GOARM != "" && t.GOARCH != "arm":
			return nil, fmt.Errorf("cross/targets:%d: GOARM set for GOARCH=%s", i+1, t.GOARCH)
		}
		seen[t.Name] = true
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("cross/targets: no targets")
	}
	return ts, nil
}
