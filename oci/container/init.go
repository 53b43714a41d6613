package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/net/netns"
	"github.com/petrel-edge/petrel/oci/caps"
	"github.com/petrel-edge/petrel/oci/seccomp"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

// Init is the container side of Create and Exec: the re-executed binary
// ("petrel-runtime init") calls it on its main goroutine. It returns only
// on failure, after reporting the error to the runtime.
func Init() int {
	runtime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv("PETREL_SYNC_FD"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "petrel-runtime init: not started by petrel-runtime")
		return 2
	}
	// fds 3 .. fd-1 are the preserved ones (--preserve-fds); everything
	// from the sync socket up is ours, or leaked into the runtime by its
	// caller, and must not reach the container's process.
	closeOnExecFrom(fd)
	f := os.NewFile(uintptr(fd), "sync")
	sc := newSyncConn(f)
	if err := initProcess(sc); err != nil {
		// Past msgReady the runtime is gone: stderr is all that is left.
		if sc.send(syncMsg{Type: msgError, Error: err.Error()}) != nil {
			fmt.Fprintf(os.Stderr, "petrel-runtime init: %v\n", err)
		}
		return 1
	}
	return 0 // not reached: initProcess execs
}

func initProcess(sc *syncConn) error {
	m, err := sc.recv(msgConfig)
	if err != nil {
		return err
	}
	cfg := m.Config
	if cfg == nil || (cfg.Exec && cfg.Process == nil) {
		return errors.New("init: empty configuration")
	}
	cfg.Spec = new(specs.Spec)
	if err := json.Unmarshal(cfg.SpecJSON, cfg.Spec); err != nil {
		return fmt.Errorf("init: configuration: %w", err)
	}
	if !cfg.Exec {
		cfg.Process = cfg.Spec.Process
	}
	var console *os.File
	if cfg.Console {
		cfd, err := strconv.Atoi(os.Getenv("PETREL_CONSOLE_FD"))
		if err != nil {
			return errors.New("init: console fd missing")
		}
		unix.CloseOnExec(cfd)
		console = os.NewFile(uintptr(cfd), "console-socket")
	}
	os.Clearenv()
	if cfg.MountNSFd > 0 {
		unix.CloseOnExec(cfg.MountNSFd)
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare fs: %w", err)
		}
		if err := unix.Setns(cfg.MountNSFd, unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("join mount namespace: %w", err)
		}
	}
	if cfg.Exec {
		return initExec(sc, cfg, console)
	}
	return initContainer(sc, cfg, console)
}

func initContainer(sc *syncConn, cfg *initConfig, console *os.File) error {
	s := cfg.Spec
	// Block on the exec fifo in the background: the open, started before
	// pivot_root, completes when Start opens the fifo for reading.
	unix.CloseOnExec(cfg.FifoFd)
	fifoName := "/proc/self/fd/" + strconv.Itoa(cfg.FifoFd)
	if err := unix.Access(fifoName, unix.W_OK); err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	fifoc := make(chan *os.File, 1)
	fifoErr := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifoName, os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fifoErr <- fmt.Errorf("open exec fifo: %w", err)
			return
		}
		fifoc <- f
	}()

	if cfg.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("new cgroup namespace: %w", err)
		}
	}
	if cfg.NewNet {
		if err := netns.LoopbackUp(); err != nil {
			return err
		}
	}
	if err := prepareRootfs(cfg); err != nil {
		return err
	}
	if err := sc.send(syncMsg{Type: msgHooks}); err != nil {
		return err
	}
	m, err := sc.recv(msgHooksDone)
	if err != nil {
		return err
	}
	state := m.State
	if s.Hooks != nil && len(s.Hooks.CreateContainer) > 0 {
		if err := runHooks("createContainer", s.Hooks.CreateContainer, state); err != nil {
			return err
		}
	}
	if err := enterRootfs(cfg); err != nil {
		return err
	}
	if console != nil {
		if err := setupConsole(console, cfg.Process, true); err != nil {
			return err
		}
	}
	if err := finishRootfs(s); err != nil {
		return err
	}
	var path string
	if cfg.Process != nil {
		if err := applySched(cfg.Process, s.Linux); err != nil {
			return err
		}
		if path, err = prepareProcess(cfg.Process, s.Linux.Seccomp); err != nil {
			return err
		}
	}
	if err := sc.send(syncMsg{Type: msgReady}); err != nil {
		return err
	}
	var fifo *os.File
	select {
	case fifo = <-fifoc:
	case err := <-fifoErr:
		return err
	}
	if cfg.Process == nil {
		return errors.New("config.json has no process to start") // Start refuses first
	}
	if _, err := fifo.Write([]byte("0")); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	fifo.Close()
	if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
		state.Pid = os.Getpid()
		state.Status = Created
		if err := runHooks("startContainer", s.Hooks.StartContainer, state); err != nil {
			fmt.Fprintf(os.Stderr, "petrel-runtime: %v\n", err)
			os.Exit(1)
		}
	}
	return execProcess(path, cfg.Process)
}

// finishRootfs does what follows pivot_root in the container's mount
// namespace: the read-only root, hostname and domainname, sysctls, and the
// masked and read-only paths.
func finishRootfs(s *specs.Spec) error {
	if s.Root.Readonly {
		if err := remount("/", unix.MS_RDONLY|unix.MS_BIND); err != nil {
			return fmt.Errorf("read-only rootfs: %w", err)
		}
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("set domainname: %w", err)
		}
	}
	for k, v := range s.Linux.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	// After the sysctls: /proc/sys is usually one of the read-only paths.
	return maskPaths(s.Linux)
}

