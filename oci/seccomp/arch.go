package seccomp

import (
	"runtime"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Columns of sysNumbers; the order is gen_tables.go's goarches.
const (
	tabAMD64 = iota
	tabX32
	tab386
	tabARM
	tabARM64
	tabRISCV64
	numTabs
)

const (
	x32SyscallBit = 0x40000000 // __X32_SYSCALL_BIT
	absentNr      = 0xffff
	armPrivBase   = 0xf000
)

// arch describes one system call ABI the filter can dispatch on.
type arch struct {
	name  specs.Arch
	audit uint32 // AUDIT_ARCH_* in seccomp_data.arch
	tab   int    // column of sysNumbers
	bits  int    // argument width libseccomp compares: 32 or 64
}

// arches are the ABIs of Petrel's targets, in the order filters check them.
var arches = [...]arch{
	{specs.ArchX86_64, unix.AUDIT_ARCH_X86_64, tabAMD64, 64},
	{specs.ArchX32, unix.AUDIT_ARCH_X86_64, tabX32, 32},
	{specs.ArchX86, unix.AUDIT_ARCH_I386, tab386, 32},
	{specs.ArchAARCH64, unix.AUDIT_ARCH_AARCH64, tabARM64, 64},
	{specs.ArchARM, unix.AUDIT_ARCH_ARM, tabARM, 32},
	{specs.ArchRISCV64, unix.AUDIT_ARCH_RISCV64, tabRISCV64, 64},
}

// foreignArches are SCMP_ARCH_* names the runtime-spec knows that no Petrel
// target can execute; a profile may list them (Docker's does, per host) and
// they are ignored.
var foreignArches = [...]specs.Arch{
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
	specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
	specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
	specs.ArchPARISC64, specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB,
}

// lookupArch returns the index in arches of name; foreign is true for an
// architecture known to the runtime-spec but not to Petrel.
func lookupArch(name specs.Arch) (idx int, foreign, ok bool) {
	for i := range arches {
		if arches[i].name == name {
			return i, false, true
		}
	}
	for _, f := range foreignArches {
		if f == name {
			return -1, true, true
		}
	}
	return -1, false, false
}

// nativeArch returns the index in arches of the ABI this program runs as.
func nativeArch(goarch string) (int, bool) {
	var name specs.Arch
	switch goarch {
	case "amd64":
		name = specs.ArchX86_64
	case "386":
		name = specs.ArchX86
	case "arm64":
		name = specs.ArchAARCH64
	case "arm":
		name = specs.ArchARM
	case "riscv64":
		name = specs.ArchRISCV64
	default:
		return -1, false
	}
	i, _, _ := lookupArch(name)
	return i, true
}

func native() (int, bool) { return nativeArch(runtime.GOARCH) }

// syscallNr returns the number of the system call name in ABI a, as it
// appears in seccomp_data.nr (x32 numbers carry __X32_SYSCALL_BIT).
func syscallNr(a int, name string) (uint32, bool) {
	i := sort.Search(len(sysNameEnd), func(i int) bool { return sysName(i) >= name })
	if i == len(sysNameEnd) || sysName(i) != name {
		return 0, false
	}
	v := sysNumbers[arches[a].tab][i]
	switch {
	case v == absentNr:
		return 0, false
	case arches[a].tab == tabX32:
		return uint32(v) | x32SyscallBit, true
	case arches[a].tab == tabARM && v >= armPrivBase:
		return armPrivFirst + uint32(v-armPrivBase), true
	}
	return uint32(v), true
}

// sysName returns name i of the generated table.
func sysName(i int) string {
	start := 0
	if i > 0 {
		start = int(sysNameEnd[i-1])
	}
	return sysNames[start:sysNameEnd[i]]
}

// i386 reaches the socket and System V IPC calls through socketcall(2) and
// ipc(2) too, with the call's number in argument 0; libseccomp filters both
// ways, and so do we.
const (
	nrSocketcall386 = 102
	nrIPC386        = 117
)

var x86Muxed = [...]struct {
	name string
	mux  uint16
	sub  uint8
}{
	{"socket", nrSocketcall386, 1}, {"bind", nrSocketcall386, 2}, {"connect", nrSocketcall386, 3},
	{"listen", nrSocketcall386, 4}, {"accept", nrSocketcall386, 5}, {"getsockname", nrSocketcall386, 6},
	{"getpeername", nrSocketcall386, 7}, {"socketpair", nrSocketcall386, 8}, {"send", nrSocketcall386, 9},
	{"recv", nrSocketcall386, 10}, {"sendto", nrSocketcall386, 11}, {"recvfrom", nrSocketcall386, 12},
	{"shutdown", nrSocketcall386, 13}, {"setsockopt", nrSocketcall386, 14}, {"getsockopt", nrSocketcall386, 15},
	{"sendmsg", nrSocketcall386, 16}, {"recvmsg", nrSocketcall386, 17}, {"accept4", nrSocketcall386, 18},
	{"recvmmsg", nrSocketcall386, 19}, {"sendmmsg", nrSocketcall386, 20},
	{"semop", nrIPC386, 1}, {"semget", nrIPC386, 2}, {"semctl", nrIPC386, 3}, {"semtimedop", nrIPC386, 4},
	{"msgsnd", nrIPC386, 11}, {"msgrcv", nrIPC386, 12}, {"msgget", nrIPC386, 13}, {"msgctl", nrIPC386, 14},
	{"shmat", nrIPC386, 21}, {"shmdt", nrIPC386, 22}, {"shmget", nrIPC386, 23}, {"shmctl", nrIPC386, 24},
}

// multiplexed returns the multiplexer and sub-call through which ABI abi
// also reaches name.
func multiplexed(abi int, name string) (mux, sub uint32, ok bool) {
	if arches[abi].tab != tab386 {
		return 0, 0, false
	}
	for _, m := range x86Muxed {
		if m.name == name {
			return uint32(m.mux), uint32(m.sub), true
		}
	}
	return 0, 0, false
}
