package container

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The forked init: Create's fast path forks the runtime (fork, not exec)
// into the container's new namespaces, and the runtime itself, from a
// thread that joins those namespaces, makes the mounts and devices,
// pivots the root, opens the console and writes the hostname and
// sysctls. What only the process can do to itself (its session, stdio,
// rlimits, capabilities, user, seccomp, working directory, execve) the
// child does, from a plan the runtime prepared before the fork.
//
// The child is a copy of a multi-threaded Go process with a single thread
// left: it must not allocate, take locks, grow its stack or schedule
// goroutines. So its code is nosplit, uses only raw system calls, and
// reads nothing but the plan (whose memory the fork copied). Signals stay
// blocked from before the fork until the child resets their handlers.
//
//	runtime (Create)                                 child
//	 | fork(CLONE_NEW*)  ---------------------------> | setsid, stdio
//	 | cgroups, oom_score_adj                         |
//	 | -- opUnshare(CLONE_NEWCGROUP) ---------------> | (with a new cgroup ns)
//	 | thread joins the child's namespaces:           |
//	 |   mounts, devices (proc through opMount) ----> | mount proc: its pid ns is the child's
//	 | prestart, createRuntime hooks                  |
//	 |   pivot_root (moves the child's root too),     |
//	 |   console (slave through opConsole) ---------> | dup to 0-2, controlling tty
//	 |   read-only root, hostname, sysctls, masks     |
//	 | -- opFinish ---------------------------------> | rlimits, umask, no_new_privs, seccomp,
//	 |                                                | bounding set, user, capabilities, cwd,
//	 | <------------------------- reply{step 0} ----- | the executable found
//	 | state.json; exit                               | signals reset; open exec fifo (blocks
//	                                                  | until Start reads it); execve
//
// Every request gets a reply; a failure names the step, the errno and,
// where there is one, the index of the item that failed.

// Requests from the runtime to the child.
const (
	opMount   = 1 + iota // mount(2) with the request's strings and flags
	opUnshare            // unshare(2) with Flags
	opConsole            // the message carries a pty slave: make it stdio and the controlling terminal
	opFinish             // apply the plan and exec
)

// Steps a reply reports; 0 is success.
const (
	stepOK = iota
	stepRequest
	stepStdio
	stepPreserve
	stepRlimit
	stepUmask
	stepNoNewPrivs
	stepSeccomp
	stepBounding
	stepKeepCaps
	stepSetgroups
	stepSetgid
	stepSetuid
	stepClearKeepCaps
	stepCapset
	stepAmbientClear
	stepAmbient
	stepCwd
	stepExecStat   // Index: the candidate
	stepExecDir    // Index: the candidate
	stepExecAccess // Index: the candidate
	stepExecMissing
	stepSignals
	stepCloseRange
)

// childRequest is one message on the SOCK_SEQPACKET sync socket.
type childRequest struct {
	Op    uint32
	_     uint32
	Flags uint64
	Off   [4]uint32 // of NUL-terminated strings in Data; noString for none
	Len   uint32    // bytes of Data used
	_     uint32
	Data  [3968]byte
}

const noString = ^uint32(0)

// atFDCWD is AT_FDCWD (-100) as a system call argument.
const atFDCWD = ^uintptr(99)

// oobLen is the size of childPlan.oob, untyped: Msghdr.Controllen is
// 32 or 64 bits wide depending on the architecture.
const oobLen = 64

// childReply is the child's answer to a request.
type childReply struct {
	Step  uint32
	Errno uint32
	Index uint32
	_     uint32
}

type childRlimit struct {
	resource uintptr
	limit    [2]uint64 // soft, hard: struct rlimit64
}

