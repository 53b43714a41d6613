package container

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleConn returns the socket that receives the pty master: conn when
// given, else a fresh connection to the unix socket at path.
func consoleConn(path string, conn *os.File) (*os.File, error) {
	if conn != nil {
		return conn, nil
	}
	if path == "" {
		return nil, nil
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer c.Close()
	f, err := c.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
}

// setupConsole opens a pty in the container's devpts, sends the master to
// the console socket, and makes the slave the process's stdio and
// controlling terminal; mountConsole also binds it on /dev/console.
func setupConsole(sock *os.File, p *specs.Process, mountConsole bool) error {
	slave, err := openConsole(sock, p, mountConsole)
	if err != nil {
		return err
	}
	defer unix.Close(slave)
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("dup pty slave: %w", err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

// openConsole opens a pty in the devpts of the caller's root, sends the
// master to the console socket and returns the slave (close-on-exec);
// mountConsole also binds it on /dev/console.
func openConsole(sock *os.File, p *specs.Process, mountConsole bool) (int, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open pty master: %w", err)
	}
	defer master.Close()
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return -1, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		return -1, fmt.Errorf("pty number: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	sfd, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	var slave int
	if e == 0 {
		slave = int(sfd)
	} else if slave, err = unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
		return -1, fmt.Errorf("open pty slave: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(slave)
		}
	}()
	if cs := p.ConsoleSize; cs != nil {
		if err := unix.IoctlSetWinsize(slave, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}); err != nil {
			return -1, fmt.Errorf("console size: %w", err)
		}
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte(slavePath), unix.UnixRights(mfd), nil, 0); err != nil {
		return -1, fmt.Errorf("send pty master to console socket: %w", err)
	}
	sock.Close()
	if mountConsole {
		if err := createFile("/dev/console"); err != nil {
			return -1, fmt.Errorf("/dev/console: %w", err)
		}
		if err := mount(slavePath, "/dev/console", "bind", unix.MS_BIND, ""); err != nil {
			return -1, err
		}
	}
	ok = true
	return slave, nil
}

// RecvConsole receives a pty master sent by setupConsole on sock.
func RecvConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("receive console: no file descriptor")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("receive console: no file descriptor")
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
