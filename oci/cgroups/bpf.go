package cgroups

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The device program sees a struct bpf_cgroup_dev_ctx:
//
//	u32 access_type  // (access << 16) | type
//	u32 major
//	u32 minor
//
// and returns 1 to allow the access, 0 to deny it.
const (
	devBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devChar  = 2 // BPF_DEVCG_DEV_CHAR

	accMknod = 1 // BPF_DEVCG_ACC_MKNOD
	accRead  = 2 // BPF_DEVCG_ACC_READ
	accWrite = 4 // BPF_DEVCG_ACC_WRITE
)

// bpfInsn is one eBPF instruction in the kernel's layout (little-endian
// hosts: dst register in the low nibble of regs).
type bpfInsn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

// The eBPF opcodes the device program uses.
const (
	opLdxW   = 0x61 // BPF_LDX | BPF_W | BPF_MEM: dst = *(u32 *)(src + off)
	opMovX   = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X: dst = src
	opMovK   = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
	opAndK   = 0x57 // BPF_ALU64 | BPF_AND | BPF_K: dst &= imm
	opRshK   = 0x77 // BPF_ALU64 | BPF_RSH | BPF_K: dst >>= imm
	opJa     = 0x05 // BPF_JMP | BPF_JA: pc += off
	opJneK   = 0x55 // BPF_JMP | BPF_JNE | BPF_K: if dst != imm { pc += off }
	opJsetK  = 0x45 // BPF_JMP | BPF_JSET | BPF_K: if dst & imm != 0 { pc += off }
	opExit   = 0x95 // BPF_JMP | BPF_EXIT: return r0
	regCtx   = 1
	regType  = 2
	regAcc   = 3
	regMajor = 4
	regMinor = 5
)

func insn(code, dst, src uint8, off int16, imm int32) bpfInsn {
	return bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// devRule is one spec device rule, validated.
type devRule struct {
	allow        bool
	typ          int32 // 0 = all
	major, minor int64 // -1 = all
	access       int32 // accMknod | accRead | accWrite
}

func parseDevRule(d specs.LinuxDeviceCgroup) (devRule, error) {
	r := devRule{allow: d.Allow, major: -1, minor: -1}
	switch d.Type {
	case "", "a":
	case "b":
		r.typ = devBlock
	case "c":
		r.typ = devChar
	default:
		return r, fmt.Errorf("device rule: invalid type %q", d.Type)
	}
	for _, n := range []struct {
		p   *int64
		dst *int64
	}{{d.Major, &r.major}, {d.Minor, &r.minor}} {
		if n.p == nil || *n.p == -1 {
			continue
		}
		if *n.p < 0 || *n.p > 1<<31-1 {
			return r, fmt.Errorf("device rule: invalid device number %d", *n.p)
		}
		*n.dst = *n.p
	}
	acc := d.Access
	if acc == "" {
		acc = "rwm"
	}
	for _, c := range acc {
		var bit int32
		switch c {
		case 'm':
			bit = accMknod
		case 'r':
			bit = accRead
		case 'w':
			bit = accWrite
		default:
			return r, fmt.Errorf("device rule: invalid access %q", d.Access)
		}
		r.access |= bit
	}
	return r, nil
}

// v1String is the rule as written to devices.allow or devices.deny.
func (r devRule) v1String() string {
	t := map[int32]string{0: "a", devBlock: "b", devChar: "c"}[r.typ]
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return fmt.Sprint(n)
	}
	var acc strings.Builder
	for _, b := range []struct {
		bit int32
		c   byte
	}{{accRead, 'r'}, {accWrite, 'w'}, {accMknod, 'm'}} {
		if r.access&b.bit != 0 {
			acc.WriteByte(b.c)
		}
	}
	return fmt.Sprintf("%s %s:%s %s", t, num(r.major), num(r.minor), acc.String())
}