// childPlan is all the child reads. Pointers in it point to memory the
// runtime allocated before the fork; the child only writes its integer
// fields and buffers.
type childPlan struct {
	setsid   bool // a session of its own (a container's init, a process with a terminal)
	syncFd   uintptr
	stdio    [3]uintptr // dup'ed onto 0, 1, 2
	preserve uintptr    // fds 3 .. 3+preserve-1 are passed on
	keep     [2]uintptr // the fds kept open above those: sync socket and exec fifo, in order (equal for exec)

	rlimits []childRlimit
	umask   uintptr

	noNewPrivs   bool
	seccompEarly bool // before the user changes (needs CAP_SYS_ADMIN)
	seccompLate  bool // last, under no_new_privs
	seccompFlags uintptr
	seccompProg  unix.SockFprog

	setCaps   bool
	capDrop   []uintptr // capabilities to drop from the bounding set
	capHeader unix.CapUserHeader
	capData   [2]unix.CapUserData
	ambient   []uintptr

	groups []uint32
	uid    uintptr
	gid    uintptr

	cwd    *byte
	paths  []*byte // candidates for the executable, in $PATH order
	search bool    // paths come from $PATH: a missing one is skipped
	argv   []*byte // nil-terminated
	envp   []*byte // nil-terminated

	fifo      *byte     // /proc/self/fd/N of the exec fifo's O_PATH fd; nil for exec
	resetSigs []uintptr // signals whose Go handler goes back to SIG_DFL
	sigDfl    [8]uint64 // a zero struct sigaction: SIG_DFL, no flags, no mask
	noSigs    uint64    // an empty signal set

	execFailed []byte // message prefix written to stderr when execve fails

	req   childRequest
	reply childReply
	iov   unix.Iovec
	msg   unix.Msghdr
	oob   [oobLen]byte
	stat  unix.Stat_t
	one   [1]byte
	num   [24]byte
}

// forkChild forks the calling thread into a child in the new namespaces
// of flags. In the parent it returns the child's pid; the child runs the
// plan and never returns. The caller has blocked every signal on its
// locked thread.
//
//go:nosplit
//go:norace
func forkChild(flags uintptr, p *childPlan) (int, syscall.Errno) {
	pid, _, e := syscall.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if pid != 0 {
		return int(pid), 0
	}
	// The child: it never returns.
	if p.setsid {
		if _, _, e := syscall.RawSyscall6(unix.SYS_SETSID, 0, 0, 0, 0, 0, 0); e != 0 {
			childFail(p, stepStdio, e, 0)
		}
	}
	for i := uintptr(0); i < 3; i++ {
		if _, _, e := syscall.RawSyscall6(unix.SYS_DUP3, p.stdio[i], i, 0, 0, 0, 0); e != 0 {
			childFail(p, stepStdio, e, uint32(i))
		}
	}
	for fd := uintptr(3); fd < 3+p.preserve; fd++ {
		if _, _, e := syscall.RawSyscall6(unix.SYS_FCNTL, fd, unix.F_SETFD, 0, 0, 0, 0); e != 0 {
			childFail(p, stepPreserve, e, uint32(fd))
		}
	}
	// Close now every other fd the fork copied (pipes someone waits to
	// see closed, the console socket, …) but the two the child still
	// needs. close_range is from Linux 5.9; before it they close on exec.
	childCloseRange(3+p.preserve, p.keep[0]-1)
	childCloseRange(p.keep[0]+1, p.keep[1]-1)
	childCloseRange(p.keep[1]+1, ^uintptr(0))
	for {
		p.msg.Controllen = oobLen // the kernel lowers it to what came
		n, _, e := syscall.RawSyscall6(unix.SYS_RECVMSG, p.syncFd, uintptr(unsafe.Pointer(&p.msg)), unix.MSG_CMSG_CLOEXEC, 0, 0, 0)
		if e != 0 || n == 0 {
			childExit(1) // the runtime is gone
		}
		switch p.req.Op {
		case opMount:
			_, _, e = syscall.RawSyscall6(unix.SYS_MOUNT, reqString(p, 0), reqString(p, 1), reqString(p, 2), uintptr(p.req.Flags), reqString(p, 3), 0)
			childReplyErr(p, stepRequest, e, 0)
		case opUnshare:
			_, _, e = syscall.RawSyscall6(unix.SYS_UNSHARE, uintptr(p.req.Flags), 0, 0, 0, 0, 0)
			childReplyErr(p, stepRequest, e, 0)
		case opConsole:
			childReplyErr(p, stepRequest, childConsole(p), 0)
		case opFinish:
			childFinish(p)
		default:
			childReplyErr(p, stepRequest, unix.EINVAL, 0)
		}
	}
}

// reqString is the address of the request's i-th string, 0 for none.
//
//go:nosplit
func reqString(p *childPlan, i int) uintptr {
	off := p.req.Off[i]
	if off == noString || off >= uint32(len(p.req.Data)) {
		return 0
	}
	return uintptr(unsafe.Pointer(&p.req.Data[off]))
}

