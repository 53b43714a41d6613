package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/container"
)

// ErrGone is returned when the shim's socket is gone: the shim has
// exited (its exit file tells how the container ended) or never ran.
var ErrGone = errors.New("shim is gone")

// Client talks to one shim over its socket.
type Client struct {
	Socket string
}

// CallTimeout bounds a request other than wait when the caller's
// context has no deadline: a shim that does not answer (stuck in its
// runtime) must not hang the daemon.
const CallTimeout = 30 * time.Second

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: %w", c.Socket, ErrGone)
		}
		return nil, fmt.Errorf("dial shim: %w", err)
	}
	return conn, nil
}

// Call sends one request and returns the answer; a request the shim
// refused comes back as an error.
func (c *Client) Call(ctx context.Context, req Request) (Response, error) {
	return c.CallNotify(ctx, req, nil)
}

// CallNotify is Call that also reports on sent (when not nil) once the
// request is written or has failed, before the answer comes: a wait
// registered before a start cannot miss the exit.
func (c *Client) CallNotify(ctx context.Context, req Request, sent chan<- error) (Response, error) {
	notify := func(err error) {
		if sent != nil {
			sent <- err
			sent = nil
		}
	}
	defer notify(nil)
	if _, ok := ctx.Deadline(); !ok && req.Op != OpWait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, CallTimeout)
		defer cancel()
	}
	conn, err := c.dial(ctx)
	if err != nil {
		notify(err)
		return Response{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		err = fmt.Errorf("shim %s: %w", req.Op, err)
		notify(err)
		return Response{}, err
	}
	notify(nil)
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		return Response{}, fmt.Errorf("shim %s: no answer: %w", req.Op, ErrGone)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// StartWait sends a wait request now, so that no exit after this call
// is missed, and returns a function that blocks for its answer.
func (c *Client) StartWait(ctx context.Context) (func() (Response, error), error) {
	type result struct {
		r   Response
		err error
	}
	ch := make(chan result, 1)
	sent := make(chan error, 1)
	go func() {
		r, err := c.CallNotify(ctx, Request{Op: OpWait}, sent)
		ch <- result{r, err}
	}()
	if err := <-sent; err != nil {
		return nil, err
	}
	return func() (Response, error) {
		res := <-ch
		return res.r, res.err
	}, nil
}

// Attach opens an attach stream; the caller reads output from the
// returned reader and writes stdin to the connection.
func (c *Client) Attach(ctx context.Context, req Request) (net.Conn, *bufio.Reader, error) {
	req.Op = OpAttach
	return c.stream(ctx, req)
}

// Exec starts an exec and returns its stream, as Attach; the stream ends
// once the process has exited (ask exec-state for its exit code).
func (c *Client) Exec(ctx context.Context, req Request) (net.Conn, *bufio.Reader, error) {
	req.Op = OpExec
	return c.stream(ctx, req)
}

func (c *Client) stream(ctx context.Context, req Request) (net.Conn, *bufio.Reader, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("shim %s: %w", req.Op, err)
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("shim %s: %w", req.Op, ErrGone)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil || resp.Error != "" {
		conn.Close()
		if err == nil {
			err = errors.New(resp.Error)
		}
		return nil, nil, err
	}
	return conn, br, nil
}

// ReadExit reads a recorded exit file.
func ReadExit(path string) (*Exit, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var e Exit
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("exit file %s: %w", path, err)
	}
	return &e, nil
}

// SpawnOptions launch a shim (Launch).
type SpawnOptions struct {
	Options
	Binary string   // the petrel binary; "" for /proc/self/exe
	Log    *os.File // the shim's own stderr
}

// Launched is a shim started ahead of its container: it goes through the
// Go runtime's start (a large part of a start's time) while the daemon
// still mounts the rootfs, sets the network up and writes the spec, then
// waits for Create, Fork or Abort (see launch.go for the protocol).
type Launched struct {
	cmd    *exec.Cmd
	readyR *os.File
	ctl    *os.File // the control socket
}

// Launch starts a detached shim (own session, so it outlives the daemon)
// that waits for the daemon's word. The caller then calls Create, or Fork
// and Created, or Abort.
func Launch(opts SpawnOptions) (*Launched, error) {
	return spawn(opts.Binary, opts.args(), opts.Log, false)
}

// args is the shim's command line for opts, its control socket at fd 4.
func (opts SpawnOptions) args() []string {
	o := opts.Options
	args := []string{"petrel-shim", "--id", o.ID, "--bundle", o.Bundle, "--runtime-root", o.RuntimeRoot,
		"--socket", o.Socket, "--exit-file", o.ExitFile, "--control-fd", "4"}
	if o.Runtime != "" {
		args = append(args, "--runtime", o.Runtime)
	}
	for _, a := range o.RuntimeArgs {
		args = append(args, "--runtime-arg", a)
	}
	if o.LogFile != "" {
		args = append(args, "--log-file", o.LogFile, "--log-max-size", strconv.FormatInt(o.LogMaxSize, 10),
			"--log-max-file", strconv.Itoa(o.LogMaxFile))
	}
	if o.Stdin {
		args = append(args, "--stdin")
	}
	if o.StdinOnce {
		args = append(args, "--stdin-once")
	}
	if o.Tty {
		args = append(args, "--tty")
	}
	return args
}

