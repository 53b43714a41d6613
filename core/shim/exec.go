package shim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/container"
)

// execProc is one exec'd process of the container.
type execProc struct {
	pid    int
	master *os.File // its terminal, if any
	exit   *Exit
}

// exec runs req.Process in the container and streams its stdio on c
// until it has exited; its exit stays queryable with exec-state.
func (s *server) exec(c net.Conn, br *bufio.Reader, req Request) {
	defer c.Close()
	fail := func(err error) { reply(c, Response{Error: err.Error()}) }
	if req.Exec == "" || req.Process == nil {
		fail(errors.New("exec needs an id and a process"))
		return
	}
	s.mu.Lock()
	_, dup := s.execs[req.Exec]
	running := s.started && s.exit == nil
	s.mu.Unlock()
	switch {
	case dup:
		fail(fmt.Errorf("exec %s already exists", req.Exec))
		return
	case !running:
		fail(errors.New("container is not running"))
		return
	}
	p := *req.Process
	p.Terminal = req.Tty
	var pio stdio
	var outR, errR, inW, recv *os.File
	var mine []*os.File // the process's ends, closed once it has them
	closeMine := func() {
		for _, f := range mine {
			f.Close()
		}
	}
	var cl *net.UnixListener
	var err error
	if req.Tty {
		if _, ext := s.rt.(*external); ext {
			// A short path: sockaddr_un holds 107 bytes.
			dir, err := os.MkdirTemp("", "petrel-tty-")
			if err != nil {
				fail(fmt.Errorf("console socket: %w", err))
				return
			}
			defer os.RemoveAll(dir)
			pio.consoleSock = filepath.Join(dir, "s")
			if cl, err = consoleListener(pio.consoleSock); err != nil {
				fail(err)
				return
			}
			defer os.Remove(pio.consoleSock)
			defer cl.Close()
		} else {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				fail(fmt.Errorf("console socketpair: %w", err))
				return
			}
			recv = os.NewFile(uintptr(fds[0]), "console-recv")
			defer recv.Close()
			pio.console = os.NewFile(uintptr(fds[1]), "console-send")
			mine = append(mine, pio.console)
		}
	} else {
		var outW, errW, inR *os.File
		if outR, outW, err = os.Pipe(); err == nil {
			errR, errW, err = os.Pipe()
		}
		if err == nil && req.Stdin {
			inR, inW, err = os.Pipe()
		} else if err == nil {
			inR, err = os.Open(os.DevNull)
		}
		if err != nil {
			fail(err)
			return
		}
		pio.in, pio.out, pio.err = inR, outW, errW
		mine = append(mine, inR, outW, errW)
	}
	pid, wait, err := s.rt.exec(&p, pio)
	closeMine()
	if err != nil {
		for _, f := range []*os.File{outR, errR, inW} {
			if f != nil {
				f.Close()
			}
		}
		fail(err)
		return
	}
	ep := &execProc{pid: pid}
	if req.Tty {
		var m *os.File
		if recv != nil {
			m, err = container.RecvConsole(recv)
		} else {
			cl.SetDeadline(time.Now().Add(10 * time.Second))
			var uc *net.UnixConn
			if uc, err = cl.AcceptUnix(); err == nil {
				f, ferr := uc.File()
				uc.Close()
				if err = ferr; err == nil {
					m, err = container.RecvConsole(f)
					f.Close()
				}
			}
		}
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			wait()
			fail(fmt.Errorf("exec terminal: %w", err))
			return
		}
		ep.master, outR, inW = m, m, m
	}
	s.mu.Lock()
	s.execs[req.Exec] = ep
	s.mu.Unlock()
	reply(c, Response{Pid: pid})
	c.SetWriteDeadline(time.Time{})

	var wmu sync.Mutex // one frame at a time on c
	var output sync.WaitGroup
	copyOut := func(r *os.File, num byte) {
		defer output.Done()
		defer r.Close()
		buf := make([]byte, 8*1024)
		frame := make([]byte, 8+len(buf))
		for {
			n, err := r.Read(buf)
			if n > 0 && (num == StreamStdout && req.Stdout || num == StreamStderr && req.Stderr) {
				data := buf[:n]
				if !req.Tty {
					frame[0] = num
					binary.BigEndian.PutUint32(frame[4:8], uint32(n))
					copy(frame[8:], buf[:n])
					data = frame[:8+n]
				}
				wmu.Lock()
				c.Write(data)
				wmu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}
	output.Add(1)
	go copyOut(outR, StreamStdout)
	if errR != nil {
		output.Add(1)
		go copyOut(errR, StreamStderr)
	}
	if req.Stdin && inW != nil {
		go func() {
			io.Copy(inW, br)
			if !req.Tty {
				inW.Close()
			}
		}()
	} else if inW != nil && !req.Tty {
		inW.Close()
	}
	code, werr := wait()
	if werr != nil {
		code = 255
	}
	done := make(chan struct{})
	go func() { output.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	s.mu.Lock()
	ep.exit = &Exit{Pid: pid, Code: code, ExitedAt: time.Now().UTC()}
	s.mu.Unlock()
}

// execState answers exec-state.
func (s *server) execState(id string) Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, ok := s.execs[id]
	if !ok {
		return Response{Error: fmt.Sprintf("no such exec: %s", id)}
	}
	r := Response{Pid: ep.pid, Exit: ep.exit, Status: container.Running}
	if ep.exit != nil {
		r.Status = container.Stopped
		// Told once, forgotten: health checks exec every few seconds
		// for as long as the container runs.
		delete(s.execs, id)
	}
	return r
}
