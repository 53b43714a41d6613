package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/oci/cgroups"
	"github.com/petrel-edge/petrel/oci/seccomp"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

// CreateOptions are the inputs of Create, as runc's create flags.
type CreateOptions struct {
	Root   string // state root, one directory per container
	ID     string
	Bundle string
	// ConsoleSocket is the path of a unix socket that receives the pty
	// master when process.terminal is true; ConsoleConn is an already
	// connected socket used instead (run in the foreground).
	ConsoleSocket string
	ConsoleConn   *os.File
	PidFile       string
	NoPivot       bool
	PreserveFDs   int // fds 3 .. 3+n-1 are passed to the process
	Stdin         *os.File
	Stdout        *os.File
	Stderr        *os.File
	// Spec and SpecJSON are the bundle's config.json, decoded and as read,
	// when the caller has loaded it already (spec.LoadRaw); nil loads it
	// here.
	Spec     *specs.Spec
	SpecJSON []byte
	// Warn receives non-fatal problems (a refused oom_score_adj, a failed
	// poststart hook); nil drops them.
	Warn func(string)
	// Fork, when set, has another process fork the init, with ForkInit:
	// the one that is to reap it (a shim started ahead, which then
	// has no spec to decode and no set-up garbage). Create does the rest
	// from here. Stdin, Stdout and Stderr are then the forking process's
	// to give, and only the forked init can be made so
	// (RemoteForkRefusal).
	Fork func(*ForkRequest) (int, error)
}

// RemoteForkRefusal returns why CreateOptions.Fork cannot create s, or "".
func RemoteForkRefusal(s *specs.Spec) string {
	if s.Linux == nil {
		return "no linux section"
	}
	var flags uintptr
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" && ns.Type != specs.CgroupNamespace {
			flags |= cloneFlags.val(ns.Type)
		}
	}
	return forkedInitRefusal(s, flags, false)
}

// cloneFlags maps namespace types created by clone(2).
var cloneFlags = table[specs.LinuxNamespaceType, uintptr]{
	{specs.PIDNamespace, unix.CLONE_NEWPID},
	{specs.NetworkNamespace, unix.CLONE_NEWNET},
	{specs.MountNamespace, unix.CLONE_NEWNS},
	{specs.IPCNamespace, unix.CLONE_NEWIPC},
	{specs.UTSNamespace, unix.CLONE_NEWUTS},
	{specs.UserNamespace, unix.CLONE_NEWUSER},
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP},
}

