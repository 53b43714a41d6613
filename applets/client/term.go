package client

import (
	"io"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// makeRaw puts r in raw mode when it is a terminal and returns the undo.
func makeRaw(r io.Reader) func() {
	f, ok := r.(*os.File)
	if !ok {
		return func() {}
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if unix.IoctlSetTermios(fd, unix.TCSETS, &raw) != nil {
		return func() {}
	}
	done := false
	return func() {
		if !done {
			done = true
			unix.IoctlSetTermios(fd, unix.TCSETS, old)
		}
	}
}

// watchSize sends the terminal's size now and on every SIGWINCH until
// the returned function is called.
func (c *cli) watchSize(id string) func() { return c.watchResize("/containers/" + id + "/resize") }

// watchExecSize is watchSize for an exec's terminal.
func (c *cli) watchExecSize(id string) func() { return c.watchResize("/exec/" + id + "/resize") }

func (c *cli) watchResize(path string) func() {
	f, ok := c.stdout.(*os.File)
	if !ok {
		return func() {}
	}
	send := func() {
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			return
		}
		q := url.Values{"h": {strconv.Itoa(int(ws.Row))}, "w": {strconv.Itoa(int(ws.Col))}}
		c.call("POST", path, q, nil, nil)
	}
	send()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				send()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// termSize returns the size of the client's terminal, if it has one.
func (c *cli) termSize() (uint, uint, bool) {
	f, ok := c.stdout.(*os.File)
	if !ok {
		return 0, 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 || ws.Col == 0 {
		return 0, 0, false
	}
	return uint(ws.Row), uint(ws.Col), true
}

func sortStrings(s []string) { sort.Strings(s) }
