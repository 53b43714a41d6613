package container

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/net/netns"
	"github.com/petrel-edge/petrel/oci/caps"
	"github.com/petrel-edge/petrel/oci/seccomp"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

// InitEnv names the environment variable that chooses how Create starts a
// container's init: "exec" re-executes the binary as the init (the general
// path), anything else forks it when the configuration allows (child.go).
const InitEnv = "PETREL_INIT"

// forkedInitRefusal returns why the forked init cannot set up s, or "" if
// it can. What it leaves to the re-executed init are the cases where the
// container's setup must run inside the container's process: a user
// namespace (this process cannot join it), no mount namespace or a joined
// one, --no-pivot (chroot moves one process only), hooks that run in the
// container, and process attributes set from inside (scheduler, I/O
// priority, personality). It also needs /proc in the container to open
// the exec fifo.
func forkedInitRefusal(s *specs.Spec, cloneflags uintptr, noPivot bool) string {
	switch {
	case os.Getenv(InitEnv) == "exec":
		return InitEnv + "=exec"
	case s.Process == nil || len(s.Process.Args) == 0:
		return "no process"
	case cloneflags&unix.CLONE_NEWUSER != 0:
		return "user namespace"
	case cloneflags&unix.CLONE_NEWNS == 0:
		return "no new mount namespace"
	case noPivot:
		return "--no-pivot"
	case s.Hooks != nil && (len(s.Hooks.CreateContainer) > 0 || len(s.Hooks.StartContainer) > 0):
		return "hooks in the container"
	case s.Process.Scheduler != nil || s.Process.IOPriority != nil || s.Linux.Personality != nil:
		return "scheduler, I/O priority or personality"
	}
	for _, m := range s.Mounts {
		if m.Type == "proc" && filepath.Clean(m.Destination) == "/proc" {
			return ""
		}
	}
	return "no /proc mount"
}

// forkedExecRefusal is forkedInitRefusal for Exec: the container exists,
// so only the process's own attributes matter.
func forkedExecRefusal(p *specs.Process, s *specs.Spec) string {
	switch {
	case os.Getenv(InitEnv) == "exec":
		return InitEnv + "=exec"
	case p.Scheduler != nil || p.IOPriority != nil || s.Linux.Personality != nil:
		return "scheduler, I/O priority or personality"
	}
	return ""
}

// forkedInit is the fast path of Create and Exec: see child.go.
type forkedInit struct {
	spec        *specs.Spec
	cloneflags  uintptr
	joins       []nsJoin
	newCgroupNS bool
	cfg         *initConfig // rootfs, bundle, cgroup paths for prepareRootfs
	stdio       [3]*os.File
	preserve    int
	consoleSock *os.File // console socket, nil without a terminal
	fifo        *os.File // O_PATH fd of the exec fifo; nil for exec
	exec        bool     // a process in a running container (Container.Exec)
	mountNS     *os.File // exec: the container's mount namespace
	// afterFork joins the child to its cgroups; hooks, when there are
	// any, runs prestart and createRuntime (on the calling goroutine).
	afterFork func(pid int) error
	hooks     func(pid int) error

	sock *os.File // our end of the sync socket
	plan *childPlan
	ps   *PlanSpec // what plan was built from
	// remote, when set, forks the child in another process (Create's
	// Fork); syncChild is the child's end of the sync socket, sent along.
	remote    func(*ForkRequest) (int, error)
	syncChild *os.File
	// forked closes this process's copies of what the child inherited,
	// the child's end of the sync socket among them: once it exists, a
	// child that dies must leave the socket with no writer, so that a
	// read of its reply ends instead of waiting for ever.
	forked func()
}

