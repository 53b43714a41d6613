package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/jsonlog"
)

// fakeRuntime stands in for a container: start runs script on the stdio
// the shim made, wait returns its exit code, kill ends it with 128+sig.
type fakeRuntime struct {
	in, out, errw *os.File
	script        func(f *fakeRuntime) int
	exit          chan int
	deleted       bool
	updated       []*specs.LinuxResources
}

func dup(f *os.File) *os.File {
	if f == nil {
		return nil
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		panic(err)
	}
	return os.NewFile(uintptr(fd), f.Name())
}

func (r *fakeRuntime) create(io stdio) (int, error) {
	// The shim closes its copies once create returns, as a real
	// runtime's init would hold its own.
	r.in, r.out, r.errw = dup(io.in), dup(io.out), dup(io.err)
	r.exit = make(chan int, 2)
	return 4242, nil
}

func (r *fakeRuntime) start() error {
	go func() {
		code := r.script(r)
		r.out.Close()
		r.errw.Close()
		r.exit <- code
	}()
	return nil
}

func (r *fakeRuntime) wait() (int, error) { return <-r.exit, nil }
func (r *fakeRuntime) kill(sig unix.Signal, all bool) error {
	// The "process" dies: its ends of the pipes close with it.
	r.out.Close()
	r.errw.Close()
	r.exit <- 128 + int(sig)
	return nil
}
func (r *fakeRuntime) adopt(int) error { return errors.New("fake runtime: nothing to adopt") }
func (r *fakeRuntime) pause() error    { return nil }
func (r *fakeRuntime) resume() error   { return nil }
func (r *fakeRuntime) exec(p *specs.Process, st stdio) (int, func() (int, error), error) {
	out, in := dup(st.out), dup(st.in)
	done := make(chan int, 1)
	go func() {
		// echo the arguments, then stdin
		out.WriteString(strings.Join(p.Args, " ") + "\n")
		io.Copy(out, in)
		out.Close()
		done <- len(p.Args)
	}()
	return 4343, func() (int, error) { return <-done, nil }, nil
}

func (r *fakeRuntime) delete() error { r.deleted = true; return nil }

func (r *fakeRuntime) update(res *specs.LinuxResources) error {
	if res.Pids != nil && res.Pids.Limit == 13 {
		return errors.New("the runtime refused")
	}
	r.updated = append(r.updated, res)
	return nil
}

