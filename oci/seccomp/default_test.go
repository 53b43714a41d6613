package seccomp

import (
	"math/rand"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// With Docker's default capabilities the built-in profile decides every
// system call as testdata/docker-default.json does, on every target.
func TestDefaultMatchesDockerProfile(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64", "arm", "riscv64", "386"} {
		want := loadDockerProfile(t)
		got := Default(dockerDefaultCaps)
		got.Architectures = DefaultArches(goarch)
		want.Architectures = got.Architectures
		if err := Validate(got); err != nil {
			t.Fatalf("%s: %v", goarch, err)
		}
		nat := archIndex(t, got.Architectures[0])
		prog, err := compileFor(got, nat)
		if err != nil {
			t.Fatalf("%s: %v", goarch, err)
		}
		for _, a := range got.Architectures {
			i := archIndex(t, a)
			r := rand.New(rand.NewSource(int64(i)))
			base := uint32(0)
			if arches[i].tab == tabX32 {
				base = x32SyscallBit
			}
			for n := base; n < base+1100; n++ {
				d := &seccompData{nr: n, arch: arches[i].audit, args: [6]uint64{r.Uint64() & 0xffff_ffff, r.Uint64()}}
				v, _, err := runProgram(prog, d)
				if err != nil {
					t.Fatal(err)
				}
				if m := modelVerdict(want, nat, d); v != m {
					t.Fatalf("%s/%s nr %d: %#x, docker's profile %#x", goarch, a, n, v, m)
				}
			}
		}
	}
}

// Capabilities open the system calls Docker ties to them.
func TestDefaultByCapability(t *testing.T) {
	amd := specs.ArchX86_64
	tests := []struct {
		caps []string
		c    call
		want uint32
	}{
		{nil, call{arch: amd, name: "mount"}, retEPERM},
		{[]string{"CAP_SYS_ADMIN"}, call{arch: amd, name: "mount"}, retAllow},
		{nil, call{arch: amd, name: "clone", args: [6]uint64{unix.CLONE_NEWNS}}, retEPERM},
		{[]string{"CAP_SYS_ADMIN"}, call{arch: amd, name: "clone", args: [6]uint64{unix.CLONE_NEWNS}}, retAllow},
		{nil, call{arch: amd, name: "clone3"}, retENOSYS},
		{nil, call{arch: amd, name: "chroot"}, retEPERM},
		{[]string{"CAP_SYS_CHROOT"}, call{arch: amd, name: "chroot"}, retAllow},
		{nil, call{arch: amd, name: "process_vm_readv"}, retEPERM},
		{[]string{"CAP_SYS_PTRACE"}, call{arch: amd, name: "process_vm_readv"}, retAllow},
		{[]string{"CAP_SYS_TIME"}, call{arch: amd, name: "settimeofday"}, retAllow},
		{nil, call{arch: amd, name: "reboot"}, retEPERM},
	}
	for _, tc := range tests {
		p := Default(tc.caps)
		p.Architectures = DefaultArches("amd64")
		prog, err := compileFor(p, archIndex(t, amd))
		if err != nil {
			t.Fatal(err)
		}
		if got := verdict(t, prog, tc.c.data(t)); got != tc.want {
			t.Errorf("caps %v: %s(%#x) = %#x, want %#x", tc.caps, tc.c.name, tc.c.args[0], got, tc.want)
		}
	}
}