// start forks the init and sets the container up around it. The returned
// process is non-nil once the child exists, even on error, so that the
// caller can kill it.
func (f *forkedInit) start() (*Process, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	f.sock = os.NewFile(uintptr(fds[0]), "sync")
	defer f.sock.Close()
	child := os.NewFile(uintptr(fds[1]), "sync-child")
	defer child.Close()
	var keep []*os.File // fds the child inherits, closed here after the fork
	f.forked = sync.OnceFunc(func() {
		child.Close()
		for _, k := range keep {
			k.Close()
		}
	})
	defer f.forked()
	p, err := f.makePlan()
	if err != nil {
		return nil, err
	}
	f.plan = p
	if f.remote != nil {
		// The forking process supplies the stdio and its own copies of
		// the sync socket and fifo (ForkInit).
		f.syncChild = child
	} else if err := childFds(p, f.preserve, f.stdio, child, f.fifo, &keep); err != nil {
		return nil, err
	}

	// The thread that forks and then joins the child's namespaces is
	// never unlocked: it dies with its goroutine. Steps that must run in
	// this process's own namespaces (cgroups, hooks) are sent back to
	// the calling goroutine.
	calls := make(chan func() error)
	results := make(chan error)
	done := make(chan error, 1)
	var proc *Process
	go func() {
		runtime.LockOSThread()
		done <- f.setup(&proc, func(fn func() error) error {
			calls <- fn
			return <-results
		})
	}()
	for {
		select {
		case fn := <-calls:
			results <- fn()
		case err := <-done:
			f.forked()
			runtime.KeepAlive(p)
			return proc, err
		}
	}
}

// childFds gives p the child's descriptors: copies of stdio (/dev/null
// for nil ones), of the sync socket and of the exec fifo (nil for exec),
// numbered from 3+preserve up. The copies are added to keep, for the
// caller to close once the child is forked.
func childFds(p *childPlan, preserve int, stdio [3]*os.File, sync, fifo *os.File, keep *[]*os.File) error {
	dup := func(file *os.File) (uintptr, error) {
		fd, err := unix.FcntlInt(file.Fd(), unix.F_DUPFD_CLOEXEC, 3+preserve)
		if err != nil {
			return 0, fmt.Errorf("dup %s: %w", file.Name(), err)
		}
		*keep = append(*keep, os.NewFile(uintptr(fd), file.Name()))
		return uintptr(fd), nil
	}
	for i, file := range stdio {
		if file == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			p.stdio[i], err = dup(null)
			null.Close()
			if err != nil {
				return err
			}
			continue
		}
		fd, err := dup(file)
		if err != nil {
			return err
		}
		p.stdio[i] = fd
	}
	fd, err := dup(sync)
	if err != nil {
		return err
	}
	p.syncFd = fd
	p.keep = [2]uintptr{p.syncFd, p.syncFd}
	if fifo != nil {
		fifoFd, err := dup(fifo)
		if err != nil {
			return err
		}
		p.fifo = cstring("/proc/self/fd/" + strconv.Itoa(int(fifoFd)))
		p.keep = [2]uintptr{min(p.syncFd, fifoFd), max(p.syncFd, fifoFd)}
	}
	return nil
}

// setup runs on its own locked thread.
func (f *forkedInit) setup(proc **Process, onCaller func(func() error) error) error {
	// A remote fork joins them in the forking process.
	for _, j := range f.joinsHere() {
		fd, err := unix.Open(j.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", j.path, err)
		}
		err = unix.Setns(fd, j.flag)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join namespace %s: %w", j.path, err)
		}
	}
	if f.exec {
		return f.setupExec(proc, onCaller)
	}
	pid, err := f.fork()
	if err != nil {
		return fmt.Errorf("start init: %w", err)
	}
	*proc = &Process{Pid: pid}
	// Still in this process's mount namespace: the cgroup files are
	// ours to write from here.
	if err := f.afterFork(pid); err != nil {
		return err
	}
	if f.newCgroupNS {
		req := childRequest{Op: opUnshare, Flags: unix.CLONE_NEWCGROUP}
		if err := f.request(&req, nil); err != nil {
			return fmt.Errorf("new cgroup namespace: %w", err)
		}
	}
	if err := f.joinChild(pid); err != nil {
		return err
	}
	if f.cloneflags&unix.CLONE_NEWNET != 0 {
		if err := netns.LoopbackUp(); err != nil {
			return err
		}
	}
	if err := prepareRootfs(f.cfg); err != nil {
		return err
	}
	if f.hooks != nil {
		// Hooks run in this process's namespaces, which this thread
		// has left.
		if err := onCaller(func() error { return f.hooks(pid) }); err != nil {
			return err
		}
	}
	if err := enterRootfs(f.cfg); err != nil {
		return err
	}
	if err := f.console(true); err != nil {
		return err
	}
	if err := finishRootfs(f.spec); err != nil {
		return err
	}
	return f.finish()
}

