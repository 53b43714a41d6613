package seccomp

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// bytesSource reads choices from fuzz input; when it runs out, every
// choice is zero.
type bytesSource struct{ b []byte }

func (s *bytesSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *bytesSource) intn(n int) int { return int(s.byte()) % n }

func (s *bytesSource) u64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = s.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

var (
	someActions = append(knownActions[:], "SCMP_ACT_BOGUS")
	someOps     = append(knownOps[:], "SCMP_CMP_BOGUS")
	someArches  = []specs.Arch{specs.ArchX86_64, specs.ArchX32, specs.ArchX86, specs.ArchAARCH64,
		specs.ArchARM, specs.ArchRISCV64, specs.ArchS390X, "SCMP_ARCH_BOGUS"}
	someFlags = []specs.LinuxSeccompFlag{flagTSync, specs.LinuxSeccompFlagLog,
		specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_BOGUS"}
)

// randomProfile builds a profile from s: mostly valid, sometimes not.
func randomProfile(s *bytesSource) *specs.LinuxSeccomp {
	bad := s.intn(8) == 0 // a profile with invalid parts
	pick := func(n int) int {
		if bad && s.intn(16) == 0 { // the invalid last element
			return n - 1
		}
		return s.intn(n - 1)
	}
	errno := func() *uint {
		switch s.intn(4) {
		case 0:
			return nil
		case 1:
			v := uint(s.u64() % 4096)
			if bad {
				v = uint(s.u64() % 5000)
			}
			return &v
		}
		v := uint(s.intn(40))
		return &v
	}
	cfg := &specs.LinuxSeccomp{
		DefaultAction:   someActions[pick(len(someActions))],
		DefaultErrnoRet: errno(),
	}
	if !bad && cfg.DefaultAction != specs.ActErrno && cfg.DefaultAction != specs.ActTrace {
		cfg.DefaultErrnoRet = nil
	}
	for n := s.intn(4); n > 0; n-- {
		cfg.Architectures = append(cfg.Architectures, someArches[pick(len(someArches))])
	}
	for n := s.intn(3); n > 0; n-- {
		cfg.Flags = append(cfg.Flags, someFlags[pick(len(someFlags))])
	}
	if !bad || s.intn(2) == 0 {
		cfg.ListenerPath = "/run/agent.sock"
	}
	if !bad && cfg.DefaultAction == specs.ActNotify {
		cfg.DefaultAction = specs.ActKillThread
	}
	for n := s.intn(128); n > 0; n-- {
		sc := specs.LinuxSyscall{Action: someActions[pick(len(someActions))], ErrnoRet: errno()}
		if !bad && sc.Action != specs.ActErrno && sc.Action != specs.ActTrace {
			sc.ErrnoRet = nil
		}
		for m := 1 + s.intn(6); m > 0; m-- {
			name := sysName(int(binary.LittleEndian.Uint16([]byte{s.byte(), s.byte()})) % len(sysNameEnd))
			if s.intn(32) == 0 {
				name = "unknown_call"
			}
			if !bad && name == "write" && sc.Action == specs.ActNotify {
				continue
			}
			sc.Names = append(sc.Names, name)
		}
		for m := s.intn(4); m > 0; m-- {
			arg := specs.LinuxSeccompArg{Index: uint(s.intn(maxArgs)), Op: someOps[pick(len(someOps))]}
			if bad && s.intn(16) == 0 {
				arg.Index = maxArgs
			}
			switch s.intn(4) {
			case 0:
				arg.Value, arg.ValueTwo = uint64(s.intn(8)), uint64(s.intn(8))
			case 1:
				arg.Value, arg.ValueTwo = s.u64(), s.u64()
			default:
				arg.Value = uint64(s.intn(4))<<32 | uint64(s.intn(4))
				arg.ValueTwo = arg.Value & uint64(s.intn(256))
			}
			sc.Args = append(sc.Args, arg)
		}
		if len(sc.Names) > 0 {
			cfg.Syscalls = append(cfg.Syscalls, sc)
		}
	}
	return cfg
}

// randomCall picks a system call that cfg is likely to say something about.
func randomCall(s *bytesSource, cfg *specs.LinuxSeccomp) *seccompData {
	a := s.intn(len(arches))
	d := &seccompData{arch: arches[a].audit}
	if s.intn(8) == 0 {
		d.arch ^= 1 << uint(s.intn(32)) // some other architecture
	}
	d.nr = uint32(s.u64())
	if len(cfg.Syscalls) > 0 && s.intn(4) != 0 {
		sc := cfg.Syscalls[s.intn(len(cfg.Syscalls))]
		if nr, ok := syscallNr(a, sc.Names[s.intn(len(sc.Names))]); ok {
			d.nr = nr
		}
		for _, arg := range sc.Args {
			if arg.Index < maxArgs && s.intn(2) == 0 {
				d.args[arg.Index] = arg.Value + uint64(s.intn(3)) - 1
			}
		}
	} else if s.intn(2) == 0 {
		d.nr = uint32(s.intn(600))
	}
	for i := range d.args {
		if s.intn(4) == 0 {
			d.args[i] = s.u64()
		}
	}
	return d
}

// checkCompile compiles a profile made from b with every native
// architecture and compares the program's verdicts with the model's.
func checkCompile(t *testing.T, b []byte) {
	s := &bytesSource{b}
	cfg := randomProfile(s)
	nat := s.intn(len(arches))
	if arches[nat].tab == tabX32 {
		nat = 0
	}
	prog, err := compileFor(cfg, nat)
	if err != nil {
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, errTooLong) {
			t.Fatalf("unexpected error: %v", err)
		}
		if verr := Validate(cfg); errors.Is(err, ErrInvalid) && verr == nil {
			t.Fatalf("Compile failed (%v) but Validate passed", err)
		}
		return
	}
	if err := checkProgram(prog); err != nil {
		t.Fatalf("invalid program (%d insns): %v", len(prog), err)
	}
	for i := 0; i < 32; i++ {
		d := randomCall(s, cfg)
		got, _, err := runProgram(prog, d)
		if err != nil {
			t.Fatal(err)
		}
		if want := modelVerdict(cfg, nat, d); got != want {
			t.Fatalf("native %s, call arch %#x nr %#x args %#x: program says %#x, model %#x (profile of %d entries)",
				arches[nat].name, d.arch, d.nr, d.args, got, want, len(cfg.Syscalls))
		}
	}
}

func TestRandomProfiles(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	n := 3000
	if testing.Short() {
		n = 300
	}
	b := make([]byte, 4096)
	for i := 0; i < n; i++ {
		r.Read(b)
		checkCompile(t, b)
	}
}

func FuzzCompile(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{4, 0, 2, 0, 1, 60, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("SCMP_ACT_ERRNO read write openat clone personality"))
	f.Fuzz(checkCompile)
}
