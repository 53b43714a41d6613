package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/reference"
)

// A BlobWriter receives a blob download. It may already hold the first
// Offset bytes from an interrupted download; the client then asks the
// registry for the rest only. content.Writer implements it.
type BlobWriter interface {
	io.Writer
	Offset() int64
	Truncate() error
}

var errStalled = errors.New("transfer stalled")

func (c *Client) retries() int {
	if c.cfg.Retries > 0 {
		return c.cfg.Retries
	}
	return 5
}

func (c *Client) backoff(n int) time.Duration {
	if c.cfg.Backoff != nil {
		return c.cfg.Backoff(n)
	}
	d := 500 * time.Millisecond << min(n-1, 6)
	return min(d, 30*time.Second)
}

func (c *Client) stallTimeout() time.Duration {
	if c.cfg.StallTimeout > 0 {
		return c.cfg.StallTimeout
	}
	return 60 * time.Second
}

// FetchBlob downloads blob desc of repository ref into w, continuing
// after w.Offset() with an HTTP Range request when w already holds data.
// Broken or stalled transfers are retried with backoff, keeping what
// arrived; progress, if not nil, is called with the bytes held so far.
// FetchBlob does not verify the digest: the writer's Commit does.
func (c *Client) FetchBlob(ctx context.Context, ref reference.Reference, desc manifest.Descriptor, w BlobWriter, progress func(done int64)) error {
	failures := 0
	for {
		before := w.Offset()
		err := c.fetchBlobOnce(ctx, ref, desc, w, progress)
		if err == nil {
			return nil
		}
		if !retryable(ctx, err) {
			return fmt.Errorf("fetch blob %s: %w", desc.Digest, err)
		}
		if w.Offset() > before {
			failures = 0 // the link works, if badly: keep going
		}
		failures++
		if failures > c.retries() {
			return fmt.Errorf("fetch blob %s: giving up after %d attempts: %w", desc.Digest, failures, err)
		}
		t := time.NewTimer(c.backoff(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("fetch blob %s: %w", desc.Digest, ctx.Err())
		case <-t.C:
		}
	}
}

func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.temporary()
	}
	var ve *verifyError
	return !errors.As(err, &ve)
}

// verifyError marks answers that no retry can fix.
type verifyError struct{ err error }

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

func (c *Client) fetchBlobOnce(ctx context.Context, ref reference.Reference, desc manifest.Descriptor, w BlobWriter, progress func(int64)) error {
	off := w.Offset()
	if desc.Size > 0 && off == desc.Size {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var hdr http.Header
	if off > 0 {
		hdr = http.Header{"Range": {"bytes=" + strconv.FormatInt(off, 10) + "-"}}
	}
	resp, err := c.do(ctx, ref.Domain, pullScope(ref), ref.Path+"/blobs/"+string(desc.Digest), hdr)
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusRequestedRangeNotSatisfiable {
			if terr := w.Truncate(); terr != nil {
				return &verifyError{terr}
			}
		}
		return err
	}
	defer resp.Body.Close()
	if total := servedSize(resp); total >= 0 && desc.Size > 0 && total != desc.Size {
		return &verifyError{fmt.Errorf("%w: the registry serves %d bytes for a blob of %d", ErrSizeMismatch, total, desc.Size)}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if off > 0 { // the server ignored the Range: start over
			if err := w.Truncate(); err != nil {
				return &verifyError{err}
			}
		}
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			if err := w.Truncate(); err != nil {
				return &verifyError{err}
			}
			return fmt.Errorf("registry answered range %q for bytes=%d-", resp.Header.Get("Content-Range"), off)
		}
	default:
		return &verifyError{fmt.Errorf("unexpected status %s", resp.Status)}
	}
	body := newStallReader(resp.Body, c.stallTimeout(), cancel)
	defer body.stop()
	buf := make([]byte, 64<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return &verifyError{err}
			}
			if progress != nil {
				progress(w.Offset())
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
				return cause
			}
			return rerr
		}
	}
	if desc.Size > 0 && w.Offset() < desc.Size {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// servedSize returns the whole blob's size as the answer states it, or -1.
func servedSize(resp *http.Response) int64 {
	if resp.StatusCode == http.StatusOK {
		return resp.ContentLength
	}
	v := resp.Header.Get("Content-Range")
	if i := strings.LastIndexByte(v, '/'); i >= 0 {
		if n, err := strconv.ParseInt(v[i+1:], 10, 64); err == nil {
			return n
		}
	}
	return -1
}

// contentRangeStart parses "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, bool) {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// A stallReader cancels the transfer when no byte arrives for a while.
type stallReader struct {
	r       io.Reader
	timeout time.Duration
	t       *time.Timer
}

func newStallReader(r io.Reader, timeout time.Duration, cancel context.CancelCauseFunc) *stallReader {
	s := &stallReader{r: r, timeout: timeout}
	s.t = time.AfterFunc(timeout, func() { cancel(errStalled) })
	return s
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.t.Reset(s.timeout)
	}
	return n, err
}

func (s *stallReader) stop() { s.t.Stop() }