// childConsole makes the pty slave that came with the request the stdio
// and controlling terminal.
//
//go:nosplit
func childConsole(p *childPlan) syscall.Errno {
	// One SCM_RIGHTS message with one fd: header, then the int.
	if uint64(p.msg.Controllen) < uint64(unix.CmsgSpace(4)) {
		return unix.EBADMSG
	}
	fd := uintptr(*(*int32)(unsafe.Pointer(&p.oob[unix.CmsgLen(0)])))
	for i := uintptr(0); i < 3; i++ {
		if _, _, e := syscall.RawSyscall6(unix.SYS_DUP3, fd, i, 0, 0, 0, 0); e != 0 {
			return e
		}
	}
	syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	if _, _, e := syscall.RawSyscall6(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0, 0, 0, 0); e != 0 {
		return e
	}
	return 0
}

// childFinish applies the plan in prepareProcess's order, reports, waits
// for Start and execs.
//
//go:nosplit
func childFinish(p *childPlan) {
	var e syscall.Errno
	for i := range p.rlimits {
		r := &p.rlimits[i]
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, r.resource, uintptr(unsafe.Pointer(&r.limit)), 0, 0, 0); e != 0 {
			childReplyFail(p, stepRlimit, e, uint32(i))
		}
	}
	syscall.RawSyscall6(unix.SYS_UMASK, p.umask, 0, 0, 0, 0, 0)
	// Before the seccomp filter, which may not know the newer calls:
	// fds from 3+preserve on (the sync socket, the exec fifo) end with
	// the exec, and the Go handlers this copy of the runtime inherited
	// go back to SIG_DFL (signals stay blocked until the fifo wait).
	if _, _, e = syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 3+p.preserve, ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC, 0, 0, 0); e != 0 && e != unix.ENOSYS {
		childReplyFail(p, stepCloseRange, e, 0)
	}
	for _, sig := range p.resetSigs {
		if _, _, e = syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&p.sigDfl)), 0, 8, 0, 0); e != 0 {
			childReplyFail(p, stepSignals, e, uint32(sig))
		}
	}
	if p.noNewPrivs {
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
			childReplyFail(p, stepNoNewPrivs, e, 0)
		}
	}
	if p.seccompEarly {
		childSeccomp(p)
	}
	if p.setCaps {
		for i, c := range p.capDrop {
			if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
				childReplyFail(p, stepBounding, e, uint32(i))
			}
		}
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0, 0, 0, 0); e != 0 {
		childReplyFail(p, stepKeepCaps, e, 0)
	}
	var groups uintptr
	if len(p.groups) > 0 {
		groups = uintptr(unsafe.Pointer(&p.groups[0]))
	}
	if _, _, e = syscall.RawSyscall6(sysSetgroups, uintptr(len(p.groups)), groups, 0, 0, 0, 0); e != 0 && !(e == unix.EPERM && len(p.groups) == 0) {
		childReplyFail(p, stepSetgroups, e, 0)
	}
	if _, _, e = syscall.RawSyscall6(sysSetresgid, p.gid, p.gid, p.gid, 0, 0, 0); e != 0 {
		childReplyFail(p, stepSetgid, e, 0)
	}
	if _, _, e = syscall.RawSyscall6(sysSetresuid, p.uid, p.uid, p.uid, 0, 0, 0); e != 0 {
		childReplyFail(p, stepSetuid, e, 0)
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0, 0, 0, 0); e != 0 {
		childReplyFail(p, stepClearKeepCaps, e, 0)
	}
	if p.setCaps {
		if _, _, e = syscall.RawSyscall6(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&p.capHeader)), uintptr(unsafe.Pointer(&p.capData[0])), 0, 0, 0, 0); e != 0 {
			childReplyFail(p, stepCapset, e, 0)
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 && e != unix.EINVAL {
			childReplyFail(p, stepAmbientClear, e, 0)
		}
		for i, c := range p.ambient {
			// The kernel refuses ambient capabilities that are not
			// both permitted and inheritable; runc ignores those too.
			if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, c, 0, 0, 0); e != 0 && e != unix.EPERM {
				childReplyFail(p, stepAmbient, e, uint32(i))
			}
		}
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p.cwd)), 0, 0, 0, 0, 0); e != 0 {
		childReplyFail(p, stepCwd, e, 0)
	}
	path := childFindExecutable(p)
	if p.seccompLate {
		childSeccomp(p)
	}
	childReplyErr(p, stepOK, 0, uint32(path))
	if _, _, e = syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&p.noSigs)), 0, 8, 0, 0); e != 0 {
		childExit(1)
	}
	if p.fifo != nil {
		// Blocks until Start opens the fifo for reading.
		fifo, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(p.fifo)), unix.O_WRONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			childExit(1)
		}
		p.one[0] = '0'
		if _, _, e = syscall.RawSyscall6(unix.SYS_WRITE, fifo, uintptr(unsafe.Pointer(&p.one[0])), 1, 0, 0, 0); e != 0 {
			childExit(1)
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, fifo, 0, 0, 0, 0, 0)
	}
	_, _, e = syscall.RawSyscall6(unix.SYS_EXECVE, uintptr(unsafe.Pointer(p.paths[path])), uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envp[0])), 0, 0, 0)
	// The runtime is gone by now: stderr is all that is left.
	childWrite(2, p.execFailed)
	childWriteErrno(p, e)
	childExit(127)
}