// initExec runs a process inside a running container: the runtime has
// already put this process in the container's namespaces (but the mount
// namespace, joined above) and cgroups.
func initExec(sc *syncConn, cfg *initConfig, console *os.File) error {
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if console != nil {
		if err := setupConsole(console, cfg.Process, false); err != nil {
			return err
		}
	}
	var sc2 *specs.LinuxSeccomp
	var linux *specs.Linux
	if cfg.Spec != nil && cfg.Spec.Linux != nil {
		linux = cfg.Spec.Linux
		sc2 = linux.Seccomp
	}
	if err := applySched(cfg.Process, linux); err != nil {
		return err
	}
	path, err := prepareProcess(cfg.Process, sc2)
	if err != nil {
		return err
	}
	if err := sc.send(syncMsg{Type: msgReady}); err != nil {
		return err
	}
	return execProcess(path, cfg.Process)
}

// prepareProcess applies the process attributes that must precede exec:
// rlimits, umask, no_new_privs, capabilities, the user, seccomp, and the
// working directory; it resolves the executable so that a missing one
// fails the create, not the start.
func prepareProcess(p *specs.Process, sec *specs.LinuxSeccomp) (string, error) {
	for _, r := range p.Rlimits {
		res, _ := ocispec.Rlimit(r.Type)
		if memoryLimit(res) {
			// Applied just before exec (execProcess): the Go runtime of
			// this init may still need address space. Check now that it
			// can be set.
			var cur unix.Rlimit
			if err := unix.Getrlimit(res, &cur); err == nil && r.Hard > cur.Max && !hasCap(capSysResource) {
				return "", fmt.Errorf("set %s to %d/%d: raising the hard limit %d needs CAP_SYS_RESOURCE: %w", r.Type, r.Soft, r.Hard, cur.Max, unix.EPERM)
			}
			continue
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return "", fmt.Errorf("set %s to %d/%d: %w", r.Type, r.Soft, r.Hard, err)
		}
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	} else {
		unix.Umask(0o022)
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	// Without no_new_privs, seccomp needs CAP_SYS_ADMIN, which the user
	// change may drop: load the filter first.
	if sec != nil && !p.NoNewPrivileges {
		if _, err := seccomp.Load(sec); err != nil {
			return "", fmt.Errorf("seccomp: %w", err)
		}
	}
	if p.Capabilities != nil {
		if err := caps.DropBounding(p.Capabilities); err != nil {
			return "", err
		}
	}
	if err := setUser(p); err != nil {
		return "", err
	}
	if p.Capabilities != nil {
		if err := caps.Apply(p.Capabilities); err != nil {
			return "", err
		}
	}
	if err := os.Chdir(p.Cwd); err != nil {
		return "", fmt.Errorf("chdir to cwd %q: %w", p.Cwd, err)
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return "", err
	}
	if sec != nil && p.NoNewPrivileges {
		if _, err := seccomp.Load(sec); err != nil {
			return "", fmt.Errorf("seccomp: %w", err)
		}
	}
	return path, nil
}

// setUser switches the calling thread to the process user. Only this
// thread changes: it is the one that execs.
func setUser(p *specs.Process) error {
	u := p.User
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities: %w", err)
	}
	groups := make([]uint32, len(u.AdditionalGids))
	copy(groups, u.AdditionalGids)
	if err := setgroups(groups); err != nil {
		// Without setgroups (a user namespace with setgroups denied) an
		// empty list is fine.
		if !(errors.Is(err, unix.EPERM) && len(groups) == 0) {
			return fmt.Errorf("setgroups %v: %w", groups, err)
		}
	}
	if _, _, e := unix.RawSyscall(sysSetresgid, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(sysSetresuid, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("reset keep capabilities: %w", err)
	}
	return nil
}

// lookPath finds the executable as execvp would with the process's PATH,
// and checks it is executable by the current user.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", fmt.Errorf("exec %q: %w", name, err)
		}
		return name, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	var firstErr error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := executable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			firstErr = fmt.Errorf("exec %q: %w", p, err)
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", fmt.Errorf("exec %q: executable file not found in $PATH", name)
}

func executable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return errors.New("is a directory")
	}
	// With the effective ids and capabilities, as execve will check:
	// CAP_DAC_OVERRIDE lets a non-root user run a file it cannot read.
	if err := unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("not executable: %w", err)
	}
	return nil
}

func execProcess(path string, p *specs.Process) error {
	for _, r := range p.Rlimits {
		if res, _ := ocispec.Rlimit(r.Type); memoryLimit(res) {
			if err := unix.Setrlimit(res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
				return fmt.Errorf("set %s to %d/%d: %w", r.Type, r.Soft, r.Hard, err)
			}
		}
	}
	err := unix.Exec(path, p.Args, p.Env)
	return fmt.Errorf("exec %s: %w", path, err)
}

// memoryLimit reports the rlimits that bound the address space the Go
// runtime of the init itself uses.
func memoryLimit(res int) bool { return res == unix.RLIMIT_AS || res == unix.RLIMIT_DATA }

const capSysResource = 24

// hasCap reports whether the calling thread has capability c in its
// effective set.
func hasCap(c uint) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// closeOnExecFrom marks every fd >= from close-on-exec.
func closeOnExecFrom(from int) {
	if unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, err := os.ReadDir("/proc/self/fd") // kernels before 5.11
	if err != nil {
		return
	}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= from {
			unix.CloseOnExec(n)
		}
	}
}
