package seccomp

import (
	"errors"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	retAllow   = unix.SECCOMP_RET_ALLOW
	retKill    = unix.SECCOMP_RET_KILL_THREAD
	retKillPr  = unix.SECCOMP_RET_KILL_PROCESS
	retNotify  = unix.SECCOMP_RET_USER_NOTIF
	retEPERM   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS  = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	retEACCES  = unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
	highNumber = 4000 // above every table, below the x32 bit
)

func uintp(v uint) *uint { return &v }

func archIndex(t testing.TB, name specs.Arch) int {
	t.Helper()
	i, _, ok := lookupArch(name)
	if !ok || i < 0 {
		t.Fatalf("no arch %s", name)
	}
	return i
}

// call is one system call made by a process of ABI arch.
type call struct {
	arch specs.Arch
	name string // or nr when empty
	nr   uint32
	args [6]uint64
}

func (c call) data(t testing.TB) *seccompData {
	t.Helper()
	i := archIndex(t, c.arch)
	nr := c.nr
	if c.name != "" {
		var ok bool
		if nr, ok = syscallNr(i, c.name); !ok {
			t.Fatalf("%s has no %s", c.arch, c.name)
		}
	}
	return &seccompData{nr: nr, arch: arches[i].audit, args: c.args}
}

func verdict(t testing.TB, prog []unix.SockFilter, d *seccompData) uint32 {
	t.Helper()
	if err := checkProgram(prog); err != nil {
		t.Fatalf("invalid program: %v", err)
	}
	v, _, err := runProgram(prog, d)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerdicts(t *testing.T) {
	type check struct {
		c    call
		want uint32
	}
	amd := specs.ArchX86_64
	tests := []struct {
		name   string
		native specs.Arch
		cfg    specs.LinuxSeccomp
		checks []check
	}{{
		name:   "allow list with default errno",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read", "write", "exit_group", "openat"}, Action: specs.ActAllow},
				{Names: []string{"no_such_syscall"}, Action: specs.ActAllow},
			},
		},
		checks: []check{
			{call{arch: amd, name: "read"}, retAllow},
			{call{arch: amd, name: "write"}, retAllow},
			{call{arch: amd, name: "openat"}, retAllow},
			{call{arch: amd, name: "mkdir"}, retEPERM},
			{call{arch: amd, nr: 0x3fffffff}, retENOSYS}, // above openat: -ENOSYS stub
		},
	}, {
		name:   "errno values",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction:   specs.ActErrno,
			DefaultErrnoRet: uintp(uint(unix.EACCES)),
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))},
				{Names: []string{"rmdir"}, Action: specs.ActErrno},
				{Names: []string{"getpid"}, Action: specs.ActAllow},
				{Names: []string{"ptrace"}, Action: specs.ActTrace},
				{Names: []string{"kill"}, Action: specs.ActKillProcess},
				{Names: []string{"tkill"}, Action: specs.ActKill},
				{Names: []string{"uname"}, Action: specs.ActTrap},
				{Names: []string{"chdir"}, Action: specs.ActLog},
			},
		},
		checks: []check{
			{call{arch: amd, name: "mkdir"}, retENOSYS},
			{call{arch: amd, name: "mkdirat"}, retENOSYS},
			{call{arch: amd, name: "rmdir"}, retEPERM}, // a rule's errno is EPERM, not defaultErrnoRet
			{call{arch: amd, name: "getpid"}, retAllow},
			{call{arch: amd, name: "ptrace"}, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
			{call{arch: amd, name: "kill"}, retKillPr},
			{call{arch: amd, name: "tkill"}, retKill},
			{call{arch: amd, name: "uname"}, unix.SECCOMP_RET_TRAP},
			{call{arch: amd, name: "chdir"}, unix.SECCOMP_RET_LOG},
			{call{arch: amd, name: "read"}, retEACCES},
		},
	}, {
		name:   "no stub when the default allows",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}},
		},
		checks: []check{
			{call{arch: amd, name: "mkdir"}, retEPERM},
			{call{arch: amd, nr: highNumber}, retAllow},
		},
	}, {
		name:   "stub under a kill default",
		native: specs.ArchAARCH64,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActKillProcess,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "clone"}, Action: specs.ActAllow}},
		},
		checks: []check{
			{call{arch: specs.ArchAARCH64, name: "clone"}, retAllow},
			{call{arch: specs.ArchAARCH64, name: "write"}, retKillPr},
			{call{arch: specs.ArchAARCH64, name: "clone3"}, retENOSYS},
		},
	}, {
		name:   "64-bit argument comparisons",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0x1_0000_0005, Op: specs.OpEqualTo}}},
				{Names: []string{"write"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x2_0000_0000, Op: specs.OpGreaterThan}}},
				{Names: []string{"close"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 5, Value: 0x1_0000_0000, Op: specs.OpLessThan}}},
				{Names: []string{"dup"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffff_ffff_ffff_ffff, Op: specs.OpNotEqual}}},
				{Names: []string{"dup2"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 7, Op: specs.OpGreaterEqual}}},
				{Names: []string{"dup3"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0x1_0000_0007, Op: specs.OpLessEqual}}},
			},
		},
		checks: []check{
			{call{arch: amd, name: "read", args: [6]uint64{2: 0x1_0000_0005}}, retAllow},
			{call{arch: amd, name: "read", args: [6]uint64{2: 5}}, retEPERM}, // low word alone does not match
			{call{arch: amd, name: "read", args: [6]uint64{2: 0x2_0000_0005}}, retEPERM},
			{call{arch: amd, name: "write", args: [6]uint64{0x2_0000_0001}}, retAllow},
			{call{arch: amd, name: "write", args: [6]uint64{0x2_0000_0000}}, retEPERM},
			{call{arch: amd, name: "write", args: [6]uint64{0x1_ffff_ffff}}, retEPERM},
			{call{arch: amd, name: "write", args: [6]uint64{0x3_0000_0000}}, retAllow},
			{call{arch: amd, name: "close", args: [6]uint64{5: 0xffff_ffff}}, retAllow},
			{call{arch: amd, name: "close", args: [6]uint64{5: 0x1_0000_0000}}, retEPERM},
			{call{arch: amd, name: "dup", args: [6]uint64{0xffff_ffff}}, retAllow},
			{call{arch: amd, name: "dup", args: [6]uint64{0xffff_ffff_ffff_ffff}}, retEPERM},
			{call{arch: amd, name: "dup2", args: [6]uint64{1: 7}}, retAllow},
			{call{arch: amd, name: "dup2", args: [6]uint64{1: 6}}, retEPERM},
			{call{arch: amd, name: "dup2", args: [6]uint64{1: 0x1_0000_0000}}, retAllow},
			{call{arch: amd, name: "dup3", args: [6]uint64{1: 0x1_0000_0007}}, retAllow},
			{call{arch: amd, name: "dup3", args: [6]uint64{1: 0x1_0000_0008}}, retEPERM},
			{call{arch: amd, name: "dup3", args: [6]uint64{1: 0xffff_ffff}}, retAllow},
		},
	}, {
		name:   "32-bit ABIs compare the low word",
		native: specs.ArchX86,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0x1_0000_0005, Op: specs.OpEqualTo}}},
				{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffff_ffff_ffff_ffff, Op: specs.OpEqualTo}}},
			},
		},
		checks: []check{
			{call{arch: specs.ArchX86, name: "read", args: [6]uint64{2: 5}}, retAllow},
			{call{arch: specs.ArchX86, name: "read", args: [6]uint64{2: 6}}, retEPERM},
			{call{arch: specs.ArchX86, name: "personality", args: [6]uint64{0xffff_ffff}}, retAllow},
		},
	}, {
		name:   "masked equal",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{
				// Docker's clone rule: no namespace flags.
				{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7E020000, Op: specs.OpMaskedEqual}}},
				{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0xff00_0000_0000_000f, ValueTwo: 0x0100_0000_0000_0001, Op: specs.OpMaskedEqual}}},
			},
		},
		checks: []check{
			{call{arch: amd, name: "clone", args: [6]uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_THREAD}}, retAllow},
			{call{arch: amd, name: "clone", args: [6]uint64{unix.CLONE_NEWNS | uint64(unix.SIGCHLD)}}, retEPERM},
			{call{arch: amd, name: "clone", args: [6]uint64{unix.CLONE_NEWUSER}}, retEPERM},
			{call{arch: amd, name: "socket", args: [6]uint64{1: 0x01ab_cdef_0000_1231}}, retAllow},
			{call{arch: amd, name: "socket", args: [6]uint64{1: 0x02ab_cdef_0000_1231}}, retEPERM},
			{call{arch: amd, name: "socket", args: [6]uint64{1: 0x01ab_cdef_0000_1232}}, retEPERM},
		},
	}, {
		name:   "args ANDed, rules ORed in order",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActKillProcess,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: 100, Op: specs.OpGreaterThan}, {Index: 1, Value: 9, Op: specs.OpNotEqual}}},
				{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)), Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: 200, Op: specs.OpLessThan}}},
				{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 1, Value: 0, Op: specs.OpEqualTo}}},
				// Two conditions on one argument: either suffices (runc).
				{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: 0, Op: specs.OpEqualTo}, {Index: 0, Value: 8, Op: specs.OpEqualTo}}},
			},
		},
		checks: []check{
			{call{arch: amd, name: "kill", args: [6]uint64{300, 15}}, retAllow},
			{call{arch: amd, name: "kill", args: [6]uint64{150, 15}}, retAllow}, // first rule wins
			{call{arch: amd, name: "kill", args: [6]uint64{150, 9}}, retEACCES},
			{call{arch: amd, name: "kill", args: [6]uint64{300, 9}}, retKillPr},
			{call{arch: amd, name: "kill", args: [6]uint64{300, 0}}, retAllow},
			{call{arch: amd, name: "personality", args: [6]uint64{0}}, retAllow},
			{call{arch: amd, name: "personality", args: [6]uint64{8}}, retAllow},
			{call{arch: amd, name: "personality", args: [6]uint64{4}}, retKillPr},
		},
	}, {
		name:   "per-arch numbering and foreign arches",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchMIPS},
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"open", "socketcall"}, Action: specs.ActAllow}},
		},
		checks: []check{
			{call{arch: amd, name: "open"}, retAllow},
			{call{arch: specs.ArchX86, name: "open"}, retAllow},                  // 5 on i386
			{call{arch: amd, nr: 1}, retEPERM},                                   // write on x86_64
			{call{arch: amd, nr: 5}, retENOSYS},                                  // above open (2): stub
			{call{arch: specs.ArchX86, name: "socketcall"}, retAllow},            // i386 only
			{call{arch: specs.ArchAARCH64, name: "openat"}, badArchAction},       // not listed
			{call{arch: specs.ArchX32, name: "open"}, badArchAction},             // x32 not listed
			{call{arch: specs.ArchX86, nr: highNumber}, retENOSYS},               // stub per arch
			{call{arch: amd, nr: x32SyscallBit - 1}, retENOSYS},                  // below the x32 bit
			{call{arch: specs.ArchRISCV64, name: "read"}, badArchAction},         // riscv64 not listed
			{call{arch: specs.ArchARM, name: "read"}, badArchAction},             // arm not listed
			{call{arch: specs.ArchARM, name: "breakpoint"}, badArchAction},       // arm not listed
			{call{arch: specs.ArchAARCH64, name: "read"}, unix.SECCOMP_RET_KILL}, // bad arch is KILL_THREAD
		},
	}, {
		name:   "i386 socketcall and ipc",
		native: specs.ArchX86,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_VSOCK, Op: specs.OpNotEqual}}},
				{Names: []string{"recvmsg", "accept", "semget", "read"}, Action: specs.ActAllow},
				{Names: []string{"sendto"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 7, Op: specs.OpEqualTo}}},
				// One entry, two multiplexers: each keeps its sub-call.
				{Names: []string{"shutdown", "shmdt"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpEqualTo}}},
			},
		},
		checks: []check{
			{call{arch: specs.ArchX86, name: "socket", args: [6]uint64{unix.AF_INET}}, retAllow},
			{call{arch: specs.ArchX86, name: "socket", args: [6]uint64{unix.AF_VSOCK}}, retEPERM},
			// Through socketcall the family is behind a pointer: the
			// sub-call number replaces the condition on argument 0.
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{1, 0x1000}}, retAllow},
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{17}}, retAllow}, // recvmsg
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{5}}, retAllow},  // accept: no direct call
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{2}}, retEPERM},  // bind
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{11, 7}}, retAllow},
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{11, 8}}, retEPERM},
			{call{arch: specs.ArchX86, name: "ipc", args: [6]uint64{2}}, retAllow},             // semget
			{call{arch: specs.ArchX86, name: "ipc", args: [6]uint64{1}}, retEPERM},             // semop
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{13, 9}}, retEACCES}, // shutdown
			{call{arch: specs.ArchX86, name: "socketcall", args: [6]uint64{22, 9}}, retEPERM},
			{call{arch: specs.ArchX86, name: "ipc", args: [6]uint64{22, 9}}, retEACCES}, // shmdt
			{call{arch: specs.ArchX86, name: "ipc", args: [6]uint64{13, 9}}, retEPERM},
			{call{arch: specs.ArchX86, name: "recvmsg"}, retAllow},
			{call{arch: specs.ArchX86, name: "sendmsg"}, retEPERM},
		},
	}, {
		name:   "x32",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: []specs.Arch{specs.ArchX32},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read", "ioctl"}, Action: specs.ActAllow},
				{Names: []string{"mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)), Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0o700, Op: specs.OpEqualTo}}},
			},
		},
		checks: []check{
			{call{arch: specs.ArchX32, name: "read"}, retAllow},
			{call{arch: specs.ArchX32, nr: x32SyscallBit | 514}, retAllow}, // x32 ioctl
			{call{arch: specs.ArchX32, nr: x32SyscallBit | 16}, retEPERM},  // x86_64's ioctl number
			{call{arch: amd, name: "ioctl"}, retAllow},                     // 16
			{call{arch: specs.ArchX32, name: "mkdirat", args: [6]uint64{2: 0o700}}, retEACCES},
			{call{arch: specs.ArchX32, name: "mkdirat", args: [6]uint64{2: 0x1_0000_01c0}}, retEACCES}, // 32-bit compare
			{call{arch: amd, name: "mkdirat", args: [6]uint64{2: 0x1_0000_01c0}}, retEPERM},            // 64-bit compare
			{call{arch: specs.ArchX32, nr: x32SyscallBit | 1000}, retENOSYS},
		},
	}, {
		name:   "arm private calls",
		native: specs.ArchAARCH64,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: []specs.Arch{specs.ArchARM},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read", "cacheflush", "set_tls"}, Action: specs.ActAllow},
			},
		},
		checks: []check{
			{call{arch: specs.ArchARM, nr: 0x0f0002}, retAllow},
			{call{arch: specs.ArchARM, nr: 0x0f0005}, retAllow},
			{call{arch: specs.ArchARM, nr: 0x0f0001}, retEPERM},    // private calls are not stubbed
			{call{arch: specs.ArchARM, name: "openat"}, retENOSYS}, // stub ignores private numbers
			{call{arch: specs.ArchARM, name: "read"}, retAllow},
			{call{arch: specs.ArchAARCH64, name: "read"}, retAllow},
		},
	}, {
		name:   "rules with the default action are redundant",
		native: amd,
		cfg: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mkdir"}, Action: specs.ActErrno},
				{Names: []string{"mkdir"}, Action: specs.ActAllow},
				{Names: []string{"getpid"}, Action: specs.ActNotify},
			},
			ListenerPath: "/run/agent.sock",
		},
		checks: []check{
			{call{arch: amd, name: "mkdir"}, retAllow},
			{call{arch: amd, name: "getpid"}, retNotify},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nat := archIndex(t, tt.native)
			prog, err := compileFor(&tt.cfg, nat)
			if err != nil {
				t.Fatal(err)
			}
			for _, ck := range tt.checks {
				d := ck.c.data(t)
				if got := verdict(t, prog, d); got != ck.want {
					t.Errorf("%s %s nr %#x args %#x: got %#x, want %#x", ck.c.arch, ck.c.name, d.nr, d.args, got, ck.want)
				}
				if m := modelVerdict(&tt.cfg, nat, d); m != ck.want {
					t.Errorf("model disagrees on %s %s: %#x", ck.c.arch, ck.c.name, m)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := func() specs.LinuxSeccomp {
		return specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchS390X},
			Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_TSYNC"},
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "not_a_syscall"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 5, Op: specs.OpMaskedEqual}}}},
		}
	}
	tests := []struct {
		name   string
		mutate func(*specs.LinuxSeccomp)
		want   string // "" for valid
	}{
		{"valid", func(*specs.LinuxSeccomp) {}, ""},
		{"missing default", func(c *specs.LinuxSeccomp) { c.DefaultAction = "" }, "defaultAction: invalid seccomp profile: missing action"},
		{"unknown default", func(c *specs.LinuxSeccomp) { c.DefaultAction = "SCMP_ACT_NOPE" }, `defaultAction: invalid seccomp profile: unknown action "SCMP_ACT_NOPE"`},
		{"notify default", func(c *specs.LinuxSeccomp) { c.DefaultAction = specs.ActNotify; c.ListenerPath = "/x" }, "invalid seccomp profile: SCMP_ACT_NOTIFY cannot be the default action"},
		{"big errno", func(c *specs.LinuxSeccomp) { c.DefaultErrnoRet = uintp(5000) }, "defaultAction: invalid seccomp profile: errnoRet 5000 of SCMP_ACT_ERRNO is larger than 4095"},
		{"unknown arch", func(c *specs.LinuxSeccomp) { c.Architectures = append(c.Architectures, "SCMP_ARCH_Z80") }, `invalid seccomp profile: unknown architecture "SCMP_ARCH_Z80"`},
		{"unknown flag", func(c *specs.LinuxSeccomp) { c.Flags = append(c.Flags, "SECCOMP_FILTER_FLAG_NEW_LISTENER") }, `invalid seccomp profile: unknown flag "SECCOMP_FILTER_FLAG_NEW_LISTENER"`},
		{"errno with allow", func(c *specs.LinuxSeccomp) { c.Syscalls[0].ErrnoRet = uintp(1) }, "syscalls[0]: invalid seccomp profile: errnoRet with SCMP_ACT_ALLOW: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno"},
		{"unknown rule action", func(c *specs.LinuxSeccomp) { c.Syscalls[0].Action = "ALLOW" }, `syscalls[0]: invalid seccomp profile: unknown action "ALLOW"`},
		{"empty name", func(c *specs.LinuxSeccomp) { c.Syscalls[0].Names = []string{""} }, "syscalls[0]: invalid seccomp profile: empty system call name"},
		{"unknown operator", func(c *specs.LinuxSeccomp) { c.Syscalls[0].Args[0].Op = "SCMP_CMP_XOR" }, `syscalls[0].args[0]: invalid seccomp profile: unknown operator "SCMP_CMP_XOR"`},
		{"arg index", func(c *specs.LinuxSeccomp) { c.Syscalls[0].Args[0].Index = 6 }, "syscalls[0].args[0]: invalid seccomp profile: index 6 out of range 0..5"},
		{"notify without listener", func(c *specs.LinuxSeccomp) { c.Syscalls[0].Action = specs.ActNotify }, "invalid seccomp profile: SCMP_ACT_NOTIFY needs listenerPath"},
		{"notify on write", func(c *specs.LinuxSeccomp) {
			c.Syscalls[0].Action = specs.ActNotify
			c.Syscalls[0].Names = []string{"write"}
			c.ListenerPath = "/x"
		}, "syscalls[0]: invalid seccomp profile: SCMP_ACT_NOTIFY cannot be used for write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok()
			tt.mutate(&cfg)
			err := Validate(&cfg)
			_, cerr := Compile(&cfg)
			if tt.want == "" {
				if err != nil || cerr != nil {
					t.Fatalf("Validate: %v, Compile: %v", err, cerr)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate: %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(cerr, ErrInvalid) {
				t.Fatalf("errors not ErrInvalid: %v, %v", err, cerr)
			}
		})
	}
	if err := Validate(nil); err != nil {
		t.Fatalf("nil profile: %v", err)
	}
	if prog, err := Compile(nil); prog != nil || err != nil {
		t.Fatalf("Compile(nil) = %v, %v", prog, err)
	}
}

