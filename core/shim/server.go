package shim

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/core/hugetext"
	"github.com/petrel-edge/petrel/core/jsonlog"
	"github.com/petrel-edge/petrel/oci/container"
)

// Options configure one shim; the daemon passes them as flags.
type Options struct {
	ID          string
	Bundle      string
	RuntimeRoot string   // the runtime's state root
	Runtime     string   // "lcr" (in-process) or the path of a runc-compatible binary
	RuntimeArgs []string // extra global arguments of an external runtime
	Socket      string   // the shim's unix socket
	ExitFile    string   // where the exit status is recorded
	LogFile     string   // json-file log; "" for no log
	LogMaxSize  int64
	LogMaxFile  int
	Stdin       bool // keep the container's stdin open for attach
	StdinOnce   bool // close it when the first attach's stdin ends
	Tty         bool
	Ready       *os.File // receives one Response line once created
	// Control, when set, is the control socket of a launched shim
	// (launch.go): the creation waits for the daemon's word on it, and
	// its end before that means ErrAborted.
	Control *os.File
	// Resume, set in a shim that re-executed itself, is what it takes
	// over instead of creating the container.
	Resume *Resume
}

// ErrAborted is returned by Serve when the daemon gave up on a shim it
// launched ahead of the container, before the container was created.
var ErrAborted = errors.New("aborted before the container was created")

// maxSocketPath is the room in sockaddr_un.sun_path.
const maxSocketPath = 107

type attacher struct {
	conn           net.Conn
	stdout, stderr bool
}

type server struct {
	opts Options
	rt   ociRuntime
	pid  int

	mu        sync.Mutex
	log       *jsonlog.Writer
	attachers map[*attacher]struct{}
	execs     map[string]*execProc
	stdinW    *os.File // the container's stdin (pipe or pty master)
	master    *os.File
	started   bool
	paused    bool
	exit      *Exit
	exited    chan struct{}
	output    sync.WaitGroup
	waiting   atomic.Int32 // wait requests not yet answered
	// answering counts accepted connections whose request is not yet
	// answered (other than wait, attach and exec): the shim does not
	// exit under them, or a container that exits at once would take
	// the answer to its start with it.
	answering atomic.Int32
	// driven: the daemon created the container around an init forked
	// here (forkDriven); nothing is left to shed by re-executing.
	driven bool
	// startNow: the daemon said ctlCreatedStart; serve starts the
	// container before answering on the ready pipe.
	startNow bool
	// gcTarget is the GC percent to go back to once the start is
	// answered; -1 when set already.
	gcTarget int
}

// shedSetup, once the start is answered, returns the collector to the
// shim's target, the set-up's garbage to the system, and the binary's
// text, mapped in 2 MiB pages for a fast start, to the pages the shim
// runs (hugetext.Release).
func (s *server) shedSetup() {
	if t := s.gcTarget; t >= 0 {
		s.gcTarget = -1
		debug.SetGCPercent(t)
	}
	debug.FreeOSMemory()
	if err := hugetext.Release(); err != nil {
		fmt.Fprintln(os.Stderr, "petrel-shim:", err)
	}
}

// Serve runs the shim (call Tune first in a shim process): creates the container, reports on opts.Ready,
// serves the socket, and returns once the container's exit is recorded
// and its runtime state deleted.
func Serve(opts Options) error {
	return serve(opts, newRuntime(opts.Runtime, opts.RuntimeArgs, opts.RuntimeRoot, opts.ID, opts.Bundle))
}

// Tune sets the process-wide runtime knobs of a shim process: one P, a
// low GC target, no SIGHUP/SIGINT/SIGPIPE deaths, no leaked descriptors.
//
// No memory limit: an idle, re-executed shim's 1.9 MiB of anonymous
// memory is about 0.6 MiB of heap (0.4 MiB live, with the goroutines'
// stacks), 0.6 MiB of the Go runtime's span sets (a spine and a block for
// each size class in use, never returned) and the binary's data; a soft
// limit cannot go below any of that, it would only make a busy shim (a
// chatty container's logs) collect more.
func Tune() {
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(20)
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGINT)
	CloseExecFrom(3)
}