// spawn starts bin ("" for /proc/self/exe) as a detached shim with args,
// the readiness pipe at fd 3 and the control socket at fd 4; stderr nil
// for /dev/null. idle starts it under SCHED_IDLE (a spare: spare.go).
func spawn(bin string, args []string, stderr *os.File, idle bool) (*Launched, error) {
	if bin == "" {
		bin = "/proc/self/exe"
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		readyR.Close()
		readyW.Close()
		return nil, fmt.Errorf("shim control socket: %w", err)
	}
	ctl, ctlShim := os.NewFile(uintptr(fds[0]), "shim-control"), os.NewFile(uintptr(fds[1]), "control")
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		readyR.Close()
		readyW.Close()
		ctl.Close()
		ctlShim.Close()
		return nil, err
	}
	defer null.Close()
	if stderr == nil {
		stderr = null
	}
	// GOMAXPROCS in the environment, not only Tune's call: the runtime
	// then starts with one P and one mcache of spans, not one per CPU.
	cmd := &exec.Cmd{
		Path: bin, Args: args,
		Stdin: null, Stdout: null, Stderr: stderr,
		ExtraFiles:  []*os.File{readyW, ctlShim},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
		Env:         []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GOGC=20", "GOMAXPROCS=1", "GODEBUG=memprofilerate=0"},
	}
	if v, ok := os.LookupEnv("PETREL_SHIM_REEXEC"); ok {
		cmd.Env = append(cmd.Env, "PETREL_SHIM_REEXEC="+v) // petreld's, for comparisons
	}
	if idle {
		err = startIdle(cmd)
	} else {
		err = cmd.Start()
	}
	readyW.Close()
	ctlShim.Close()
	if err != nil {
		readyR.Close()
		ctl.Close()
		return nil, fmt.Errorf("start shim: %w", err)
	}
	return &Launched{cmd: cmd, readyR: readyR, ctl: ctl}, nil
}

// Create tells the shim to create the container and waits until it has.
// It returns the shim's process, which the caller must reap, and the
// init's pid.
func (l *Launched) Create() (*os.Process, int, error) {
	// A shim that already failed (its error is on the ready pipe) has
	// closed its end: the send fails and the answer below says why.
	sendControl(l.ctl, ctlGo, nil)
	proc, resp, err := l.ready()
	return proc, resp.Pid, err
}

// Fork asks the shim to fork a container's init (container.CreateOptions'
// Fork) and returns its pid; console, with a terminal, is the socket the
// daemon's end sends the pty master to. Created or Abort follows.
func (l *Launched) Fork(req *container.ForkRequest, console *os.File) (int, error) {
	b, err := req.MarshalBinary()
	if err != nil {
		return 0, err
	}
	files := []*os.File{req.Sync, req.Fifo}
	if console != nil {
		files = append(files, console)
	}
	if err := sendControl(l.ctl, ctlFork, b, files...); err != nil {
		return 0, l.failed(err)
	}
	op, payload, fds, err := recvControl(l.ctl)
	for _, f := range fds {
		f.Close()
	}
	if err != nil || op != ctlForked {
		return 0, l.failed(err)
	}
	var r forkReply
	if err := json.Unmarshal(payload, &r); err != nil {
		return 0, fmt.Errorf("shim's fork answer: %w", err)
	}
	if r.Error != "" {
		return 0, errors.New(r.Error)
	}
	return r.Pid, nil
}

// failed is the error of a shim that stopped answering: what it put on
// the ready pipe, if anything.
func (l *Launched) failed(err error) error {
	var resp Response
	if json.NewDecoder(l.readyR).Decode(&resp) == nil && resp.Error != "" {
		return errors.New(resp.Error)
	}
	if err == nil {
		err = errors.New("no answer")
	}
	return fmt.Errorf("shim exited before forking the init (see its log): %w", err)
}

// Created tells a shim that forked the init that the container is made
// around it, and waits until it has taken it on, as Create. handover is
// the container's Handover, or nil for the shim to read its state.
func (l *Launched) Created(handover []byte) (*os.Process, int, error) {
	sendControl(l.ctl, ctlCreated, handover)
	proc, resp, err := l.ready()
	return proc, resp.Pid, err
}

// CreatedStart is Created that also has the shim start the container
// before it answers: for a start that no attach waits on. A failed start
// is startErr: the container exists then, and the caller kills it.
func (l *Launched) CreatedStart(handover []byte) (proc *os.Process, pid int, startErr, err error) {
	sendControl(l.ctl, ctlCreatedStart, handover)
	proc, resp, err := l.ready()
	switch {
	case err != nil:
		return nil, 0, nil, err
	case resp.StartError != "":
		startErr = errors.New(resp.StartError)
	case !resp.Started:
		startErr = errors.New("the shim did not start the container")
	}
	return proc, resp.Pid, startErr, nil
}

func (l *Launched) ready() (*os.Process, Response, error) {
	defer l.readyR.Close()
	defer l.ctl.Close()
	var resp Response
	if err := json.NewDecoder(l.readyR).Decode(&resp); err != nil {
		l.cmd.Wait()
		return nil, resp, errors.New("shim exited before creating the container (see its log)")
	}
	if resp.Error != "" {
		l.cmd.Wait()
		return nil, resp, errors.New(resp.Error)
	}
	return l.cmd.Process, resp, nil
}

// Abort makes the shim exit without creating the container, and reaps
// it: an error means it did not exit cleanly.
func (l *Launched) Abort() error {
	l.ctl.Close()
	l.readyR.Close()
	return l.cmd.Wait()
}
