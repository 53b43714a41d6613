package cgroups

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// runProg interprets a device program on one request, as the kernel would.
func runProg(t *testing.T, prog []bpfInsn, typ, acc, major, minor uint32) uint64 {
	t.Helper()
	var r [11]uint64
	ctx := [3]uint32{acc<<16 | typ, major, minor}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.regs&0xf, in.regs>>4
		imm := uint64(int64(in.imm))
		switch in.code {
		case opLdxW:
			if src != regCtx || in.off%4 != 0 || in.off < 0 || in.off > 8 {
				t.Fatalf("insn %d: bad context load %+v", pc, in)
			}
			r[dst] = uint64(ctx[in.off/4])
		case opMovX:
			r[dst] = r[src]
		case opMovK:
			r[dst] = imm
		case opAndK:
			r[dst] &= imm
		case opRshK:
			r[dst] >>= imm
		case opJa:
			pc += int(in.off)
		case opJneK:
			if r[dst] != imm {
				pc += int(in.off)
			}
		case opJsetK:
			if r[dst]&imm != 0 {
				pc += int(in.off)
			}
		case opExit:
			return r[0]
		default:
			t.Fatalf("insn %d: unknown opcode %#x", pc, in.code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

// checkReachable fails on what the kernel's verifier refuses: jumps out of
// the program and instructions no path reaches.
func checkReachable(t *testing.T, prog []bpfInsn) {
	t.Helper()
	seen := make([]bool, len(prog))
	var visit func(pc int)
	visit = func(pc int) {
		for ; pc < len(prog) && !seen[pc]; pc++ {
			seen[pc] = true
			in := prog[pc]
			switch in.code {
			case opExit:
				return
			case opJa:
				pc += int(in.off)
			case opJneK, opJsetK:
				visit(pc + 1 + int(in.off))
			}
		}
		if pc > len(prog) {
			t.Fatalf("jump past the end to %d", pc)
		}
	}
	visit(0)
	for pc, ok := range seen {
		if !ok {
			t.Fatalf("insn %d unreachable in %d-insn program", pc, len(prog))
		}
	}
}

// reference decides a request the way deviceProgram documents.
func reference(rules []devRule, typ, acc, major, minor uint32) bool {
	for _, bit := range []uint32{accMknod, accRead, accWrite} {
		if acc&bit == 0 {
			continue
		}
		allowed := false
		for i := len(rules) - 1; i >= 0; i-- {
			r := rules[i]
			if uint32(r.access)&bit == 0 || (r.typ != 0 && uint32(r.typ) != typ) ||
				(r.major >= 0 && uint32(r.major) != major) || (r.minor >= 0 && uint32(r.minor) != minor) {
				continue
			}
			allowed = r.allow
			break
		}
		if !allowed {
			return false
		}
	}
	return true
}

func n64(v int64) *int64 { return &v }

func TestDeviceProgramVerdicts(t *testing.T) {
	const c, b = devChar, devBlock
	const r, w, m = accRead, accWrite, accMknod
	type req struct {
		typ, acc, major, minor uint32
		want                   bool
	}
	tests := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		reqs  []req
	}{
		{"no rules deny all", nil, []req{{c, r, 1, 3, false}, {b, m, 8, 0, false}}},
		{"allow all", []specs.LinuxDeviceCgroup{{Allow: true}}, []req{{c, r | w | m, 1, 3, true}, {b, r, 8, 0, true}}},
		{
			"runc default: deny all then allow null rwm and tty rw",
			[]specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: n64(1), Minor: n64(3), Access: "rwm"},
				{Allow: true, Type: "c", Major: n64(5), Minor: n64(0), Access: "rw"},
			},
			[]req{
				{c, r | w, 1, 3, true}, {c, m, 1, 3, true}, {b, r, 1, 3, false},
				{c, r | w, 5, 0, true}, {c, m, 5, 0, false}, {c, r, 1, 5, false},
			},
		},
		{
			"last matching rule wins",
			[]specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: n64(1), Access: "rw"},
				{Allow: false, Type: "c", Major: n64(1), Minor: n64(5), Access: "w"},
				{Allow: true, Type: "c", Major: n64(1), Minor: n64(5), Access: "w"},
				{Allow: false, Type: "c", Major: n64(1), Minor: n64(9), Access: "r"},
			},
			[]req{
				{c, r | w, 1, 5, true}, {c, r, 1, 9, false}, {c, w, 1, 9, true},
				{c, r | w, 1, 9, false}, {c, r, 1, 7, true}, {c, m, 1, 7, false},
			},
		},
		{
			"wildcard minus a hole",
			[]specs.LinuxDeviceCgroup{
				{Allow: true, Type: "a", Access: "rwm"},
				{Allow: false, Type: "b", Major: n64(8), Access: "w"},
			},
			[]req{{b, r, 8, 1, true}, {b, w, 8, 1, false}, {b, w, 9, 1, true}, {c, w, 8, 1, true}},
		},
		{
			"access bits granted by separate rules add up",
			[]specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: n64(10), Minor: n64(200), Access: "r"},
				{Allow: true, Type: "c", Major: n64(10), Minor: n64(200), Access: "w"},
			},
			[]req{{c, r | w, 10, 200, true}, {c, m, 10, 200, false}},
		},
		{
			"-1 is a wildcard",
			[]specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: n64(136), Minor: n64(-1), Access: "rwm"}},
			[]req{{c, r, 136, 0, true}, {c, r, 136, 4, true}, {c, r, 137, 0, false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rules []devRule
			for _, d := range tt.rules {
				dr, err := parseDevRule(d)
				if err != nil {
					t.Fatal(err)
				}
				rules = append(rules, dr)
			}
			prog := deviceProgram(rules)
			checkReachable(t, prog)
			for _, q := range tt.reqs {
				got := runProg(t, prog, q.typ, q.acc, q.major, q.minor) == 1
				if got != q.want {
					t.Errorf("type %d access %d %d:%d: allowed = %v, want %v", q.typ, q.acc, q.major, q.minor, got, q.want)
				}
			}
		})
	}
}

