// Package initproc is the petrel-init applet (`petrel init`): a tiny
// PID 1 for containers run with --init. It starts the command after its
// options (an optional "--" first), forwards every signal it receives to
// it, reaps every zombie re-parented to it, and exits with the command's
// status (128+n when a signal n killed it), as tini and docker-init do.
package initproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/hugetext"
)

// Main runs the init with the arguments after the applet's name.
func Main(args []string) int {
	return run(args, os.Stderr)
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: petrel-init [--] COMMAND [ARG...]\n\nRuns COMMAND as the child of a minimal init: signals are forwarded to it,\nzombies are reaped, and the exit status is COMMAND's.")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "petrel-init: %v\n", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs) // before the start: no signal is lost
	defer signal.Stop(sigs)
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		fmt.Fprintf(stderr, "petrel-init: exec %s: %v\n", args[0], err)
		return 126
	}
	// The init lives as long as its container: it keeps the text it
	// runs, not the binary's whole text (hugetext), in its PSS. Nothing
	// to say if it cannot: stderr is the container's.
	hugetext.Release()
	for sig := range sigs {
		s := sig.(syscall.Signal)
		switch s {
		case unix.SIGCHLD:
			if code, done := reap(pid); done {
				return code
			}
		case unix.SIGURG:
			// The Go runtime's own preemption signal: not for the child.
		default:
			unix.Kill(pid, s)
		}
	}
	return 0
}

// reap collects every exited child; done once the command itself has
// exited, with its status.
func reap(child int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return code, done
		}
		if pid != child {
			continue
		}
		done = true
		switch {
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		default:
			code = ws.ExitStatus()
		}
	}
}