// setupExec forks a process into a running container: this thread has
// joined its namespaces but the mount namespace, which it joins now for
// the child to inherit.
func (f *forkedInit) setupExec(proc **Process, onCaller func(func() error) error) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Setns(int(f.mountNS.Fd()), unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join the container's mount namespace: %w", err)
	}
	pid, err := f.fork()
	if err != nil {
		return fmt.Errorf("start exec init: %w", err)
	}
	*proc = &Process{Pid: pid}
	// The cgroup files are seen from this process's mount namespace.
	if err := onCaller(func() error { return f.afterFork(pid) }); err != nil {
		return err
	}
	if err := f.console(false); err != nil {
		return err
	}
	return f.finish()
}

// console, with a console socket, opens a pty in the devpts of this
// thread's root, sends the master to the socket and the slave to the
// child, which makes it its stdio and controlling terminal.
func (f *forkedInit) console(mountConsole bool) error {
	if f.consoleSock == nil {
		return nil
	}
	slave, err := openConsole(f.consoleSock, f.spec.Process, mountConsole)
	if err != nil {
		return err
	}
	err = f.request(&childRequest{Op: opConsole}, unix.UnixRights(slave))
	unix.Close(slave)
	if err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

func (f *forkedInit) joinsHere() []nsJoin {
	if f.remote != nil {
		return nil
	}
	return f.joins
}

// fork forks the child, here or in the remote process.
func (f *forkedInit) fork() (int, error) {
	var pid int
	var err error
	if f.remote != nil {
		req := &ForkRequest{Cloneflags: f.cloneflags, Plan: f.ps, Sync: f.syncChild, Fifo: f.fifo}
		for _, j := range f.joins {
			req.Joins = append(req.Joins, ForkJoin{Path: j.path, Flag: j.flag})
		}
		pid, err = f.remote(req)
	} else {
		pid, err = forkBlocked(f.cloneflags, f.plan)
	}
	if err != nil {
		return 0, err
	}
	if f.forked != nil {
		f.forked()
	}
	return pid, nil
}

// forkBlocked forks the child with every signal blocked on this thread:
// the child must not run a Go signal handler before it resets them.
func forkBlocked(cloneflags uintptr, p *childPlan) (int, error) {
	all, old := ^uint64(0), uint64(0)
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return 0, fmt.Errorf("block signals: %w", e)
	}
	pid, e := forkChild(cloneflags, p)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("fork: %w", e)
	}
	return pid, nil
}

// ForkRequest asks a process other than the runtime to fork a container's
// init (CreateOptions.Fork), which then is that process's child: a shim
// that reaps it. The runtime does everything else, around the child.
type ForkRequest struct {
	Cloneflags uintptr
	Joins      []ForkJoin // namespaces the forking thread joins first
	Plan       *PlanSpec
	Sync       *os.File // the child's end of the sync socket
	Fifo       *os.File // O_PATH descriptor of the exec fifo
}

// ForkJoin is an existing namespace the child is forked into.
type ForkJoin struct {
	Path string
	Flag int
}

// ForkInit forks the init that req describes and returns its pid: it runs
// in the process that is to be the init's parent. stdio become the
// init's 0, 1 and 2 (/dev/null for nil ones); with a terminal, the runtime
// replaces them with the pty.
func ForkInit(req *ForkRequest, stdio [3]*os.File) (int, error) {
	if req.Plan == nil || req.Sync == nil || req.Fifo == nil {
		return 0, errors.New("fork request without its plan, sync socket or exec fifo")
	}
	p := req.Plan.build()
	var keep []*os.File
	defer func() {
		for _, k := range keep {
			k.Close()
		}
	}()
	if err := childFds(p, 0, stdio, req.Sync, req.Fifo, &keep); err != nil {
		return 0, err
	}
	joins := make([]nsJoin, len(req.Joins))
	for i, j := range req.Joins {
		joins[i] = nsJoin{path: j.Path, flag: j.Flag}
	}
	pid, err := onJoinedThread(joins, func() (int, error) { return forkBlocked(req.Cloneflags, p) })
	runtime.KeepAlive(p)
	return pid, err
}

