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
	var o shim.Options
	var rargs listFlag
	fs := flag.NewFlagSet("petrel-shim", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	// fd 3 is the readiness pipe when petreld started us; check before
	// wrapping it, or the wrapper's finalizer could close a later file.
	if _, err := unix.FcntlInt(3, unix.F_GETFD, 0); err == nil {
		o.Ready = os.NewFile(3, "ready")
	}
	// A resumed shim's arguments repeat the first one's, but the
	// descriptor went with its wait: leave whatever now has that number.
	if *controlFd >= 0 && *resume == "" {
		if _, err := unix.FcntlInt(uintptr(*controlFd), unix.F_GETFD, 0); err != nil {
			return fmt.Errorf("--control-fd %d: %w", *controlFd, err)
		}
		o.Control = os.NewFile(uintptr(*controlFd), "control")
	}
	shim.Tune()
	err := shim.Serve(o)
	if errors.Is(err, shim.ErrAborted) {
		return nil // the daemon's start failed before the container existed
	}
	return err
}