// TestDeviceProgramRandom checks generated programs against the reference
// on random rule sets and requests (fixed seed).
func TestDeviceProgramRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	num := func() int64 { return int64(rng.IntN(4)) - 1 } // -1 (all), 0, 1, 2
	for iter := 0; iter < 300; iter++ {
		var rules []devRule
		for i := rng.IntN(8); i > 0; i-- {
			rules = append(rules, devRule{
				allow: rng.IntN(2) == 0, typ: int32(rng.IntN(3)),
				major: num(), minor: num(), access: int32(1 + rng.IntN(7)),
			})
		}
		prog := deviceProgram(rules)
		checkReachable(t, prog)
		for typ := uint32(1); typ <= 2; typ++ {
			for acc := uint32(1); acc <= 7; acc++ {
				for major := uint32(0); major < 3; major++ {
					for minor := uint32(0); minor < 3; minor++ {
						got := runProg(t, prog, typ, acc, major, minor) == 1
						if want := reference(rules, typ, acc, major, minor); got != want {
							t.Fatalf("rules %+v, request type %d acc %d %d:%d: allowed = %v, want %v",
								rules, typ, acc, major, minor, got, want)
						}
					}
				}
			}
		}
	}
}

func TestParseDevRule(t *testing.T) {
	tests := []struct {
		in      specs.LinuxDeviceCgroup
		v1      string
		wantErr bool
	}{
		{specs.LinuxDeviceCgroup{Allow: false}, "a *:* rwm", false},
		{specs.LinuxDeviceCgroup{Type: "c", Major: n64(1), Minor: n64(3), Access: "mrw"}, "c 1:3 rwm", false},
		{specs.LinuxDeviceCgroup{Type: "b", Major: n64(8), Access: "r"}, "b 8:* r", false},
		{specs.LinuxDeviceCgroup{Type: "c", Major: n64(-1), Minor: n64(2), Access: "w"}, "c *:2 w", false},
		{specs.LinuxDeviceCgroup{Type: "p"}, "", true},
		{specs.LinuxDeviceCgroup{Type: "c", Access: "rx"}, "", true},
		{specs.LinuxDeviceCgroup{Type: "c", Major: n64(-5)}, "", true},
		{specs.LinuxDeviceCgroup{Type: "c", Major: n64(1 << 40)}, "", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.in), func(t *testing.T) {
			r, err := parseDevRule(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && r.v1String() != tt.v1 {
				t.Errorf("v1 rule = %q, want %q", r.v1String(), tt.v1)
			}
		})
	}
}

func TestAllowedDevicesProgram(t *testing.T) {
	rules := []devRule{{allow: false, typ: 0, major: -1, minor: -1, access: accMknod | accRead | accWrite}}
	for _, d := range AllowedDevices() {
		r, err := parseDevRule(d)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	prog := deviceProgram(rules)
	checkReachable(t, prog)
	for _, q := range []struct {
		typ, acc, major, minor uint32
		want                   bool
	}{
		{devChar, accRead | accWrite, 1, 3, true},   // /dev/null
		{devChar, accRead | accWrite, 136, 7, true}, // a pts
		{devBlock, accMknod, 8, 0, true},            // mknod of a disk
		{devBlock, accRead, 8, 0, false},            // but not reading it
		{devChar, accRead, 4, 0, false},             // /dev/tty0
	} {
		if got := runProg(t, prog, q.typ, q.acc, q.major, q.minor) == 1; got != q.want {
			t.Errorf("%+v: allowed = %v", q, got)
		}
	}
}
