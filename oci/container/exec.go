package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/cgroups"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

// ExecOptions are the inputs of Exec, as runc's exec flags.
type ExecOptions struct {
	Process       *specs.Process
	ConsoleSocket string
	ConsoleConn   *os.File
	PidFile       string
	PreserveFDs   int
	Stdin         *os.File
	Stdout        *os.File
	Stderr        *os.File
}

// execNamespaces are joined by the runtime before it forks the exec init;
// the mount namespace is joined by that init itself.
var execNamespaces = []struct {
	name string
	flag int
}{
	{"cgroup", unix.CLONE_NEWCGROUP}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS},
	{"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID},
}

// Exec starts another process in a running container and returns it; the
// caller waits for it, or lets it go (detach).
func (c *Container) Exec(opts ExecOptions) (*Process, error) {
	if st := c.Status(); st != Running && st != Created {
		return nil, fmt.Errorf("cannot exec in container %s: it is %s", c.ID, st)
	}
	p := opts.Process
	if err := ocispec.ValidateProcess(p); err != nil {
		return nil, err
	}
	if err := validateSched(p, nil); err != nil {
		return nil, err
	}
	spec, err := c.Spec()
	if err != nil {
		return nil, err
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			return nil, errors.New("exec into a container with a user namespace is not supported")
		}
	}
	if p.Terminal && opts.ConsoleSocket == "" && opts.ConsoleConn == nil {
		return nil, errors.New("process.terminal is true: a --console-socket is required")
	}
	pidDir := "/proc/" + strconv.Itoa(c.Pid) + "/ns/"
	var joins []nsJoin
	for _, ns := range execNamespaces {
		same, err := sameNamespace(pidDir+ns.name, "/proc/self/ns/"+ns.name)
		if err != nil {
			return nil, err
		}
		if !same {
			joins = append(joins, nsJoin{path: pidDir + ns.name, flag: ns.flag})
		}
	}
	mnt, err := os.Open(pidDir + "mnt")
	if err != nil {
		return nil, fmt.Errorf("container mount namespace: %w", err)
	}
	defer mnt.Close()

	console, err := consoleConn(opts.ConsoleSocket, opts.ConsoleConn)
	if err != nil {
		return nil, err
	}
	if console != nil {
		defer console.Close()
	}
	joinCgroup := func(pid int) error {
		if len(c.CgroupPaths) > 0 {
			if err := cgroups.Load(c.CgroupPaths).Apply(pid); err != nil {
				return fmt.Errorf("join container cgroup: %w", err)
			}
		}
		return nil
	}
	if forkedExecRefusal(p, spec) == "" {
		s := *spec
		s.Process = p
		f := &forkedInit{
			spec: &s, joins: joins, exec: true, mountNS: mnt, afterFork: joinCgroup,
			stdio: [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr}, preserve: opts.PreserveFDs, consoleSock: console,
		}
		proc, err := f.start()
		if err != nil {
			if proc != nil {
				proc.killAndWait()
			}
			return nil, err
		}
		if opts.PidFile != "" {
			if err := writePidFile(opts.PidFile, proc.Pid); err != nil {
				proc.killAndWait()
				return nil, err
			}
		}
		return proc, nil
	}

	parentSock, childSock, err := socketpair()
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()
	defer childSock.Close()
	cmd := &initCmd{
		stdio: [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr},
		sys:   syscall.SysProcAttr{Setsid: p.Terminal},
	}
	for i := 0; i < opts.PreserveFDs; i++ {
		cmd.addFile(os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	cmd.env = []string{"GOMAXPROCS=1", "PETREL_SYNC_FD=" + strconv.Itoa(cmd.addFile(childSock))}
	mntFd := cmd.addFile(mnt)
	if console != nil {
		cmd.env = append(cmd.env, "PETREL_CONSOLE_FD="+strconv.Itoa(cmd.addFile(console)))
	}
	proc, err := cmd.start(joins)
	if err != nil {
		return nil, fmt.Errorf("start exec init: %w", err)
	}
	childSock.Close()
	ok := false
	defer func() {
		if !ok {
			proc.killAndWait()
		}
	}()
	if err := joinCgroup(proc.Pid); err != nil {
		return nil, err
	}
	sc := newSyncConn(parentSock)
	cfg := &initConfig{Exec: true, ID: c.ID, SpecJSON: c.specJSON, Process: p, Console: console != nil, MountNSFd: mntFd}
	if err := sc.send(syncMsg{Type: msgConfig, Config: cfg}); err != nil {
		return nil, err
	}
	if _, err := sc.recv(msgReady); err != nil {
		return nil, err
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, proc.Pid); err != nil {
			return nil, err
		}
	}
	ok = true
	return proc, nil
}

func sameNamespace(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, fmt.Errorf("namespace %s: %w", a, err)
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, fmt.Errorf("namespace %s: %w", b, err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