func serve(opts Options, rt ociRuntime) error {
	s := &server{opts: opts, rt: rt, attachers: map[*attacher]struct{}{}, execs: map[string]*execProc{}, exited: make(chan struct{})}
	// Creating the container grows the stack it runs on (decoding the
	// spec recurses), and so may taking it over. On a goroutine of its
	// own, that stack is freed when it returns, instead of staying with
	// this one, which then waits for the container's exit.
	type setupResult struct {
		l          *net.UnixListener
		outR, errR *os.File
		err        error
	}
	// Creating the container makes garbage (the spec, the seccomp
	// program, the child's plan) that the re-execution, or the collection
	// once the start is answered (shedSetup), sheds at once: collecting
	// it as it is made, at the shim's low target, only slowed creating
	// and starting down (decoding config.json took about 5 ms instead of
	// 2.5; a collection started by going back to the low target when
	// the set-up ended held the start's answer up by about 5 ms).
	s.gcTarget = -1
	if opts.Resume == nil {
		s.gcTarget = debug.SetGCPercent(100)
	}
	done := make(chan setupResult, 1)
	go func() {
		var r setupResult
		if opts.Resume != nil {
			r.l, r.outR, r.errR, r.err = s.resume()
		} else {
			r.l, r.outR, r.errR, r.err = s.setup()
		}
		done <- r
	}()
	r := <-done
	if opts.Resume == nil && r.err == nil && s.shouldReexec() {
		// Returns only when the fresh shim could not be started.
		if err := s.reexec(r.l, r.outR, r.errR); err != nil {
			fmt.Fprintln(os.Stderr, "petrel-shim: carrying on without re-executing:", err)
		}
	}
	l, err := r.l, r.err
	if err != nil {
		if opts.Resume != nil {
			// The container was created: undo it, as a failed create
			// would have.
			unix.Kill(opts.Resume.Pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(opts.Resume.Pid, &ws, 0, nil)
			s.rt.delete()
		}
		s.ready(Response{Error: err.Error()})
		return err
	}
	if r.outR != nil {
		s.pump(r.outR, "stdout", StreamStdout)
		s.pump(r.errR, "stderr", StreamStderr)
	}
	ready := Response{Pid: s.pid}
	if s.startNow {
		if err := s.start(); err != nil {
			ready.StartError = err.Error()
		} else {
			ready.Started = true
		}
	}
	s.ready(ready)
	// No FreeOSMemory before the answer: it takes milliseconds, and the
	// daemon waits for the start. A start's answer is followed by one
	// (here, or in handle).
	go s.accept(l)
	if s.startNow {
		s.shedSetup()
	}

	code, werr := s.rt.wait()
	if werr != nil {
		fmt.Fprintln(os.Stderr, "petrel-shim:", werr)
		code = 255
	}
	exitedAt := time.Now().UTC()
	s.drain()
	s.mu.Lock()
	if s.log != nil {
		if err := s.log.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "petrel-shim: close log:", err)
		}
		s.log = nil
	}
	s.mu.Unlock()
	ex := &Exit{Pid: s.pid, Code: code, ExitedAt: exitedAt}
	data, _ := json.Marshal(ex)
	// Atomic, not fsynced: the daemon reads it once the shim is gone;
	// after a power cut no shim and no container survive, and the
	// daemon records that whatever the file says.
	if err := atomicfile.WriteFileVolatile(opts.ExitFile, data, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "petrel-shim: record exit:", err)
	}
	// The socket file goes before any waiter learns of the exit: the next
	// shim of the container, which a start that comes at once makes,
	// never finds it in its way, nor loses its own to this removal.
	// Connections made already keep their answers; a new one fails, and
	// the daemon reads the exit file.
	os.Remove(opts.Socket)
	s.mu.Lock()
	s.exit = ex
	for a := range s.attachers {
		a.conn.Close()
	}
	s.attachers = nil
	s.mu.Unlock()
	close(s.exited)
	if err := s.rt.delete(); err != nil {
		fmt.Fprintln(os.Stderr, "petrel-shim: delete:", err)
	}
	// Waiters get their answer before the socket goes away; a daemon
	// that misses it reads the exit file.
	for deadline := time.Now().Add(2 * time.Second); s.waiting.Load()+s.answering.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	l.Close()
	return nil
}