// deviceProgram assembles the cgroup v2 device filter for rules: each
// requested access bit (mknod, read, write) is decided by the last rule that
// names the device and that bit; a bit no rule names is denied; the access is
// allowed only when every requested bit is.
func deviceProgram(rules []devRule) []bpfInsn {
	p := []bpfInsn{
		insn(opLdxW, regType, regCtx, 0, 0),
		insn(opMovX, regAcc, regType, 0, 0),
		insn(opAndK, regType, 0, 0, 0xffff),
		insn(opRshK, regAcc, 0, 0, 16),
		insn(opLdxW, regMajor, regCtx, 4, 0),
		insn(opLdxW, regMinor, regCtx, 8, 0),
	}
	for _, bit := range []int32{accMknod, accRead, accWrite} {
		// Rules for this bit, last first, cut after one that matches all.
		var rs []devRule
		catchAll := false
		for i := len(rules) - 1; i >= 0 && !catchAll; i-- {
			r := rules[i]
			if r.access&bit == 0 {
				continue
			}
			rs = append(rs, r)
			catchAll = r.typ == 0 && r.major < 0 && r.minor < 0
		}
		var blocks [][]bpfInsn
		for _, r := range rs {
			var conds []bpfInsn
			if r.typ != 0 {
				conds = append(conds, insn(opJneK, regType, 0, 0, r.typ))
			}
			if r.major >= 0 {
				conds = append(conds, insn(opJneK, regMajor, 0, 0, int32(r.major)))
			}
			if r.minor >= 0 {
				conds = append(conds, insn(opJneK, regMinor, 0, 0, int32(r.minor)))
			}
			verdict := []bpfInsn{insn(opMovK, 0, 0, 0, 0), insn(opExit, 0, 0, 0, 0)}
			if r.allow {
				verdict = []bpfInsn{insn(opJa, 0, 0, 0, 0)} // offset set below
			}
			for i := range conds {
				conds[i].off = int16(len(conds) - 1 - i + len(verdict))
			}
			blocks = append(blocks, append(conds, verdict...))
		}
		if !catchAll {
			blocks = append(blocks, []bpfInsn{insn(opMovK, 0, 0, 0, 0), insn(opExit, 0, 0, 0, 0)})
		}
		// An allow jumps to the end of the section.
		rest := 0
		for i := len(blocks) - 1; i >= 0; i-- {
			b := blocks[i]
			if last := &b[len(b)-1]; last.code == opJa {
				last.off = int16(rest)
			}
			rest += len(b)
		}
		// Skip the section when the bit is not requested.
		p = append(p, insn(opJsetK, regAcc, 0, 1, bit), insn(opJa, 0, 0, int16(rest), 0))
		for _, b := range blocks {
			p = append(p, b...)
		}
	}
	return append(p, insn(opMovK, 0, 0, 0, 1), insn(opExit, 0, 0, 0, 0))
}

func bpfCall(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

type progAttachAttr struct {
	targetFd    uint32
	attachBpfFd uint32
	attachType  uint32
	attachFlags uint32
}

type progQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type getFdByIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

func loadDeviceProgram(prog []bpfInsn) (int, error) {
	license := []byte("Apache\x00")
	attr := progLoadAttr{
		progType:           unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:            uint32(len(prog)),
		insns:              uint64(uintptr(unsafe.Pointer(&prog[0]))),
		license:            uint64(uintptr(unsafe.Pointer(&license[0]))),
		expectedAttachType: unix.BPF_CGROUP_DEVICE,
	}
	copy(attr.progName[:], "petrel_devices")
	fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if errors.Is(err, unix.EPERM) && raiseMemlock() {
		// Kernels before 5.11 charge programs to RLIMIT_MEMLOCK.
		fd, err = bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	}
	if err != nil && !errors.Is(err, unix.EPERM) {
		// Load again with the verifier's log for the error message.
		log := make([]byte, 64<<10)
		attr.logLevel, attr.logSize = 1, uint32(len(log))
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
		if _, err2 := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err2 != nil {
			if n := strings.IndexByte(string(log), 0); n > 0 {
				err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(log[:n])))
			}
		}
	}
	runtime.KeepAlive(prog)
	runtime.KeepAlive(license)
	if err != nil {
		return -1, fmt.Errorf("load device program: %w", err)
	}
	return fd, nil
}

// queryDevicePrograms returns the ids of the device programs attached to
// the cgroup open as dirfd.
func queryDevicePrograms(dirfd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	q := progQueryAttr{
		targetFd:   uint32(dirfd),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
		progCnt:    uint32(len(ids)),
	}
	_, err := bpfCall(unix.BPF_PROG_QUERY, unsafe.Pointer(&q), unsafe.Sizeof(q))
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, err
	}
	return ids[:min(int(q.progCnt), len(ids))], nil
}

// raiseMemlock lifts the soft RLIMIT_MEMLOCK to the hard one and reports
// whether that changed anything.
func raiseMemlock() bool {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl) != nil || rl.Cur >= rl.Max {
		return false
	}
	rl.Cur = rl.Max
	return unix.Setrlimit(unix.RLIMIT_MEMLOCK, &rl) == nil
}

// attachDeviceProgram loads prog and attaches it to the v2 cgroup dir, then
// detaches the device programs that were there before (a container update).
func attachDeviceProgram(dir string, prog []bpfInsn) error {
	dirfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(dirfd)

	old, err := queryDevicePrograms(dirfd)
	if err != nil {
		return fmt.Errorf("query device programs of %s: %w", dir, err)
	}

	fd, err := loadDeviceProgram(prog)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	a := progAttachAttr{
		targetFd:    uint32(dirfd),
		attachBpfFd: uint32(fd),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpfCall(unix.BPF_PROG_ATTACH, unsafe.Pointer(&a), unsafe.Sizeof(a)); err != nil {
		return fmt.Errorf("attach device program to %s: %w", dir, err)
	}
	for _, id := range old {
		g := getFdByIDAttr{id: id}
		ofd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&g), unsafe.Sizeof(g))
		if err != nil {
			return fmt.Errorf("detach old device program %d from %s: %w", id, dir, err)
		}
		d := progAttachAttr{targetFd: uint32(dirfd), attachBpfFd: uint32(ofd), attachType: unix.BPF_CGROUP_DEVICE}
		_, err = bpfCall(unix.BPF_PROG_DETACH, unsafe.Pointer(&d), unsafe.Sizeof(d))
		unix.Close(ofd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach old device program %d from %s: %w", id, dir, err)
		}
	}
	return nil
}
