package seccomp

import (
	"encoding/json"
	"math/rand"
	"os"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// testdata/docker-default.json follows Moby's default profile: ~380 system
// calls allowed, clone without namespace flags, personality with five
// values, socket but AF_VSOCK, clone3 ENOSYS, EPERM for the rest.
func loadDockerProfile(t testing.TB) *specs.LinuxSeccomp {
	t.Helper()
	b, err := os.ReadFile("testdata/docker-default.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg specs.LinuxSeccomp
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func TestDockerProfile(t *testing.T) {
	// The architectures Docker lists on each host.
	hosts := []struct {
		native specs.Arch
		arches []specs.Arch
	}{
		{specs.ArchX86_64, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}},
		{specs.ArchAARCH64, []specs.Arch{specs.ArchAARCH64, specs.ArchARM}},
		{specs.ArchARM, []specs.Arch{specs.ArchARM}},
		{specs.ArchRISCV64, []specs.Arch{specs.ArchRISCV64}},
		{specs.ArchX86, []specs.Arch{specs.ArchX86}},
		// Everything at once still fits.
		{specs.ArchX86_64, []specs.Arch{specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM, specs.ArchRISCV64}},
	}
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	for _, h := range hosts {
		cfg := loadDockerProfile(t)
		cfg.Architectures = h.arches
		nat := archIndex(t, h.native)
		prog, err := compileFor(cfg, nat)
		if err != nil {
			t.Fatalf("%s: %v", h.arches, err)
		}
		if err := checkProgram(prog); err != nil {
			t.Fatalf("%s: %v", h.arches, err)
		}
		// A quarter of the kernel's limit leaves room for profiles four
		// times Docker's; the range tree needs about one jump per run of
		// equal verdicts.
		if len(prog) > maxInsns/4 {
			t.Errorf("%s: %d instructions", h.arches, len(prog))
		}
		maxSteps := 0
		for _, a := range append([]specs.Arch{h.native}, h.arches...) {
			i := archIndex(t, a)
			checks := []struct {
				name string
				args [6]uint64
				want uint32
			}{
				{"read", [6]uint64{}, retAllow},
				{"openat", [6]uint64{}, retAllow},
				{"mount", [6]uint64{}, eperm},
				{"unshare", [6]uint64{}, eperm},
				{"clone3", [6]uint64{}, retENOSYS},
				{"socket", [6]uint64{unix.AF_INET}, retAllow},
				{"socket", [6]uint64{unix.AF_VSOCK}, eperm},
				{"personality", [6]uint64{0x20008}, retAllow},
				{"personality", [6]uint64{0x4}, eperm},
			}
			if _, ok := syscallNr(i, "clone"); ok {
				checks = append(checks,
					struct {
						name string
						args [6]uint64
						want uint32
					}{"clone", [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SETTLS}, retAllow},
					struct {
						name string
						args [6]uint64
						want uint32
					}{"clone", [6]uint64{unix.CLONE_NEWUSER}, eperm})
			}
			for _, ck := range checks {
				nr, ok := syscallNr(i, ck.name)
				if !ok {
					t.Fatalf("%s has no %s", a, ck.name)
				}
				d := &seccompData{nr: nr, arch: arches[i].audit, args: ck.args}
				got, steps, err := runProgram(prog, d)
				if err != nil {
					t.Fatal(err)
				}
				if got != ck.want {
					t.Errorf("%s: %s(%#x) = %#x, want %#x", a, ck.name, ck.args[0], got, ck.want)
				}
				maxSteps = max(maxSteps, steps)
			}
			// Every number the ABI might use agrees with the model.
			base := uint32(0)
			if arches[i].tab == tabX32 {
				base = x32SyscallBit
			}
			r := rand.New(rand.NewSource(int64(i)))
			for n := base; n < base+1100; n++ {
				d := &seccompData{nr: n, arch: arches[i].audit, args: [6]uint64{r.Uint64() & 0xffff_ffff, r.Uint64()}}
				got, steps, err := runProgram(prog, d)
				if err != nil {
					t.Fatal(err)
				}
				if want := modelVerdict(cfg, nat, d); got != want {
					t.Fatalf("%s nr %#x: %#x, model %#x", a, n, got, want)
				}
				maxSteps = max(maxSteps, steps)
			}
		}
		t.Logf("native %s, arches %v: %d instructions, at most %d run", h.native, h.arches, len(prog), maxSteps)
	}
}
