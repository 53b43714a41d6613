package lcr

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/container"
)

// forwardedSignals are passed on to the process run in the foreground.
// Not SIGCHLD, SIGPIPE, SIGWINCH (the console proxy's) nor SIGURG (the Go
// scheduler's preemption signal, frequent).
var forwardedSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGVTALRM,
	unix.SIGPROF, unix.SIGIO, unix.SIGPWR, unix.SIGSYS, unix.SIGTRAP, unix.SIGXCPU, unix.SIGXFSZ,
}

// foreground ties a container process that `run` or `exec` waits for to
// this process: signals are forwarded to it and, when it has a terminal
// and no console socket was given, its pty is proxied to our stdio. A nil
// foreground (detached) does nothing.
type foreground struct {
	sigc    chan os.Signal
	recv    *os.File // our end of the console socketpair
	send    *os.File // the end the init sends the pty master on
	restore func()
}

func startForeground(terminal bool) (*foreground, error) {
	f := &foreground{sigc: make(chan os.Signal, 16)}
	if terminal {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		f.recv = os.NewFile(uintptr(fds[0]), "console-recv")
		f.send = os.NewFile(uintptr(fds[1]), "console-send")
	}
	signal.Notify(f.sigc, forwardedSignals...)
	return f, nil
}

// created closes our copy of the end handed to the init.
func (f *foreground) created() {
	if f != nil && f.send != nil {
		f.send.Close()
		f.send = nil
	}
}

// attachConsole receives the pty master and starts proxying it.
func (f *foreground) attachConsole() error {
	if f == nil || f.recv == nil {
		return nil
	}
	master, err := container.RecvConsole(f.recv)
	if err != nil {
		return err
	}
	f.restore = proxyConsole(master)
	return nil
}

// wait forwards signals with signal until waitFn returns the exit code,
// then lets the console output drain and restores the terminal.
func (f *foreground) wait(waitFn func() (int, error), forward func(unix.Signal)) (int, error) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-f.sigc:
				forward(s.(unix.Signal))
			case <-done:
				return
			}
		}
	}()
	code, err := waitFn()
	close(done)
	if f.restore != nil {
		f.restore()
		f.restore = nil
	}
	return code, err
}

func (f *foreground) close() {
	signal.Stop(f.sigc)
	if f.recv != nil {
		f.recv.Close()
	}
	f.created()
}