// Create sets up a container from a bundle and leaves its init waiting on
// the exec fifo, as `runc create` does. On any failure it removes what it
// made: the init, the cgroup, the state directory.
func Create(opts CreateOptions) (c *Container, err error) {
	if err := ValidateID(opts.ID); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(opts.Bundle)
	if err != nil {
		return nil, err
	}
	s, raw := opts.Spec, opts.SpecJSON
	if s == nil || raw == nil {
		if s, raw, err = ocispec.LoadRaw(bundle); err != nil {
			return nil, err
		}
	}
	if s.Linux == nil {
		return nil, errors.New("config.json has no linux section")
	}
	// A config without a process can be created; start then fails, as the
	// runtime-spec says. An empty process stands in for the checks below.
	process := s.Process
	if process == nil {
		process = &specs.Process{}
	}
	if err := validateSched(process, s.Linux); err != nil {
		return nil, err
	}
	if s.Linux.Seccomp != nil {
		if err := seccomp.Validate(s.Linux.Seccomp); err != nil {
			return nil, fmt.Errorf("linux.seccomp: %w", err)
		}
		if usesNotify(s.Linux.Seccomp) {
			return nil, errors.New("linux.seccomp: SCMP_ACT_NOTIFY (seccomp agents) is not supported")
		}
	}
	var cloneflags uintptr
	var joins []nsJoin
	mountNS, newCgroupNS := false, false
	mountNSPath := ""
	for _, ns := range s.Linux.Namespaces {
		switch {
		case ns.Type == specs.TimeNamespace:
			return nil, errors.New("linux.namespaces: time namespaces are not supported")
		case ns.Type == specs.MountNamespace:
			mountNS = true
			if ns.Path != "" {
				mountNSPath = ns.Path
			} else {
				cloneflags |= unix.CLONE_NEWNS
			}
		case ns.Path != "" && ns.Type == specs.UserNamespace:
			return nil, errors.New("linux.namespaces: joining an existing user namespace is not supported")
		case ns.Path != "":
			joins = append(joins, nsJoin{path: ns.Path, flag: int(cloneFlags.val(ns.Type))})
		case ns.Type == specs.CgroupNamespace:
			newCgroupNS = true // unshared by init once it is in its cgroup
		default:
			cloneflags |= cloneFlags.val(ns.Type)
		}
	}
	if (s.Hostname != "" || s.Domainname != "") && !hasNamespace(s, specs.UTSNamespace) {
		return nil, errors.New("hostname/domainname need a uts namespace: the host's would change")
	}
	if process.Terminal && opts.ConsoleSocket == "" && opts.ConsoleConn == nil {
		return nil, errors.New("process.terminal is true: a --console-socket is required")
	}
	if !process.Terminal && (opts.ConsoleSocket != "" || opts.ConsoleConn != nil) {
		return nil, errors.New("--console-socket given but process.terminal is false")
	}

	if err := os.MkdirAll(opts.Root, 0o711); err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	dir := filepath.Join(opts.Root, opts.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("container %s: %w", opts.ID, ErrExist)
		}
		return nil, fmt.Errorf("state dir: %w", err)
	}
	c = &Container{ID: opts.ID, Bundle: bundle, Rootfs: ocispec.RootfsPath(s, bundle), Annotations: s.Annotations, spec: s, specJSON: raw, Created: time.Now().UTC(), dir: dir}
	var proc *Process
	var cg *cgroups.Manager
	defer func() {
		if err == nil {
			return
		}
		if proc != nil {
			proc.killAndWait()
		}
		if cg != nil {
			cg.Destroy()
		}
		if !mountNS {
			unmountUnder(c.Rootfs)
		}
		os.RemoveAll(dir)
	}()

	fifo := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifo, 0o622); err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	// The init opens it as the container's root, which in a user
	// namespace is another host user.
	if err := os.Chmod(fifo, 0o622); err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	cg, err = cgroups.New(s.Linux.CgroupsPath, opts.ID)
	if err != nil {
		return nil, err
	}

	// What the runtime does around the init in its own namespaces: the
	// cgroups and oom_score_adj once the init exists, and the prestart
	// and createRuntime hooks once its mounts are made. The hooks see the
	// container as created: its namespaces exist and its pid is known
	// (the validation suite and crun agree).
	// The cgroups are made and their limits set before the init exists
	// (while a shim that forks it is still starting, say): joining them
	// is then one write per hierarchy.
	if err := cg.Apply(0); err != nil {
		return nil, err
	}
	if r := s.Linux.Resources; r != nil || len(s.Linux.Devices) > 0 {
		if err := cg.Set(withDefaultDevices(r, s.Linux.Devices)); err != nil {
			return nil, err
		}
	}
	joinCgroups := func(pid int) error {
		if err := cg.Apply(pid); err != nil {
			return err
		}
		c.CgroupPaths = cg.Paths()
		if adj := process.OOMScoreAdj; adj != nil {
			if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.Itoa(*adj)), 0); err != nil {
				if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
					return fmt.Errorf("oom_score_adj: %w", err)
				}
				warn(opts.Warn, fmt.Sprintf("oom_score_adj %d refused (needs CAP_SYS_RESOURCE): %v", *adj, err))
			}
		}
		return nil
	}
	createHooks := func(pid int) (*specs.State, error) {
		state := &specs.State{Version: specs.Version, ID: opts.ID, Status: Created, Pid: pid, Bundle: bundle, Annotations: s.Annotations}
		if s.Hooks != nil {
			if err := runHooks("prestart", s.Hooks.Prestart, state); err != nil {
				return nil, err
			}
			if err := runHooks("createRuntime", s.Hooks.CreateRuntime, state); err != nil {
				return nil, err
			}
		}
		return state, nil
	}
	console, err := consoleConn(opts.ConsoleSocket, opts.ConsoleConn)
	if err != nil {
		return nil, err
	}
	if console != nil {
		defer console.Close()
	}
	// The init opens the fifo through an O_PATH fd (as /proc/self/fd/N),
	// which needs no search permission on the state directory: a user
	// namespace's root may have none.
	fifoPath, err := os.OpenFile(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("exec fifo: %w", err)
	}
	defer fifoPath.Close()
	refusal := forkedInitRefusal(s, cloneflags, opts.NoPivot)
	if opts.Fork != nil && refusal != "" {
		return nil, fmt.Errorf("the init cannot be forked by another process (%s)", refusal)
	}
	if refusal == "" {
		var f *forkedInit
		f = &forkedInit{
			spec: s, cloneflags: cloneflags, joins: joins, newCgroupNS: newCgroupNS,
			cfg:      &initConfig{ID: opts.ID, Spec: s, Process: s.Process, Rootfs: c.Rootfs, Bundle: bundle, NewCgroupNS: newCgroupNS},
			stdio:    [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr},
			preserve: opts.PreserveFDs, consoleSock: console, fifo: fifoPath, remote: opts.Fork,
			afterFork: func(pid int) error {
				if err := joinCgroups(pid); err != nil {
					return err
				}
				f.cfg.CgroupPaths = c.CgroupPaths
				return nil
			},
		}
		if s.Hooks != nil && len(s.Hooks.Prestart)+len(s.Hooks.CreateRuntime) > 0 {
			f.hooks = func(pid int) error {
				_, err := createHooks(pid)
				return err
			}
		}
		f.cfg.mountInChild = f.mountInChild
		proc, err = f.start()
		if err != nil {
			return nil, err
		}
	} else if proc, err = c.startExecInit(opts, s, raw, cloneflags, joins, mountNSPath, newCgroupNS, !mountNS, console, fifoPath, joinCgroups, createHooks); err != nil {
		return nil, err
	}
	pid := proc.Pid
	c.Pid = pid
	c.PidStart, _, _ = procStart(pid)
	if err := c.saveSpec(); err != nil {
		return nil, err
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, pid); err != nil {
			return nil, err
		}
	}
	c.proc = proc
	return c, nil
}

