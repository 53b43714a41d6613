package lcr

import (
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// proxyConsole connects our stdio to a container's pty master: stdin in
// raw mode when it is a terminal, window size changes passed on. The
// returned function restores the terminal once output has drained.
func proxyConsole(master *os.File) func() {
	in := int(os.Stdin.Fd())
	var restoreTerm func()
	if old, err := unix.IoctlGetTermios(in, unix.TCGETS); err == nil {
		raw := *old
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if unix.IoctlSetTermios(in, unix.TCSETS, &raw) == nil {
			restoreTerm = func() { unix.IoctlSetTermios(in, unix.TCSETS, old) }
		}
		resize := func() {
			if ws, err := unix.IoctlGetWinsize(in, unix.TIOCGWINSZ); err == nil {
				unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
			}
		}
		resize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		go func() {
			for range winch {
				resize()
			}
		}()
	}
	go io.Copy(master, os.Stdin)
	out := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, master) // ends with EIO once the container side closes
		close(out)
	}()
	return func() {
		<-out
		if restoreTerm != nil {
			restoreTerm()
		}
	}
}