func (s *server) ready(r Response) {
	if s.opts.Ready == nil {
		return
	}
	s.opts.Ready.Write(r.readyLine())
	s.opts.Ready.Close()
}

// setup makes the stdio, creates the container and listens. It returns
// the read ends of the container's stdout and stderr pipes (none with a
// terminal), for serve to pump.
func (s *server) setup() (l *net.UnixListener, outR, errR *os.File, err error) {
	o := s.opts
	if len(o.Socket) > maxSocketPath {
		return nil, nil, nil, fmt.Errorf("shim socket path %s is longer than %d bytes", o.Socket, maxSocketPath)
	}
	// The log and the socket are made before the daemon's word, while it
	// still makes the rootfs, the network and the spec ready. A shim that
	// is aborted removes them again: it leaves no socket where the next
	// shim of the container makes its own, and no log of a container that
	// never ran.
	logMade := false
	if o.LogFile != "" {
		_, statErr := os.Lstat(o.LogFile)
		logMade = errors.Is(statErr, fs.ErrNotExist)
		w, err := jsonlog.Open(o.LogFile, o.LogMaxSize, o.LogMaxFile)
		if err != nil {
			return nil, nil, nil, err
		}
		s.log = w
	}
	ok := false
	defer func() {
		if !ok && logMade {
			s.log.Close()
			s.log = nil
			os.Remove(o.LogFile)
		}
	}()
	os.Remove(o.Socket)
	if err := os.MkdirAll(filepath.Dir(o.Socket), 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("shim socket dir: %w", err)
	}
	l, err = net.ListenUnix("unix", &net.UnixAddr{Name: o.Socket, Net: "unix"})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("shim socket: %w", err)
	}
	// The socket file goes when the container exits, not with the
	// listener (serve).
	l.SetUnlinkOnClose(false)
	defer func() {
		if !ok {
			l.Close()
			os.Remove(o.Socket)
		}
	}()
	var d *driven
	if o.Control != nil {
		// The rootfs, the network and the spec are ready once the
		// daemon says so.
		if d, err = readControl(o.Control); err != nil {
			return nil, nil, nil, err
		}
		if d == nil {
			o.Control.Close()
		} else {
			s.driven = true
			defer o.Control.Close()
			if d.console != nil {
				defer d.console.Close()
			}
		}
	}
	var io stdio
	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	if o.Tty {
		if _, ext := s.rt.(*external); ext {
			dir, err := os.MkdirTemp("", "petrel-tty-")
			if err != nil {
				return nil, nil, nil, fmt.Errorf("console socket: %w", err)
			}
			defer os.RemoveAll(dir)
			io.consoleSock = filepath.Join(dir, "s")
		} else {
			recv := d.consoleOrNil()
			if recv == nil {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("console socketpair: %w", err)
				}
				recv = os.NewFile(uintptr(fds[0]), "console-recv")
				defer recv.Close()
				io.console = os.NewFile(uintptr(fds[1]), "console-send")
				closeAfter = append(closeAfter, io.console)
			}
			defer func() {
				if s.pid != 0 {
					m, err := container.RecvConsole(recv)
					if err == nil {
						s.master = m
					}
				}
			}()
		}
	} else {
		var outW, errW *os.File
		if outR, outW, err = os.Pipe(); err != nil {
			return nil, nil, nil, err
		}
		if errR, errW, err = os.Pipe(); err != nil {
			return nil, nil, nil, err
		}
		io.out, io.err = outW, errW
		closeAfter = append(closeAfter, outW, errW)
		if o.Stdin {
			inR, inW, err := os.Pipe()
			if err != nil {
				return nil, nil, nil, err
			}
			io.in = inR
			s.stdinW = inW
			closeAfter = append(closeAfter, inR)
		} else {
			null, err := os.Open(os.DevNull)
			if err != nil {
				return nil, nil, nil, err
			}
			io.in = null
			closeAfter = append(closeAfter, null)
		}
	}
	var cl *net.UnixListener
	if io.consoleSock != "" {
		if cl, err = consoleListener(io.consoleSock); err != nil {
			return nil, nil, nil, err
		}
		defer os.Remove(io.consoleSock)
		defer cl.Close()
		go func() {
			c, err := cl.AcceptUnix()
			if err != nil {
				return
			}
			defer c.Close()
			f, err := c.File()
			if err != nil {
				return
			}
			defer f.Close()
			if m, err := container.RecvConsole(f); err == nil {
				s.mu.Lock()
				s.master = m
				s.mu.Unlock()
			}
		}()
	}
	var pid int
	if d != nil {
		pid, err = s.forkDriven(d, io)
	} else {
		pid, err = s.rt.create(io)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	s.pid = pid
	ok = true
	return l, outR, errR, nil
}