// onJoinedThread runs fork on a locked thread that first joined joins, so
// that the child starts inside them. The thread then goes back to its own
// namespaces and is unlocked: a new thread would cost the next goroutine
// a clone. One that cannot go back (or joined a namespace it cannot
// leave, a user namespace) stays locked and dies with its goroutine.
func onJoinedThread(joins []nsJoin, fork func() (int, error)) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		back, err := joinForFork(joins)
		if err != nil {
			done <- result{err: err}
			return
		}
		pid, err := fork()
		if back() {
			runtime.UnlockOSThread()
		}
		done <- result{pid, err}
	}()
	r := <-done
	return r.pid, r.err
}

// nsNames names the namespaces a fork may join, by clone flag.
var nsNames = table[int, string]{
	{unix.CLONE_NEWNET, "net"}, {unix.CLONE_NEWIPC, "ipc"}, {unix.CLONE_NEWUTS, "uts"},
	{unix.CLONE_NEWPID, "pid"}, {unix.CLONE_NEWCGROUP, "cgroup"},
}

// joinForFork moves the calling, locked thread into joins, for a child
// forked from it to inherit them, and returns how to take it back: back
// reports whether the thread is in its own namespaces again.
func joinForFork(joins []nsJoin) (back func() bool, err error) {
	type saved struct{ fd, flag int }
	var orig []saved // the thread's own namespaces, opened before leaving them
	reusable := true
	back = func() bool {
		ok := reusable
		for i := len(orig) - 1; i >= 0; i-- {
			if ok && unix.Setns(orig[i].fd, orig[i].flag) != nil {
				ok = false
			}
			unix.Close(orig[i].fd)
		}
		orig = nil
		return ok
	}
	for _, j := range joins {
		if name, known := nsNames.get(j.flag); !known {
			reusable = false // no way back from it (a user namespace, say)
		} else if fd, err := unix.Open("/proc/thread-self/ns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			reusable = false
		} else {
			orig = append(orig, saved{fd, j.flag})
		}
		fd, err := unix.Open(j.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, j.flag)
			unix.Close(fd)
		}
		if err != nil {
			reusable = false
			back()
			return nil, fmt.Errorf("join namespace %s: %w", j.path, err)
		}
	}
	return back, nil
}

// joinChild moves this thread into the child's namespaces, the mount
// namespace last (it needs a private fs struct, and changes the root).
func (f *forkedInit) joinChild(pid int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	for _, ns := range [...]struct {
		name string
		flag int
	}{{"net", unix.CLONE_NEWNET}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"cgroup", unix.CLONE_NEWCGROUP}, {"mnt", unix.CLONE_NEWNS}} {
		path := "/proc/" + strconv.Itoa(pid) + "/ns/" + ns.name
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) && ns.name == "cgroup" {
				continue // kernels without cgroup namespaces
			}
			return fmt.Errorf("open %s: %w", path, err)
		}
		err = unix.Setns(fd, ns.flag)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("join the init's %s namespace: %w", ns.name, err)
		}
	}
	return nil
}

// mountInChild mounts through the child: proc takes the pid namespace of
// the process that mounts it.
func (f *forkedInit) mountInChild(source, target, fstype string, flags uintptr, data string) error {
	var req childRequest
	err := encodeMount(&req, source, target, fstype, flags, data)
	if err == nil {
		err = f.request(&req, nil)
	}
	if err != nil {
		return &os.PathError{Op: fmt.Sprintf("mount %s (type %q, flags %#x, data %q) on", source, fstype, flags, data), Path: target, Err: err}
	}
	return nil
}

