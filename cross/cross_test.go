package cross

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestTargetsFile(t *testing.T) {
	ts, err := Targets()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"amd64":   "linux/amd64",
		"arm64":   "linux/arm64/v8",
		"armv6":   "linux/arm/v6",
		"armv7":   "linux/arm/v7",
		"riscv64": "linux/riscv64",
		"386":     "linux/386",
	}
	if len(ts) != len(want) {
		t.Errorf("cross/targets has %d targets, want %d", len(ts), len(want))
	}
	for _, tg := range ts {
		if p := tg.Platform().String(); p != want[tg.Name] {
			t.Errorf("target %s: platform %s, want %s", tg.Name, p, want[tg.Name])
		}
		if tg.GOARCH != "amd64" && tg.QEMU == "" {
			t.Errorf("target %s: no qemu-user emulator named", tg.Name)
		}
		if tg.DebianArch == "" {
			t.Errorf("target %s: no Debian architecture", tg.Name)
		}
	}
	if _, err := Lookup("armv7"); err != nil {
		t.Error(err)
	}
	if _, err := Lookup("mips"); err == nil {
		t.Error("Lookup(mips) found a target")
	}
}

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		name, in, err string
		want          []Target
	}{
		{name: "comments and dashes", in: "# c\n\narmv6 linux arm 6 arm armel # old boards\nx linux amd64 - - amd64\n",
			want: []Target{{Name: "armv6", GOOS: "linux", GOARCH: "arm", GOARM: "6", QEMU: "arm", DebianArch: "armel"},
				{Name: "x", GOOS: "linux", GOARCH: "amd64", DebianArch: "amd64"}}},
		{name: "short line", in: "arm64 linux arm64 - aarch64\n", err: ":1: want 6 fields"},
		{name: "duplicate", in: "a linux amd64 - - amd64\na linux 386 - i386 i386\n", err: ":2: duplicate target"},
		{name: "GOARM off arm", in: "a linux arm64 7 aarch64 arm64\n", err: "GOARM set for GOARCH=arm64"},
		{name: "missing GOARCH", in: "a linux - - - x\n", err: "required"},
		{name: "empty", in: "# nothing\n", err: "no targets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTargets(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("target %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestPlatformOf(t *testing.T) {
	for _, tc := range []struct{ goos, goarch, goarm, want string }{
		{"linux", "amd64", "", "linux/amd64"},
		{"linux", "386", "", "linux/386"},
		{"linux", "arm64", "", "linux/arm64/v8"},
		{"linux", "arm", "5", "linux/arm/v5"},
		{"linux", "arm", "6", "linux/arm/v6"},
		{"linux", "arm", "7", "linux/arm/v7"},
		{"linux", "arm", "", "linux/arm/v7"},
		{"linux", "arm", "6,softfloat", "linux/arm/v6"},
		{"linux", "riscv64", "", "linux/riscv64"},
	} {
		if got := PlatformOf(tc.goos, tc.goarch, tc.goarm).String(); got != tc.want {
			t.Errorf("PlatformOf(%q, %q, %q) = %s, want %s", tc.goos, tc.goarch, tc.goarm, got, tc.want)
		}
	}
}

// TestBuild checks the platform of the test binary itself; under
// make cross-test it runs emulated with the GOARM it was built with.
func TestBuild(t *testing.T) {
	p := Build()
	if p.OS != runtime.GOOS || p.Architecture != runtime.GOARCH {
		t.Fatalf("Build() = %s, want %s/%s", p, runtime.GOOS, runtime.GOARCH)
	}
	if runtime.GOARCH == "arm" {
		want := "v7"
		if v, _, _ := strings.Cut(os.Getenv("GOARM"), ","); v != "" {
			want = "v" + v
		}
		if p.Variant != want {
			t.Errorf("Build() = %s on a GOARM=%q build, want variant %s", p, os.Getenv("GOARM"), want)
		}
	}
}