// demuxFrames splits an attach stream into stdout and stderr.
func demuxFrames(t *testing.T, r io.Reader) (string, string) {
	var out, errb bytes.Buffer
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return out.String(), errb.String()
		}
		w := &out
		if hdr[0] == StreamStderr {
			w = &errb
		} else if hdr[0] != StreamStdout {
			t.Fatalf("bad stream byte %d", hdr[0])
		}
		if _, err := io.CopyN(w, r, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShimLifecycle(t *testing.T) {
	tests := []struct {
		name       string
		script     func(f *fakeRuntime) int
		kill       bool
		stdin      string
		wantOut    string
		wantErr    string
		wantCode   int
		wantLogged int
	}{
		{"echo stdin and exit", func(f *fakeRuntime) int {
			f.out.WriteString("hello\n")
			f.errw.WriteString("oops\n")
			line, _ := bufio.NewReader(f.in).ReadString('\n')
			f.out.WriteString("got " + line)
			return 3
		}, false, "ping\n", "hello\ngot ping\n", "oops\n", 3, 3},
		{"killed", func(f *fakeRuntime) int {
			f.out.WriteString("running\n")
			io.Copy(io.Discard, f.in) // until the shim closes stdin
			return 0
		}, true, "", "running\n", "", 137, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			readyR, readyW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{
				ID: "c1", Bundle: dir, RuntimeRoot: dir, Socket: filepath.Join(dir, "s.sock"),
				ExitFile: filepath.Join(dir, "exit.json"), LogFile: filepath.Join(dir, "c1-json.log"),
				LogMaxFile: 1, Stdin: true, StdinOnce: true, Ready: readyW,
			}
			rt := &fakeRuntime{script: tc.script}
			served := make(chan error, 1)
			go func() { served <- serve(opts, rt) }()
			line, err := bufio.NewReader(readyR).ReadString('\n')
			if err != nil || !strings.Contains(line, `"pid":4242`) {
				t.Fatalf("ready line %q, %v", line, err)
			}
			ctx := context.Background()
			cl := &Client{Socket: opts.Socket}
			if r, err := cl.Call(ctx, Request{Op: OpState}); err != nil || r.Status != "created" {
				t.Fatalf("state before start: %+v, %v", r, err)
			}
			conn, br, err := cl.Attach(ctx, Request{Stdin: true, Stdout: true, Stderr: true})
			if err != nil {
				t.Fatal(err)
			}
			conn.Write([]byte(tc.stdin))
			if !tc.kill {
				conn.(interface{ CloseWrite() error }).CloseWrite()
			}
			waiter, err := cl.StartWait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Call(ctx, Request{Op: OpStart}); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Call(ctx, Request{Op: OpStart}); err == nil {
				t.Error("a second start was accepted")
			}
			if tc.kill {
				// Kill once the output shows the process runs.
				var hdr [8]byte
				io.ReadFull(br, hdr[:])
				buf := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
				io.ReadFull(br, buf)
				if _, err := cl.Call(ctx, Request{Op: OpKill, Signal: 9}); err != nil {
					t.Fatal(err)
				}
				conn.(interface{ CloseWrite() error }).CloseWrite()
				br = bufio.NewReader(io.MultiReader(bytes.NewReader(append(hdr[:], buf...)), br))
			}
			out, errs := demuxFrames(t, br)
			if out != tc.wantOut || errs != tc.wantErr {
				t.Errorf("attach stdout %q stderr %q, want %q %q", out, errs, tc.wantOut, tc.wantErr)
			}
			r, err := waiter()
			if err != nil || r.Exit == nil || r.Exit.Code != tc.wantCode || r.Status != "stopped" {
				t.Fatalf("wait: %+v, %v", r, err)
			}
			// Gone before anyone learns of the exit: a start that comes
			// at once makes the next shim listen there.
			if _, err := os.Lstat(opts.Socket); err == nil {
				t.Error("the socket was still there when the waiter learned of the exit")
			}
			if err := <-served; err != nil {
				t.Fatal(err)
			}
			ex, err := ReadExit(opts.ExitFile)
			if err != nil || ex.Code != tc.wantCode || ex.Pid != 4242 {
				t.Errorf("exit file: %+v, %v", ex, err)
			}
			es, err := jsonlog.ReadAll(opts.LogFile, -1)
			if err != nil || len(es) != tc.wantLogged {
				t.Errorf("log: %d entries (%v), want %d", len(es), err, tc.wantLogged)
			}
			if !rt.deleted {
				t.Error("runtime state not deleted")
			}
			if _, err := os.Stat(opts.Socket); err == nil {
				t.Error("socket left behind")
			}
			if _, err := cl.Call(ctx, Request{Op: OpState}); !errors.Is(err, ErrGone) {
				t.Errorf("state after exit: %v, want ErrGone", err)
			}
		})
	}
}

func TestCreateFailureReported(t *testing.T) {
	dir := t.TempDir()
	readyR, readyW, _ := os.Pipe()
	long := filepath.Join(dir, strings.Repeat("x", 120))
	err := serve(Options{ID: "c", Socket: long, ExitFile: filepath.Join(dir, "e"), Ready: readyW}, &fakeRuntime{})
	if err == nil {
		t.Fatal("a socket path over 107 bytes was accepted")
	}
	line, _ := bufio.NewReader(readyR).ReadString('\n')
	if !strings.Contains(line, `"error":"shim socket path`) {
		t.Errorf("ready line %q", line)
	}
}