// encodeMount fills req with a mount request; empty data is passed as
// NULL, as unix.Mount does.
func encodeMount(req *childRequest, source, target, fstype string, flags uintptr, data string) error {
	req.Op, req.Flags = opMount, uint64(flags)
	n := 0
	for i, s := range [4]string{source, target, fstype, data} {
		if i == 3 && s == "" {
			req.Off[i] = noString
			continue
		}
		if n+len(s)+1 > len(req.Data) {
			return unix.ENAMETOOLONG
		}
		req.Off[i] = uint32(n)
		n += copy(req.Data[n:], s)
		req.Data[n] = 0
		n++
	}
	req.Len = uint32(n)
	return nil
}

// request sends req (with fds in rights) and waits for the reply; a
// failed reply is returned as its errno.
func (f *forkedInit) request(req *childRequest, rights []byte) error {
	r, err := f.exchange(req, rights)
	if err != nil {
		return err
	}
	if r.Step != stepOK {
		if r.Step != stepRequest {
			return f.stepError(r)
		}
		return syscall.Errno(r.Errno)
	}
	return nil
}

func (f *forkedInit) exchange(req *childRequest, rights []byte) (childReply, error) {
	var r childReply
	size := int(unsafe.Offsetof(req.Data)) + int(req.Len)
	b := unsafe.Slice((*byte)(unsafe.Pointer(req)), size)
	if err := unix.Sendmsg(int(f.sock.Fd()), b, rights, nil, 0); err != nil {
		return r, fmt.Errorf("init: send: %w", err)
	}
	rb := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	n, err := unix.Read(int(f.sock.Fd()), rb)
	if err != nil {
		return r, fmt.Errorf("init: receive: %w", err)
	}
	if n != len(rb) {
		return r, errors.New("init exited without a reply")
	}
	return r, nil
}

// finish asks the child to apply the plan; its reply tells whether the
// container is created.
func (f *forkedInit) finish() error {
	r, err := f.exchange(&childRequest{Op: opFinish}, nil)
	if err != nil {
		return err
	}
	if r.Step != stepOK {
		return f.stepError(r)
	}
	return nil
}

// stepError turns a failed step of the child into the error the
// re-executed init reports for the same failure.
func (f *forkedInit) stepError(r childReply) error {
	p := f.spec.Process
	e := syscall.Errno(r.Errno)
	i := int(r.Index)
	switch r.Step {
	case stepStdio:
		return fmt.Errorf("init: stdio: %w", e)
	case stepPreserve:
		return fmt.Errorf("init: preserved fd %d: %w", i, e)
	case stepRlimit:
		rl := p.Rlimits[i]
		if e == unix.EPERM {
			return fmt.Errorf("set %s to %d/%d (raising a hard limit needs CAP_SYS_RESOURCE): %w", rl.Type, rl.Soft, rl.Hard, e)
		}
		return fmt.Errorf("set %s to %d/%d: %w", rl.Type, rl.Soft, rl.Hard, e)
	case stepNoNewPrivs:
		return fmt.Errorf("set no_new_privs: %w", e)
	case stepSeccomp:
		return fmt.Errorf("seccomp: load filter of %d instructions (flags %#x): %w", f.plan.seccompProg.Len, f.plan.seccompFlags, e)
	case stepBounding:
		return fmt.Errorf("drop %s from bounding set: %w", caps.Names()[f.plan.capDrop[i]], e)
	case stepKeepCaps, stepClearKeepCaps:
		return fmt.Errorf("keep capabilities: %w", e)
	case stepSetgroups:
		return fmt.Errorf("setgroups %v: %w", p.User.AdditionalGids, e)
	case stepSetgid:
		return fmt.Errorf("setgid %d: %w", p.User.GID, e)
	case stepSetuid:
		return fmt.Errorf("setuid %d: %w", p.User.UID, e)
	case stepCapset:
		return fmt.Errorf("capset: %w", e)
	case stepAmbientClear:
		return fmt.Errorf("clear ambient capabilities: %w", e)
	case stepAmbient:
		return fmt.Errorf("raise ambient %s: %w", caps.Names()[f.plan.ambient[i]], e)
	case stepCwd:
		return fmt.Errorf("chdir to cwd %q: %w", p.Cwd, e)
	case stepExecStat:
		return fmt.Errorf("exec %q: %w", cstringValue(f.plan.paths[i]), e)
	case stepExecDir:
		return fmt.Errorf("exec %q: is a directory", cstringValue(f.plan.paths[i]))
	case stepExecAccess:
		return fmt.Errorf("exec %q: not executable: %w", cstringValue(f.plan.paths[i]), e)
	case stepExecMissing:
		return fmt.Errorf("exec %q: executable file not found in $PATH", p.Args[0])
	case stepSignals:
		return fmt.Errorf("reset handler of signal %d: %w", i, e)
	case stepCloseRange:
		return fmt.Errorf("close-on-exec runtime fds: %w", e)
	}
	return fmt.Errorf("init: step %d: %w", r.Step, e)
}