func TestSyscallTables(t *testing.T) {
	tests := []struct {
		arch specs.Arch
		name string
		nr   uint32
	}{
		{specs.ArchX86_64, "read", 0},
		{specs.ArchX86_64, "mkdir", 83},
		{specs.ArchX86_64, "clone3", 435},
		{specs.ArchX32, "read", x32SyscallBit | 0},
		{specs.ArchX32, "execve", x32SyscallBit | 520},
		{specs.ArchX86, "mkdir", 39},
		{specs.ArchX86, "socketcall", 102},
		{specs.ArchAARCH64, "mkdirat", 34},
		{specs.ArchAARCH64, "newfstatat", 79},
		{specs.ArchARM, "mkdir", 39},
		{specs.ArchARM, "arm_fadvise64_64", 270},
		{specs.ArchARM, "set_tls", 0x0f0005},
		{specs.ArchRISCV64, "riscv_flush_icache", 259},
		{specs.ArchRISCV64, "mkdirat", 34},
	}
	for _, tt := range tests {
		got, ok := syscallNr(archIndex(t, tt.arch), tt.name)
		if !ok || got != tt.nr {
			t.Errorf("%s %s = %#x, %v; want %#x", tt.arch, tt.name, got, ok, tt.nr)
		}
	}
	absent := []struct {
		arch specs.Arch
		name string
	}{
		{specs.ArchAARCH64, "mkdir"}, {specs.ArchX32, "uselib"}, {specs.ArchX86_64, "socketcall"},
		{specs.ArchX86, "breakpoint"}, {specs.ArchX86_64, "zz_not_a_call"}, {specs.ArchX86_64, ""},
		{specs.ArchARM, "syscall_mask"}, {specs.ArchAARCH64, "arch_specific_syscall"},
	}
	for _, tt := range absent {
		if nr, ok := syscallNr(archIndex(t, tt.arch), tt.name); ok {
			t.Errorf("%s %s = %d, want absent", tt.arch, tt.name, nr)
		}
	}
	for i := 1; i < len(sysNameEnd); i++ {
		if sysName(i-1) >= sysName(i) {
			t.Fatalf("names not sorted at %d: %q, %q", i, sysName(i-1), sysName(i))
		}
	}
}