// startConsole begins copying the pty's output once setup has it.
func (s *server) startConsole() {
	s.mu.Lock()
	m := s.master
	s.mu.Unlock()
	if m != nil {
		s.stdinW = m
		s.pump(m, "stdout", StreamStdout)
	}
}

// pump copies one output stream into the log and to attached clients.
func (s *server) pump(r *os.File, stream string, num byte) {
	s.output.Add(1)
	go func() {
		defer s.output.Done()
		defer r.Close()
		buf := make([]byte, 8*1024)
		frame := make([]byte, 8+len(buf))
		for {
			n, err := r.Read(buf)
			if n > 0 {
				s.mu.Lock()
				if s.log != nil {
					if err := s.log.Write(stream, buf[:n]); err != nil {
						fmt.Fprintln(os.Stderr, "petrel-shim: log:", err)
					}
				}
				var data []byte
				if s.opts.Tty {
					data = buf[:n]
				} else {
					frame[0] = num
					binary.BigEndian.PutUint32(frame[4:8], uint32(n))
					copy(frame[8:], buf[:n])
					data = frame[:8+n]
				}
				for a := range s.attachers {
					if (num == StreamStdout && a.stdout) || (num == StreamStderr && a.stderr) {
						a.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
						if _, err := a.conn.Write(data); err != nil {
							a.conn.Close()
							delete(s.attachers, a)
						}
					}
				}
				s.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
}

// drain waits for the output streams to end after the init exited. With
// a pid namespace every writer is gone; a process that escaped it could
// hold a pipe open, so the wait is bounded.
func (s *server) drain() {
	done := make(chan struct{})
	go func() {
		s.output.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

func (s *server) accept(l *net.UnixListener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.answering.Add(1)
		go s.handle(c)
	}
}

// handle serves one connection; accept counted it in s.answering.
func (s *server) handle(c net.Conn) {
	counted := true
	answered := func() {
		if counted {
			counted = false
			s.answering.Add(-1)
		}
	}
	defer answered()
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		c.Close()
		return
	}
	req, err := decodeRequest(line)
	if err != nil {
		reply(c, Response{Error: "bad request: " + err.Error()})
		c.Close()
		return
	}
	switch req.Op {
	case OpAttach:
		answered()
		s.attach(c, br, req)
		return
	case OpExec:
		answered()
		s.exec(c, br, req)
		return
	}
	defer c.Close()
	var resp Response
	switch req.Op {
	case OpState:
		resp = s.state()
	case OpWait:
		s.waiting.Add(1)
		defer s.waiting.Add(-1)
		answered()
		<-s.exited
		resp = s.state()
	case OpStart:
		resp.Error = errString(s.start())
		defer s.shedSetup()
	case OpKill:
		if s.isExited() {
			resp.Error = "container is not running"
			break
		}
		resp.Error = errString(s.rt.kill(unix.Signal(req.Signal), req.All))
	case OpPause, OpResume:
		resp.Error = errString(s.freeze(req.Op == OpPause))
	case OpResize:
		resp.Error = errString(s.resize(req.Exec, req.Height, req.Width))
	case OpExecState:
		resp = s.execState(req.Exec)
	case OpUpdate:
		switch {
		case req.Resources == nil:
			resp.Error = "update: no resources given"
		case s.isExited():
			resp.Error = "container is not running"
		default:
			resp.Error = errString(s.rt.update(req.Resources))
		}
	default:
		resp.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	reply(c, resp)
}

func reply(c net.Conn, r Response) {
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	json.NewEncoder(c).Encode(r)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (s *server) isExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

func (s *server) state() Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Response{Pid: s.pid, Exit: s.exit}
	switch {
	case s.exit != nil:
		r.Status = container.Stopped
	case !s.started:
		r.Status = container.Created
	default:
		r.Status = container.Running
		if s.paused {
			r.Status = container.Paused
		}
	}
	return r
}

func (s *server) start() error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("container already started")
	}
	s.started = true
	s.mu.Unlock()
	if s.opts.Tty {
		s.startConsole()
	}
	return s.rt.start()
}

func (s *server) freeze(pause bool) error {
	var err error
	if pause {
		err = s.rt.pause()
	} else {
		err = s.rt.resume()
	}
	if err == nil {
		s.mu.Lock()
		s.paused = pause
		s.mu.Unlock()
	}
	return err
}

func (s *server) resize(exec string, h, w uint16) error {
	s.mu.Lock()
	m := s.master
	if exec != "" {
		m = nil
		if ep, ok := s.execs[exec]; ok {
			m = ep.master
		}
	}
	s.mu.Unlock()
	if m == nil {
		return errors.New("the container has no terminal")
	}
	return unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: h, Col: w})
}

