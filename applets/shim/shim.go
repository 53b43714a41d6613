// Package shim is the petrel-shim applet: one per container, started
// detached by petreld; its logic is in core/shim.
package shim

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/shim"
)

// Main runs petrel-shim with the arguments after its name. fd 3, when
// open, receives the readiness line.
func Main(args []string) int {
	// Keep the main thread to the main goroutine: the built-in runtime
	// joins a container's namespaces from a locked thread that it then
	// lets die, and were that the main thread Go would keep it, parked
	// in the container's namespaces, where /proc/self looks.
	runtime.LockOSThread()
	if err := run(args, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "petrel-shim:", err)
		return 1
	}
	return 0
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stderr io.Writer) error {
	var ready, control *os.File
	// fd 3 is the readiness pipe when petreld started us; check before
	// wrapping it, or the wrapper's finalizer could close a later file.
	if _, err := unix.FcntlInt(3, unix.F_GETFD, 0); err == nil {
		ready = os.NewFile(3, "ready")
	}
	if len(args) > 0 && args[0] == "--spare" {
		var err error
		args, control, err = awaitContainer(args[1:], ready, stderr)
		if errors.Is(err, shim.ErrAborted) {
			return nil // not taken: petreld let it go
		}
		if err != nil {
			return err
		}
		// The command line is the container's from here on (a shim that
		// executes itself again passes it on).
		os.Args = append([]string{os.Args[0]}, args...)
	}
	var o shim.Options
	var rargs listFlag
	fs := flag.NewFlagSet("petrel-shim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spare := fs.Bool("spare", false, "start ahead of any container, under SCHED_IDLE, and wait for petreld to hand one over (first flag; followed by petreld's state directory and --control-fd; set by petreld)")
	fs.StringVar(&o.ID, "id", "", "container id")
	fs.StringVar(&o.Bundle, "bundle", "", "OCI bundle directory")
	fs.StringVar(&o.RuntimeRoot, "runtime-root", "", "the runtime's state root")
	fs.StringVar(&o.Runtime, "runtime", "lcr", "lcr, or the path of a runc-compatible runtime")
	fs.Var(&rargs, "runtime-arg", "extra global argument of an external runtime (repeatable)")
	fs.StringVar(&o.Socket, "socket", "", "unix socket to serve")
	fs.StringVar(&o.ExitFile, "exit-file", "", "file that records the exit status")
	fs.StringVar(&o.LogFile, "log-file", "", "json-file log of the container's output")
	fs.Int64Var(&o.LogMaxSize, "log-max-size", 0, "rotate the log above this many bytes (0: never)")
	fs.IntVar(&o.LogMaxFile, "log-max-file", 1, "log files kept")
	fs.BoolVar(&o.Stdin, "stdin", false, "keep the container's stdin open")
	fs.BoolVar(&o.StdinOnce, "stdin-once", false, "close stdin after the first attach")
	fs.BoolVar(&o.Tty, "tty", false, "give the container a terminal")
	controlFd := fs.Int("control-fd", -1, "control socket on which petreld says when and how to create the container (set by petreld)")
	resume := fs.String("resume", "", "take over a created container (set by the shim when it re-executes itself)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *spare {
		return errors.New("--spare must be the first argument")
	}
	for name, v := range map[string]string{"id": o.ID, "bundle": o.Bundle, "runtime-root": o.RuntimeRoot, "socket": o.Socket, "exit-file": o.ExitFile} {
		if v == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	o.RuntimeArgs = rargs
	if *resume != "" {
		r, err := shim.ParseResume(*resume)
		if err != nil {
			return err
		}
		o.Resume = r
	}
	o.Ready = ready
	// A resumed shim's arguments repeat the first one's, but the
	// descriptor went with its wait: leave whatever now has that number.
	switch {
	case control != nil:
		o.Control = control
	case *controlFd >= 0 && *resume == "":
		f, err := openControl(*controlFd)
		if err != nil {
			return err
		}
		o.Control = f
	}
	shim.Tune()
	err := shim.Serve(o)
	if errors.Is(err, shim.ErrAborted) {
		return nil // the daemon's start failed before the container existed
	}
	return err
}

func openControl(fd int) (*os.File, error) {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil, fmt.Errorf("--control-fd %d: %w", fd, err)
	}
	return os.NewFile(uintptr(fd), "control"), nil
}

// awaitContainer is a spare shim's life until petreld hands it a
// container (core/shim's spare.go): args are those after --spare (the
// daemon's state directory, which only names whose spare it is, and
// --control-fd). It returns the container's command line and the control
// socket, which that command line names again; shim.ErrAborted when
// petreld let it go.
func awaitContainer(args []string, ready *os.File, stderr io.Writer) ([]string, *os.File, error) {
	fs := flag.NewFlagSet("petrel-shim --spare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	controlFd := fs.Int("control-fd", -1, "control socket")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, nil, errors.New("--spare: want petreld's state directory, then --control-fd")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 || *controlFd < 0 || ready == nil {
		return nil, nil, errors.New("--spare: want petreld's state directory and --control-fd, and the readiness pipe at fd 3")
	}
	control, err := openControl(*controlFd)
	if err != nil {
		return nil, nil, err
	}
	shim.Tune()
	cargs, err := shim.AwaitContainer(ready, control)
	if err != nil {
		return nil, nil, err
	}
	return cargs, control, nil
}
