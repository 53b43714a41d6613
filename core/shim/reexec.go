package shim

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/jsonlog"
)

// Creating a container leaves its mark on the shim for the container's
// whole life: the Go runtime never gives back the span sets, stacks and
// size-class spans that decoding the spec and setting up the namespaces
// used, about 1 MiB of a 2.3 MiB shim. So once the built-in runtime has
// created the container, the shim executes itself again, in the same
// process: the fresh image takes over the listening socket, the
// container's stdio and its init (still this process's child, as execve
// keeps the pid), and reports readiness in the old one's place.

// Resume is what a re-executed shim takes over: descriptors it inherited,
// by number (-1 for none), and the pid of the container's init.
type Resume struct {
	Pid            int
	Listener       int
	Stdout, Stderr int // pipes' read ends; none with a terminal
	Stdin          int // the stdin pipe's write end, with --stdin and no terminal
	Console        int // the pty master, with a terminal
}

// String is the --resume flag's value.
func (r Resume) String() string {
	return fmt.Sprintf("pid=%d,listener=%d,stdout=%d,stderr=%d,stdin=%d,console=%d",
		r.Pid, r.Listener, r.Stdout, r.Stderr, r.Stdin, r.Console)
}

// ParseResume parses the --resume flag's value: every key of String,
// once each.
func ParseResume(v string) (*Resume, error) {
	r := &Resume{}
	fields := map[string]*int{"pid": &r.Pid, "listener": &r.Listener, "stdout": &r.Stdout,
		"stderr": &r.Stderr, "stdin": &r.Stdin, "console": &r.Console}
	seen := map[string]bool{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		dst := fields[k]
		if !ok || dst == nil || seen[k] {
			return nil, fmt.Errorf("invalid --resume %q: want %s", v, Resume{}.keys())
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("invalid --resume %q: %s=%q is not a number", v, k, val)
		}
		seen[k] = true
		*dst = n
	}
	if len(seen) != len(fields) {
		return nil, fmt.Errorf("invalid --resume %q: want %s", v, Resume{}.keys())
	}
	if r.Pid <= 0 || r.Listener < 0 {
		return nil, fmt.Errorf("invalid --resume %q: needs a pid and a listener", v)
	}
	return r, nil
}

func (Resume) keys() string { return "pid=N,listener=FD,stdout=FD,stderr=FD,stdin=FD,console=FD" }

// shouldReexec: only the built-in runtime creates in this process (an
// external one's work is done in its own, and a driven shim only forked
// the init), and PETREL_SHIM_REEXEC=0 turns it off.
func (s *server) shouldReexec() bool {
	_, builtin := s.rt.(*lcr)
	return builtin && !s.driven && os.Getenv("PETREL_SHIM_REEXEC") != "0"
}

// reexec executes a fresh shim in this process that takes over l, the
// stdio and the init. It returns only when that cannot be done, and then
// everything is as it was.
func (s *server) reexec(l *net.UnixListener, outR, errR *os.File) error {
	r := Resume{Pid: s.pid, Stdout: -1, Stderr: -1, Stdin: -1, Console: -1}
	var inherited []int
	inherit := func(f syscall.Conn, dst *int) error {
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		if err := rc.Control(func(fd uintptr) { *dst = int(fd) }); err != nil {
			return err
		}
		if _, err := unix.FcntlInt(uintptr(*dst), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("keep descriptor %d across exec: %w", *dst, err)
		}
		inherited = append(inherited, *dst)
		return nil
	}
	err := inherit(l, &r.Listener)
	if err == nil && outR != nil {
		if err = inherit(outR, &r.Stdout); err == nil {
			err = inherit(errR, &r.Stderr)
		}
	}
	if err == nil && s.stdinW != nil {
		err = inherit(s.stdinW, &r.Stdin)
	}
	if err == nil && s.master != nil {
		err = inherit(s.master, &r.Console)
	}
	if err == nil && s.opts.Ready != nil {
		var ready int
		if err = inherit(s.opts.Ready, &ready); err == nil && ready != 3 {
			err = fmt.Errorf("readiness pipe is descriptor %d, not 3", ready)
		}
	}
	if err == nil && s.log != nil {
		// The fresh shim appends to the log; what this one buffered goes
		// first.
		if err = s.log.Close(); err == nil {
			s.log = nil
		}
	}
	if err == nil {
		argv := append(append([]string{}, os.Args...), "--resume", r.String())
		err = unix.Exec("/proc/self/exe", argv, os.Environ())
		err = fmt.Errorf("exec /proc/self/exe: %w", err)
	}
	for _, fd := range inherited {
		unix.CloseOnExec(fd)
	}
	if s.log == nil && s.opts.LogFile != "" {
		w, lerr := jsonlog.Open(s.opts.LogFile, s.opts.LogMaxSize, s.opts.LogMaxFile)
		if lerr != nil {
			return fmt.Errorf("%w; and reopen the log: %v", err, lerr)
		}
		s.log = w
	}
	return err
}

// resume takes over what the shim that re-executed itself handed on.
func (s *server) resume() (l *net.UnixListener, outR, errR *os.File, err error) {
	r, o := s.opts.Resume, s.opts
	file := func(fd int, name string) (*os.File, error) {
		if fd < 0 {
			return nil, nil
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("resume: %s descriptor %d: %w", name, fd, err)
		}
		// Pollable, so that reads park a goroutine, not a thread.
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("resume: %s descriptor %d: %w", name, fd, err)
		}
		unix.CloseOnExec(fd)
		return os.NewFile(uintptr(fd), name), nil
	}
	lf, err := file(r.Listener, "listener")
	if err != nil {
		return nil, nil, nil, err
	}
	fl, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("resume: listener: %w", err)
	}
	ul, ok := fl.(*net.UnixListener)
	if !ok {
		fl.Close()
		return nil, nil, nil, fmt.Errorf("resume: descriptor %d is not a unix socket", r.Listener)
	}
	fail := func(err error) (*net.UnixListener, *os.File, *os.File, error) {
		ul.Close()
		if s.log != nil {
			s.log.Close()
			s.log = nil
		}
		for _, f := range []*os.File{outR, errR, s.stdinW, s.master} {
			if f != nil {
				f.Close()
			}
		}
		return nil, nil, nil, err
	}
	if outR, err = file(r.Stdout, "stdout"); err != nil {
		return fail(err)
	}
	if errR, err = file(r.Stderr, "stderr"); err != nil {
		return fail(err)
	}
	if (outR == nil) != (errR == nil) {
		return fail(fmt.Errorf("resume: stdout and stderr go together"))
	}
	if s.stdinW, err = file(r.Stdin, "stdin"); err != nil {
		return fail(err)
	}
	if s.master, err = file(r.Console, "console"); err != nil {
		return fail(err)
	}
	if o.LogFile != "" {
		w, err := jsonlog.Open(o.LogFile, o.LogMaxSize, o.LogMaxFile)
		if err != nil {
			return fail(err)
		}
		s.log = w
	}
	if err := s.rt.adopt(r.Pid); err != nil {
		return fail(fmt.Errorf("resume: %w", err))
	}
	s.pid = r.Pid
	return ul, outR, errR, nil
}