// makePlan prepares what the child applies to itself.
func (f *forkedInit) makePlan() (*childPlan, error) {
	ps, err := f.planSpec()
	if err != nil {
		return nil, err
	}
	f.ps = ps
	return ps.build(), nil
}

// PlanSpec is a child's plan in a form that crosses a socket: what the
// runtime derives from the spec, without the descriptors and signal
// dispositions of the process that forks (ForkInit adds those).
type PlanSpec struct {
	Setsid       bool
	Rlimits      []PlanRlimit
	Umask        uint32
	NoNewPrivs   bool
	SeccompEarly bool
	SeccompLate  bool
	SeccompFlags uint32
	// Seccomp is the filter, one instruction per element: code << 48 |
	// jt << 40 | jf << 32 | k.
	Seccomp []uint64
	SetCaps bool
	CapDrop []uint32
	Caps    [2]unix.CapUserData
	Ambient []uint32
	Groups  []uint32
	UID     uint32
	GID     uint32
	Cwd     string
	Paths   []string // candidates for the executable, in $PATH order
	Search  bool
	Argv    []string
	Env     []string
}

// PlanRlimit is one rlimit of a PlanSpec.
type PlanRlimit struct {
	Resource   uint32
	Soft, Hard uint64
}

func (f *forkedInit) planSpec() (*PlanSpec, error) {
	s, proc := f.spec, f.spec.Process
	ps := &PlanSpec{UID: proc.User.UID, GID: proc.User.GID, Umask: 0o022, Setsid: !f.exec || f.consoleSock != nil}
	for _, r := range proc.Rlimits {
		res, ok := ocispec.Rlimit(r.Type)
		if !ok {
			return nil, fmt.Errorf("rlimit %q: unknown", r.Type)
		}
		ps.Rlimits = append(ps.Rlimits, PlanRlimit{Resource: uint32(res), Soft: r.Soft, Hard: r.Hard})
	}
	if proc.User.Umask != nil {
		ps.Umask = *proc.User.Umask
	}
	ps.NoNewPrivs = proc.NoNewPrivileges
	if sec := s.Linux.Seccomp; sec != nil {
		prog, flags, err := seccomp.Prepare(sec)
		if err != nil {
			return nil, fmt.Errorf("seccomp: %w", err)
		}
		if len(prog) > 0 {
			ps.Seccomp = make([]uint64, len(prog))
			for i, in := range prog {
				ps.Seccomp[i] = uint64(in.Code)<<48 | uint64(in.Jt)<<40 | uint64(in.Jf)<<32 | uint64(in.K)
			}
			ps.SeccompFlags = uint32(flags)
			// Without no_new_privs, seccomp needs CAP_SYS_ADMIN, which
			// the user change may drop: load the filter first.
			ps.SeccompEarly, ps.SeccompLate = !proc.NoNewPrivileges, proc.NoNewPrivileges
		}
	}
	if c := proc.Capabilities; c != nil {
		ps.SetCaps = true
		keep := caps.Of(c.Bounding)
		for i := 0; i <= caps.Last(); i++ {
			if keep&(1<<uint(i)) == 0 {
				ps.CapDrop = append(ps.CapDrop, uint32(i))
			}
		}
		eff, perm, inh := caps.Of(c.Effective), caps.Of(c.Permitted), caps.Of(c.Inheritable)
		ps.Caps = [2]unix.CapUserData{
			{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
			{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
		}
		amb := caps.Of(c.Ambient)
		for i := 0; i <= caps.Last(); i++ {
			if amb&(1<<uint(i)) != 0 {
				ps.Ambient = append(ps.Ambient, uint32(i))
			}
		}
	}
	ps.Groups = append([]uint32(nil), proc.User.AdditionalGids...)
	ps.Cwd = proc.Cwd
	if ps.Cwd == "" {
		ps.Cwd = "/"
	}
	ps.Search = !strings.Contains(proc.Args[0], "/")
	ps.Paths = execCandidates(proc.Args[0], proc.Env)
	ps.Argv = proc.Args
	ps.Env = proc.Env
	return ps, nil
}

// build makes the plan the child reads, in this process's memory; the
// descriptors are the caller's to fill in.
func (ps *PlanSpec) build() *childPlan {
	p := &childPlan{setsid: ps.Setsid, uid: uintptr(ps.UID), gid: uintptr(ps.GID), umask: uintptr(ps.Umask)}
	for _, r := range ps.Rlimits {
		p.rlimits = append(p.rlimits, childRlimit{resource: uintptr(r.Resource), limit: [2]uint64{r.Soft, r.Hard}})
	}
	p.noNewPrivs = ps.NoNewPrivs
	if len(ps.Seccomp) > 0 {
		prog := make([]unix.SockFilter, len(ps.Seccomp))
		for i, in := range ps.Seccomp {
			prog[i] = unix.SockFilter{Code: uint16(in >> 48), Jt: uint8(in >> 40), Jf: uint8(in >> 32), K: uint32(in)}
		}
		p.seccompProg = unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		p.seccompFlags = uintptr(ps.SeccompFlags)
		p.seccompEarly, p.seccompLate = ps.SeccompEarly, ps.SeccompLate
	}
	if ps.SetCaps {
		p.setCaps = true
		for _, c := range ps.CapDrop {
			p.capDrop = append(p.capDrop, uintptr(c))
		}
		p.capHeader = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		p.capData = ps.Caps
		for _, c := range ps.Ambient {
			p.ambient = append(p.ambient, uintptr(c))
		}
	}
	p.groups = ps.Groups
	p.cwd = cstring(ps.Cwd)
	p.search = ps.Search
	for _, c := range ps.Paths {
		p.paths = append(p.paths, cstring(c))
	}
	p.argv = cstrings(ps.Argv)
	p.envp = cstrings(ps.Env)
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) || signal.Ignored(syscall.Signal(sig)) {
			continue
		}
		p.resetSigs = append(p.resetSigs, uintptr(sig))
	}
	if len(ps.Argv) > 0 {
		p.execFailed = []byte("petrel-runtime init: exec " + strconv.Quote(ps.Argv[0]) + " failed: errno ")
	}
	p.iov.Base = (*byte)(unsafe.Pointer(&p.req))
	p.iov.SetLen(int(unsafe.Sizeof(p.req)))
	p.msg.Iov = &p.iov
	p.msg.SetIovlen(1)
	p.msg.Control = &p.oob[0]
	p.msg.SetControllen(len(p.oob))
	return p
}

// execCandidates lists the paths execvp would try for name, in order.
func execCandidates(name string, env []string) []string {
	if strings.Contains(name, "/") {
		return []string{name}
	}
	pathEnv := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	var out []string
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		out = append(out, filepath.Join(dir, name))
	}
	return out
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func cstring(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}

func cstrings(list []string) []*byte {
	out := make([]*byte, 0, len(list)+1)
	for _, s := range list {
		out = append(out, cstring(s))
	}
	return append(out, nil)
}

func cstringValue(p *byte) string {
	return unix.BytePtrToString(p)
}