// attach registers the connection for output and copies its input to the
// container's stdin.
func (s *server) attach(c net.Conn, br *bufio.Reader, req Request) {
	s.mu.Lock()
	if s.exit != nil {
		s.mu.Unlock()
		reply(c, Response{Error: "container is not running"})
		c.Close()
		return
	}
	a := &attacher{conn: c, stdout: req.Stdout, stderr: req.Stderr}
	s.attachers[a] = struct{}{}
	stdin := s.stdinW
	if s.opts.Tty && s.master != nil {
		stdin = s.master
	}
	s.mu.Unlock()
	reply(c, Response{})
	c.SetWriteDeadline(time.Time{})
	if req.Stdin && (stdin != nil || s.opts.Tty) {
		go func() {
			if stdin == nil { // a terminal not yet set up: wait for start
				for i := 0; i < 200 && stdin == nil; i++ {
					time.Sleep(10 * time.Millisecond)
					s.mu.Lock()
					stdin = s.master
					s.mu.Unlock()
				}
				if stdin == nil {
					return
				}
			}
			io.Copy(stdin, br)
			if s.opts.StdinOnce && !s.opts.Tty {
				s.mu.Lock()
				if s.stdinW != nil {
					s.stdinW.Close()
					s.stdinW = nil
				}
				s.mu.Unlock()
			}
		}()
		return
	}
	// No stdin: notice the client going away and drop it.
	go func() {
		io.Copy(io.Discard, br)
		s.mu.Lock()
		if s.attachers != nil {
			delete(s.attachers, a)
		}
		s.mu.Unlock()
		c.Close()
	}()
}

// CloseExecFrom marks every open descriptor from fd up close-on-exec, so
// that nothing a parent leaked reaches the container.
func CloseExecFrom(fd int) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err == nil && n >= fd {
			unix.CloseOnExec(n)
		}
	}
}
