package seccomp

import (
	"runtime"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// dockerAllowed are the system calls Docker's default profile allows to
// every container (moby's profiles/seccomp/default.json), with those of
// each architecture: a name an architecture lacks is ignored.
const dockerAllowed = "" +
	"_llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir " +
	"chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime " +
	"clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range " +
	"creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 " +
	"epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 " +
	"fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 " +
	"fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat " +
	"fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 " +
	"futex_wait futex_waitv futex_wake futimesat get_robust_list get_thread_area getcpu getcwd " +
	"getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 " +
	"getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 " +
	"getresuid getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday " +
	"getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1 " +
	"inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup " +
	"io_submit ioctl ioprio_get ioprio_set ipc kill landlock_add_rule landlock_create_ruleset " +
	"landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr " +
	"listxattrat llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack " +
	"membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall " +
	"mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 " +
	"mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync " +
	"munlock munlockall munmap name_to_handle_at nanosleep newfstatat open openat openat2 pause " +
	"pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll " +
	"ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 " +
	"ptrace pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg " +
	"recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2 " +
	"restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask " +
	"rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 " +
	"rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr " +
	"sched_getparam sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 " +
	"sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select " +
	"semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg " +
	"sendto set_robust_list set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 " +
	"setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 " +
	"setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt " +
	"setuid setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd " +
	"signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 " +
	"statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time " +
	"timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime " +
	"timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime " +
	"timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat " +
	"uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write " +
	"writev sync_file_range2 swapcontext arm_fadvise64_64 arm_sync_file_range breakpoint cacheflush " +
	"set_tls arch_prctl modify_ldt riscv_flush_icache"

// dockerByCap are the system calls Docker's profile allows only to a
// container that holds a capability.
var dockerByCap = [...]struct{ cap, names string }{
	{"CAP_DAC_READ_SEARCH", "open_by_handle_at"},
	{"CAP_SYS_ADMIN", "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr " +
		"move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare"},
	{"CAP_SYS_BOOT", "reboot"},
	{"CAP_SYS_CHROOT", "chroot"},
	{"CAP_SYS_MODULE", "delete_module init_module finit_module"},
	{"CAP_SYS_PACCT", "acct"},
	{"CAP_SYS_PTRACE", "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"},
	{"CAP_SYS_RAWIO", "iopl ioperm"},
	{"CAP_SYS_TIME", "settimeofday stime clock_settime clock_settime64"},
	{"CAP_SYS_TTY_CONFIG", "vhangup"},
	{"CAP_SYS_NICE", "get_mempolicy mbind set_mempolicy set_mempolicy_home_node"},
	{"CAP_SYSLOG", "syslog"},
	{"CAP_BPF", "bpf"},
	{"CAP_PERFMON", "perf_event_open"},
}

// DefaultArches are the architectures the default profile filters on a
// host of the given GOARCH: the native one and those its kernel also
// runs (Docker's archMap), for Petrel's cross targets.
func DefaultArches(goarch string) []specs.Arch {
	switch goarch {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	case "arm":
		return []specs.Arch{specs.ArchARM}
	case "riscv64":
		return []specs.Arch{specs.ArchRISCV64}
	case "386":
		return []specs.Arch{specs.ArchX86}
	}
	return nil
}

// Default returns Docker's default profile for a container holding caps
// (CAP_ names), for this host's architectures: about 380 system calls
// allowed, clone without namespace flags (unless CAP_SYS_ADMIN),
// personality with five values, socket but AF_VSOCK, clone3 ENOSYS so
// that C libraries fall back to clone, EPERM for the rest. It is built
// anew on each call; nothing is kept at package level.
func Default(caps []string) *specs.LinuxSeccomp {
	has := map[string]bool{}
	for _, c := range caps {
		has[c] = true
	}
	errno := uint(1) // EPERM
	allow := strings.Fields(dockerAllowed)
	seen := make(map[string]bool, len(allow))
	for _, n := range allow {
		seen[n] = true
	}
	for _, bc := range dockerByCap {
		if !has[bc.cap] {
			continue
		}
		for _, n := range strings.Fields(bc.names) {
			if !seen[n] {
				seen[n] = true
				allow = append(allow, n)
			}
		}
	}
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: &errno, Architectures: DefaultArches(runtime.GOARCH),
		Syscalls: []specs.LinuxSyscall{{Names: allow, Action: specs.ActAllow}},
	}
	rule := func(name string, op specs.LinuxSeccompOperator, index uint, value, two uint64) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: index, Value: value, ValueTwo: two, Op: op}}}
	}
	p.Syscalls = append(p.Syscalls, rule("socket", specs.OpNotEqual, 0, 40, 0)) // AF_VSOCK
	for _, v := range []uint64{0, 8, 0x20000, 0x20008, 0xffffffff} {
		p.Syscalls = append(p.Syscalls, rule("personality", specs.OpEqualTo, 0, v, 0))
	}
	if !has["CAP_SYS_ADMIN"] { // else clone and clone3 are in allow
		// clone without CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP.
		p.Syscalls = append(p.Syscalls, rule("clone", specs.OpMaskedEqual, 0, 0x7e020000, 0))
		enosys := uint(38)
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys})
	}
	return p
}
