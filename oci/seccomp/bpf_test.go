package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// seccompData is the input of a seccomp filter (struct seccomp_data).
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d *seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// checkProgram applies the kernel's checks of a seccomp filter
// (bpf_check_classic and seccomp_check_filter) to the subset of classic BPF
// the compiler uses, so a program that passes also loads.
func checkProgram(prog []unix.SockFilter) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("length %d out of 1..%d", len(prog), maxInsns)
	}
	for i, ins := range prog {
		switch ins.Code {
		case bpfLD | bpfW | bpfABS:
			if ins.K >= 64 || ins.K%4 != 0 {
				return fmt.Errorf("insn %d: load of seccomp_data offset %d", i, ins.K)
			}
		case bpfALU | bpfAND | bpfK, bpfRET | bpfK:
		case bpfJMP | bpfJA:
			if uint64(i)+1+uint64(ins.K) >= uint64(len(prog)) {
				return fmt.Errorf("insn %d: ja %d out of range", i, ins.K)
			}
		case bpfJMP | bpfJEQ | bpfK, bpfJMP | bpfJGT | bpfK, bpfJMP | bpfJGE | bpfK, bpfJMP | bpfJSET | bpfK:
			if i+1+int(ins.Jt) >= len(prog) || i+1+int(ins.Jf) >= len(prog) {
				return fmt.Errorf("insn %d: jump %d/%d out of range", i, ins.Jt, ins.Jf)
			}
		default:
			return fmt.Errorf("insn %d: opcode %#x not allowed", i, ins.Code)
		}
	}
	if last := prog[len(prog)-1].Code; last != bpfRET|bpfK {
		return fmt.Errorf("last instruction %#x is not a RET", last)
	}
	return nil
}

// runProgram interprets a checked program and returns its verdict and the
// number of instructions executed.
func runProgram(prog []unix.SockFilter, d *seccompData) (uint32, int, error) {
	data := d.bytes()
	var acc uint32
	steps := 0
	for pc := 0; pc < len(prog); pc++ {
		steps++
		ins := prog[pc]
		switch ins.Code {
		case bpfLD | bpfW | bpfABS:
			acc = binary.LittleEndian.Uint32(data[ins.K:])
		case bpfALU | bpfAND | bpfK:
			acc &= ins.K
		case bpfRET | bpfK:
			return ins.K, steps, nil
		case bpfJMP | bpfJA:
			pc += int(ins.K)
		default:
			var taken bool
			switch ins.Code {
			case bpfJMP | bpfJEQ | bpfK:
				taken = acc == ins.K
			case bpfJMP | bpfJGT | bpfK:
				taken = acc > ins.K
			case bpfJMP | bpfJGE | bpfK:
				taken = acc >= ins.K
			case bpfJMP | bpfJSET | bpfK:
				taken = acc&ins.K != 0
			default:
				return 0, steps, fmt.Errorf("pc %d: opcode %#x", pc, ins.Code)
			}
			if taken {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		}
	}
	return 0, steps, fmt.Errorf("fell off the end")
}