func TestShimExec(t *testing.T) {
	dir := t.TempDir()
	opts := Options{ID: "c2", Bundle: dir, RuntimeRoot: dir, Socket: filepath.Join(dir, "s.sock"), ExitFile: filepath.Join(dir, "exit.json"), Stdin: true}
	rt := &fakeRuntime{script: func(f *fakeRuntime) int {
		io.Copy(io.Discard, f.in)
		return 0
	}}
	served := make(chan error, 1)
	go func() { served <- serve(opts, rt) }()
	ctx := context.Background()
	cl := &Client{Socket: opts.Socket}
	for {
		if _, err := cl.Call(ctx, Request{Op: OpState}); err == nil {
			break
		}
	}
	exec := Request{Exec: "e1", Process: &specs.Process{Args: []string{"echo", "a", "b"}, Cwd: "/"}, Stdin: true, Stdout: true, Stderr: true}
	if _, _, err := cl.Exec(ctx, exec); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("exec before start: %v", err)
	}
	if _, err := cl.Call(ctx, Request{Op: OpStart}); err != nil {
		t.Fatal(err)
	}
	conn, br, err := cl.Exec(ctx, exec)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("xyz"))
	conn.(interface{ CloseWrite() error }).CloseWrite()
	out, errs := demuxFrames(t, br)
	conn.Close()
	if out != "echo a b\nxyz" || errs != "" {
		t.Errorf("exec output %q %q", out, errs)
	}
	r, err := cl.Call(ctx, Request{Op: OpExecState, Exec: "e1"})
	if err != nil || r.Exit == nil || r.Exit.Code != 3 || r.Pid != 4343 {
		t.Errorf("exec-state %+v, %v", r, err)
	}
	// Once its exit was told, the exec is forgotten.
	if _, err := cl.Call(ctx, Request{Op: OpExecState, Exec: "e1"}); err == nil {
		t.Error("exec-state of a reported exec succeeded again")
	}
	cl.Call(ctx, Request{Op: OpKill, Signal: 9})
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// update passes the resources to the runtime of a running container
// and reports the runtime's refusal.
func TestShimUpdate(t *testing.T) {
	dir := t.TempDir()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{ID: "c1", Bundle: dir, RuntimeRoot: dir, Socket: filepath.Join(dir, "s.sock"),
		ExitFile: filepath.Join(dir, "exit.json"), LogMaxFile: 1, Ready: readyW}
	rt := &fakeRuntime{script: func(f *fakeRuntime) int { select {} }}
	served := make(chan error, 1)
	go func() { served <- serve(opts, rt) }()
	if _, err := bufio.NewReader(readyR).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cl := &Client{Socket: opts.Socket}
	waiter, err := cl.StartWait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Call(ctx, Request{Op: OpStart}); err != nil {
		t.Fatal(err)
	}
	limit := int64(64 << 20)
	if _, err := cl.Call(ctx, Request{Op: OpUpdate, Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if _, err := cl.Call(ctx, Request{Op: OpUpdate}); err == nil || !strings.Contains(err.Error(), "no resources") {
		t.Errorf("update without resources: %v", err)
	}
	if _, err := cl.Call(ctx, Request{Op: OpUpdate, Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: 13}}}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("refused update: %v", err)
	}
	if len(rt.updated) != 1 || *rt.updated[0].Memory.Limit != limit {
		t.Errorf("runtime got %+v", rt.updated)
	}
	cl.Call(ctx, Request{Op: OpKill, Signal: 9})
	waiter()
	<-served
}

// exitAtStart is a container whose process exits the moment it starts,
// while its runtime's start has yet to return (lcr's Start still removes
// the exec fifo then).
type exitAtStart struct {
	*fakeRuntime
	deleted chan struct{}
	release chan struct{}
}

func (r *exitAtStart) start() error {
	r.out.Close()
	r.errw.Close()
	r.exit <- 0
	<-r.deleted
	<-r.release
	return nil
}

func (r *exitAtStart) delete() error { close(r.deleted); return nil }

// The shim does not exit before it has answered a start, even when the
// container is gone by then.
func TestStartAnsweredBeforeExit(t *testing.T) {
	dir := t.TempDir()
	opts := Options{ID: "c3", Bundle: dir, RuntimeRoot: dir, Socket: filepath.Join(dir, "s.sock"), ExitFile: filepath.Join(dir, "exit.json")}
	rt := &exitAtStart{fakeRuntime: &fakeRuntime{}, deleted: make(chan struct{}), release: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- serve(opts, rt) }()
	ctx := context.Background()
	cl := &Client{Socket: opts.Socket}
	for {
		if _, err := cl.Call(ctx, Request{Op: OpState}); err == nil {
			break
		}
	}
	answer := make(chan error, 1)
	go func() {
		_, err := cl.Call(ctx, Request{Op: OpStart})
		answer <- err
	}()
	<-rt.deleted
	select {
	case err := <-served:
		t.Errorf("the shim finished (%v) while its answer to start was pending", err)
		served <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(rt.release)
	if err := <-answer; err != nil {
		t.Errorf("start: %v, want an answer", err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}
