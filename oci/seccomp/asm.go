package seccomp

import "golang.org/x/sys/unix"

// The assembler writes the program backwards, last instruction first, so
// every jump goes to an instruction that is already placed and its offset
// is known when it is written. A conditional jump whose target is out of
// reach (more than 255 instructions ahead) gets a bridge: a copy of the
// target if it is a RET, else an unconditional jump (32-bit offset).

// Instruction classes and fields of classic BPF (linux/bpf_common.h).
const (
	bpfLD   = 0x00
	bpfALU  = 0x04
	bpfJMP  = 0x05
	bpfRET  = 0x06
	bpfW    = 0x00
	bpfABS  = 0x20
	bpfAND  = 0x50
	bpfJA   = 0x00
	bpfJEQ  = 0x10
	bpfJGT  = 0x20
	bpfJGE  = 0x30
	bpfJSET = 0x40
	bpfK    = 0x00
)

// maxInsns is the kernel's limit on a filter's length (BPF_MAXINSNS).
const maxInsns = 4096

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// ref is a place a jump can go: an instruction already written (label, its
// index counted from the end of the program) or a RET of a value, written
// where it is needed.
type ref struct {
	label int
	ret   uint32
	isRet bool
}

func retRef(v uint32) ref { return ref{ret: v, isRet: true} }

type asm struct {
	rev     []unix.SockFilter // the program, last instruction first
	lastRet map[uint32]int    // RET value -> label of its nearest copy
}

func newAsm() *asm { return &asm{lastRet: map[uint32]int{}} }

// emit writes ins before everything written so far and returns its label.
func (a *asm) emit(code uint16, k uint32, jt, jf uint8) ref {
	a.rev = append(a.rev, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	l := len(a.rev) - 1
	if code == bpfRET|bpfK {
		a.lastRet[k] = l
	}
	return ref{label: l}
}

// near returns the offset of r from the instruction to be written next if
// a conditional jump reaches it.
func (a *asm) near(r ref) (uint8, bool) {
	l := r.label
	if r.isRet {
		var ok bool
		if l, ok = a.lastRet[r.ret]; !ok {
			return 0, false
		}
	}
	off := len(a.rev) - l - 1
	if off > 255 {
		return 0, false
	}
	return uint8(off), true
}

// place writes r itself: a RET, or a jump to it unless it comes next.
func (a *asm) place(r ref) ref {
	if r.isRet {
		return a.emit(bpfRET|bpfK, r.ret, 0, 0)
	}
	if r.label == len(a.rev)-1 {
		return r
	}
	return a.emit(bpfJMP|bpfJA, uint32(len(a.rev)-r.label-1), 0, 0)
}

// jump writes "if A <cond> k goto jt else goto jf".
func (a *asm) jump(cond uint16, k uint32, jt, jf ref) ref {
	if jt == jf {
		return jt
	}
	for {
		t, okT := a.near(jt)
		f, okF := a.near(jf)
		switch {
		case !okT:
			jt = a.place(jt)
		case !okF:
			jf = a.place(jf)
		default:
			return a.emit(bpfJMP|cond|bpfK, k, t, f)
		}
	}
}

func (a *asm) load(off uint32) ref { return a.emit(bpfLD|bpfW|bpfABS, off, 0, 0) }

// program returns the instructions in execution order.
func (a *asm) program() []unix.SockFilter {
	p := make([]unix.SockFilter, len(a.rev))
	for i, ins := range a.rev {
		p[len(p)-1-i] = ins
	}
	return p
}