// startExecInit starts the init by re-executing this binary
// ("petrel-runtime init"), which sets the container up from inside; see
// sync.go for the protocol. The returned process is non-nil once the init
// exists, even on error.
func (c *Container) startExecInit(opts CreateOptions, s *specs.Spec, raw []byte, cloneflags uintptr, joins []nsJoin, mountNSPath string, newCgroupNS, noMountNS bool,
	console, fifoPath *os.File, joinCgroups func(int) error, createHooks func(int) (*specs.State, error)) (*Process, error) {
	parentSock, childSock, err := socketpair()
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()
	defer childSock.Close()

	cmd := &initCmd{
		stdio: [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr},
		sys:   syscall.SysProcAttr{Cloneflags: cloneflags, Setsid: true},
	}
	for i := 0; i < opts.PreserveFDs; i++ {
		cmd.addFile(os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	cmd.env = []string{"GOMAXPROCS=1", "PETREL_SYNC_FD=" + strconv.Itoa(cmd.addFile(childSock))}
	if console != nil {
		cmd.env = append(cmd.env, "PETREL_CONSOLE_FD="+strconv.Itoa(cmd.addFile(console)))
	}
	fifoFd := cmd.addFile(fifoPath)
	mountNSFd := 0
	if mountNSPath != "" {
		f, err := os.Open(mountNSPath)
		if err != nil {
			return nil, fmt.Errorf("mount namespace: %w", err)
		}
		defer f.Close()
		mountNSFd = cmd.addFile(f)
	}
	if cloneflags&unix.CLONE_NEWUSER != 0 {
		for _, m := range s.Linux.UIDMappings {
			cmd.sys.UidMappings = append(cmd.sys.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		for _, m := range s.Linux.GIDMappings {
			cmd.sys.GidMappings = append(cmd.sys.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
		}
		cmd.sys.GidMappingsEnableSetgroups = true
		// Our host uid is unmapped in the new namespace; become its root
		// before exec, or exec drops every capability.
		cmd.sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	proc, err := cmd.start(joins)
	if err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	childSock.Close()
	if err := joinCgroups(proc.Pid); err != nil {
		return proc, err
	}
	sc := newSyncConn(parentSock)
	cfg := &initConfig{
		ID: opts.ID, SpecJSON: raw, Rootfs: c.Rootfs, Bundle: c.Bundle, FifoFd: fifoFd,
		NoPivot: opts.NoPivot, Console: console != nil, CgroupPaths: c.CgroupPaths, NewCgroupNS: newCgroupNS, MountNSFd: mountNSFd,
		NoMountNS: noMountNS, NewNet: cloneflags&unix.CLONE_NEWNET != 0,
	}
	if err := sc.send(syncMsg{Type: msgConfig, Config: cfg}); err != nil {
		return proc, err
	}
	if _, err := sc.recv(msgHooks); err != nil {
		return proc, err
	}
	state, err := createHooks(proc.Pid)
	if err != nil {
		return proc, err
	}
	if err := sc.send(syncMsg{Type: msgHooksDone, State: state}); err != nil {
		return proc, err
	}
	if _, err := sc.recv(msgReady); err != nil {
		return proc, err
	}
	return proc, nil
}

func warn(f func(string), msg string) {
	if f != nil {
		f(msg)
	}
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return atomicfile.WriteFileVolatile(abs, []byte(strconv.Itoa(pid)), 0o644)
}

func socketpair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

type nsJoin struct {
	path string
	flag int
}

func i64(v int64) *int64 { return &v }

// withDefaultDevices returns a copy of r whose device rules also allow the
// default devices and the spec's device nodes, when r restricts devices.
func withDefaultDevices(r *specs.LinuxResources, devs []specs.LinuxDevice) *specs.LinuxResources {
	var out specs.LinuxResources
	if r != nil {
		out = *r
	}
	if len(out.Devices) == 0 {
		return &out
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), out.Devices...)
	rules = append(rules, cgroups.AllowedDevices()...)
	for _, d := range devs {
		t := d.Type
		if t == "u" {
			t = "c"
		}
		if t == "p" {
			continue
		}
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: t, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm"})
	}
	out.Devices = rules
	return &out
}

func usesNotify(s *specs.LinuxSeccomp) bool {
	if s.DefaultAction == specs.ActNotify {
		return true
	}
	for _, sc := range s.Syscalls {
		if sc.Action == specs.ActNotify {
			return true
		}
	}
	return false
}