// childCloseRange closes fds lo..hi, if any.
//
//go:nosplit
func childCloseRange(lo, hi uintptr) {
	if lo <= hi {
		syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, lo, hi, 0, 0, 0, 0)
	}
}

//go:nosplit
func childSeccomp(p *childPlan) {
	if _, _, e := syscall.RawSyscall6(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, p.seccompFlags, uintptr(unsafe.Pointer(&p.seccompProg)), 0, 0, 0); e != 0 {
		childReplyFail(p, stepSeccomp, e, 0)
	}
}

// childFindExecutable returns the index of the first candidate that is an
// executable file for the process's user (as lookPath decides), or fails
// the create.
//
//go:nosplit
func childFindExecutable(p *childPlan) int {
	first, firstStep := -1, uint32(0)
	var firstErr syscall.Errno
	for i, path := range p.paths {
		step := uint32(stepExecStat)
		_, _, e := syscall.RawSyscall6(sysFstatat, atFDCWD, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&p.stat)), 0, 0, 0)
		if e == 0 && uint32(p.stat.Mode)&unix.S_IFMT == unix.S_IFDIR {
			step, e = stepExecDir, unix.EISDIR
		} else if e == 0 {
			step = stepExecAccess
			_, _, e = syscall.RawSyscall6(unix.SYS_FACCESSAT2, atFDCWD, uintptr(unsafe.Pointer(path)), unix.X_OK, unix.AT_EACCESS, 0, 0)
			if e == unix.ENOSYS || e == unix.EPERM {
				// Before Linux 5.8, or a seccomp filter that does not
				// know faccessat2. Not faccessat: for a user other
				// than root it drops the capabilities that execve will
				// use (CAP_DAC_OVERRIDE through a 0700 rootfs). Like
				// x/sys's emulation, look at the mode; execve has the
				// last word.
				e = 0
				if uint32(p.stat.Mode)&0o111 == 0 {
					e = unix.EACCES
				}
			}
		}
		if e == 0 {
			return i
		}
		if first < 0 && ((e != unix.ENOENT && e != unix.ENOTDIR) || !p.search) {
			first, firstStep, firstErr = i, step, e
		}
	}
	if first >= 0 {
		childReplyFail(p, firstStep, firstErr, uint32(first))
	}
	childReplyFail(p, stepExecMissing, unix.ENOENT, 0)
	return 0 // not reached
}

//go:nosplit
func childReplyErr(p *childPlan, step uint32, e syscall.Errno, index uint32) {
	if e == 0 && step != stepOK {
		step = stepOK
	}
	p.reply.Step, p.reply.Errno, p.reply.Index = step, uint32(e), index
	if _, _, err := syscall.RawSyscall6(unix.SYS_WRITE, p.syncFd, uintptr(unsafe.Pointer(&p.reply)), unsafe.Sizeof(p.reply), 0, 0, 0); err != 0 {
		childExit(1)
	}
}

// childReplyFail reports a failed step and exits.
//
//go:nosplit
func childReplyFail(p *childPlan, step uint32, e syscall.Errno, index uint32) {
	childReplyErr(p, step, e, index)
	childExit(1)
}

// childFail reports a failure before any request and exits.
//
//go:nosplit
func childFail(p *childPlan, step uint32, e syscall.Errno, index uint32) {
	childReplyFail(p, step, e, index)
}

//go:nosplit
func childExit(code uintptr) {
	for {
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0)
	}
}

//go:nosplit
func childWrite(fd uintptr, b []byte) {
	if len(b) > 0 {
		syscall.RawSyscall6(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	}
}

// childWriteErrno writes the errno's number and a newline to stderr.
//
//go:nosplit
func childWriteErrno(p *childPlan, e syscall.Errno) {
	b := &p.num
	i := len(b)
	i--
	b[i] = '\n'
	n := uint32(e)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	childWrite(2, b[i:])
}
