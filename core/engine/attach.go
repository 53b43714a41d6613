package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/jsonlog"
	"github.com/petrel-edge/petrel/core/shim"
)

type attachResult struct {
	conn net.Conn
	br   *bufio.Reader
	err  error
}

type pendingAttach struct {
	req   shim.Request
	ready chan attachResult
}

// AttachOptions select the streams of an attach.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
}

// Stream is the client side of an attach: output from the container is
// written to it (Docker's multiplexed frames unless the container has a
// terminal), stdin read from it. CloseWrite, when the stream has it,
// ends the client's output half.
type Stream interface {
	io.ReadWriter
}

// Attach connects a client stream to the container's stdio until the
// container exits or ctx ends. A created container is attached before
// it starts, so no output is lost. onReady, if not nil, is called once
// the attach is registered.
func (e *Engine) Attach(ctx context.Context, id string, opts AttachOptions, s Stream, onReady func()) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	req := shim.Request{Op: shim.OpAttach, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr}
	c.mu.Lock()
	var res attachResult
	switch {
	case c.running() && c.shim != nil:
		cl := c.shim
		c.mu.Unlock()
		res.conn, res.br, res.err = cl.Attach(ctx, req)
		if onReady != nil {
			onReady()
		}
	case c.rec.State.Status == StatusCreated || c.rec.State.Status == StatusExited:
		p := &pendingAttach{req: req, ready: make(chan attachResult, 1)}
		c.pending = append(c.pending, p)
		c.mu.Unlock()
		if onReady != nil {
			onReady()
		}
		select {
		case res = <-p.ready:
		case <-ctx.Done():
			c.mu.Lock()
			for i, q := range c.pending {
				if q == p {
					c.pending = append(c.pending[:i], c.pending[i+1:]...)
				}
			}
			c.mu.Unlock()
			return ctx.Err()
		}
	default:
		st := c.rec.State.Status
		c.mu.Unlock()
		return errdefs.Conflict("You cannot attach to a %s container", st)
	}
	if res.err != nil {
		return res.err
	}
	defer res.conn.Close()
	stop := context.AfterFunc(ctx, func() { res.conn.Close() })
	defer stop()
	if opts.Stdin {
		go func() {
			io.Copy(res.conn, s)
			if cw, ok := res.conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	_, err = io.Copy(s, res.br)
	if err != nil && errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Resize sets the size of the container's terminal.
func (e *Engine) Resize(id string, height, width uint16) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	cl, running, tty := c.shim, c.running(), c.rec.Config.Tty
	c.mu.Unlock()
	if !running || cl == nil {
		return errdefs.Conflict("Container %s is not running", id)
	}
	if !tty {
		return errdefs.Invalid("container %s has no terminal", id)
	}
	_, err = cl.Call(e.ctx, shim.Request{Op: shim.OpResize, Height: height, Width: width})
	return err
}

// LogOptions select what Logs returns.
type LogOptions struct {
	Follow     bool
	Tail       int // < 0: all
	Since      time.Time
	Until      time.Time
	Stdout     bool
	Stderr     bool
	Timestamps bool
}

// Logs calls fn for the container's log entries; with Follow it keeps
// going until the container stops or ctx ends. It also reports whether
// the container has a terminal (its output is then one raw stream).
func (e *Engine) Logs(ctx context.Context, id string, opts LogOptions, fn func(jsonlog.Entry) error) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	path := c.rec.LogPath
	exitCh := c.exitCh
	running := c.running() || c.rec.State.Status == StatusRestarting
	c.mu.Unlock()
	if path == "" {
		return errdefs.NotSupported("configured logging driver does not support reading")
	}
	keep := func(en jsonlog.Entry) bool {
		if en.Stream == "stdout" && !opts.Stdout || en.Stream == "stderr" && !opts.Stderr {
			return false
		}
		if !opts.Since.IsZero() && en.Time.Before(opts.Since) || !opts.Until.IsZero() && en.Time.After(opts.Until) {
			return false
		}
		return true
	}
	// Open the current file first so that follow continues exactly
	// where the read of the whole log ended.
	f, err := os.Open(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	entries, err := jsonlog.ReadAll(path, -1)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return err
	}
	var kept []jsonlog.Entry
	for _, en := range entries {
		if keep(en) {
			kept = append(kept, en)
		}
	}
	if opts.Tail >= 0 && len(kept) > opts.Tail {
		kept = kept[len(kept)-opts.Tail:]
	}
	for _, en := range kept {
		if err := fn(en); err != nil {
			return err
		}
	}
	if !opts.Follow || !running {
		if f != nil {
			f.Close()
		}
		return nil
	}
	if f == nil {
		return nil
	}
	// Skip what ReadAll already returned from the current file.
	if fi, err := f.Stat(); err == nil {
		f.Seek(fi.Size(), io.SeekStart)
	}
	return follow(ctx, f, path, exitCh, func(en jsonlog.Entry) error {
		if keep(en) {
			return fn(en)
		}
		return nil
	})
}

// follow reads new entries from f as they are written, reopening path
// after a rotation, until done is closed and the file is drained.
func follow(ctx context.Context, f *os.File, path string, done <-chan struct{}, fn func(jsonlog.Entry) error) error {
	defer func() { f.Close() }()
	br := bufio.NewReader(f)
	var partial []byte
	finished := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			partial = append(partial, line...)
			if partial[len(partial)-1] == '\n' {
				var cbErr error
				jsonlog.Decode(bytes.NewReader(partial), func(en jsonlog.Entry) { cbErr = fn(en) })
				partial = partial[:0]
				if cbErr != nil {
					return cbErr
				}
			}
			continue
		}
		if err != io.EOF {
			return err
		}
		if finished {
			return nil
		}
		// Rotated? Then the path names a new file.
		if fi, err := os.Stat(path); err == nil {
			if cur, err := f.Stat(); err == nil && !os.SameFile(fi, cur) {
				nf, err := os.Open(path)
				if err == nil {
					f.Close()
					f = nf
					br.Reset(f)
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			finished = true // one more pass drains what was written last
		case <-time.After(100 * time.Millisecond):
		}
	}
}
