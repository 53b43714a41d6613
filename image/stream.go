package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/petrel-edge/petrel/image/content"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/snapshot"
)

// Layers whose diffs are independent (the overlay driver) are pulled in
// parallel, each unpacked while it downloads:
//
//	registry ──FetchBlob──▶ teeWriter ──▶ content.Writer (ingest file, digest)
//	                            │
//	                            └──pipe──▶ unpack.Apply (temporary dir)
//
// The unpacked layer becomes visible only after the blob's digest checked
// out (the verify step of UnpackVerified). A resumed transfer (HTTP Range)
// keeps feeding the same pipe; a transfer that starts over (the registry
// ignored the Range) breaks the pipe, and the layer is unpacked again from
// the stored blob once it is complete.

var errRestart = errors.New("transfer started over")

// teeWriter copies what the download writes into the pipe of the unpacker,
// until the pipe breaks; the content writer always gets everything.
type teeWriter struct {
	w      *content.Writer
	pw     *io.PipeWriter
	mu     sync.Mutex
	broken bool
	reason error
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if n > 0 && !t.isBroken() {
		if _, perr := t.pw.Write(p[:n]); perr != nil {
			t.breakPipe(perr)
		}
	}
	return n, err
}

func (t *teeWriter) Offset() int64 { return t.w.Offset() }

func (t *teeWriter) Truncate() error {
	t.breakPipe(errRestart)
	return t.w.Truncate()
}

func (t *teeWriter) isBroken() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.broken
}

// restarted reports whether the transfer started over and so broke the
// stream of the unpacker.
func (t *teeWriter) restarted() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Is(t.reason, errRestart)
}

func (t *teeWriter) breakPipe(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.broken {
		t.broken, t.reason = true, err
		t.pw.CloseWithError(err)
	}
}

// layersParallel is layers for independent diffs.
func (p *puller) layersParallel(ctx context.Context, layers []Layer) (size int64, created, staged []digest.Digest, err error) {
	s := p.s
	todo := make([]bool, len(layers))
	for i, l := range layers {
		if s.snaps.Has(l.ChainID) {
			p.report(l.Digest, StatusExists, 0, 0)
			if sl, err := s.snaps.Get(l.ChainID); err == nil {
				size += sl.Size
			}
			continue
		}
		todo[i] = true
		p.report(l.Digest, StatusWaiting, 0, l.Size)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		size          int64
		made, fetched bool
		err           error
	}
	results := make([]result, len(layers))
	sem := make(chan struct{}, s.maxDL)
	var wg sync.WaitGroup
	for i, l := range layers {
		if !todo[i] {
			continue
		}
		var parent digest.Digest
		if i > 0 {
			parent = layers[i-1].ChainID
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			r.size, r.made, r.fetched, r.err = p.fetchAndUnpack(ctx, l, parent)
			if r.err != nil {
				r.err = fmt.Errorf("layer %s: %w", l.Digest.Short(), r.err)
				cancel()
				return
			}
			p.report(l.Digest, StatusComplete, 0, 0)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.made {
			created = append(created, layers[i].ChainID)
		}
		if r.fetched {
			staged = append(staged, layers[i].Digest)
		}
		size += r.size
		// The first real error, not the cancellations it caused.
		if r.err != nil && (err == nil || errors.Is(err, context.Canceled) && !errors.Is(r.err, context.Canceled)) {
			err = r.err
		}
	}
	return size, created, staged, err
}

// fetchAndUnpack downloads a layer and unpacks it as it arrives. It
// returns the unpacked size and whether it made the layer and committed
// the blob.
func (p *puller) fetchAndUnpack(ctx context.Context, l Layer, parent digest.Digest) (size int64, made, fetched bool, err error) {
	s := p.s
	if s.content.Has(l.Digest) {
		size, made, err = p.unpack(l, parent)
		return size, made, false, err
	}
	if p.ref.Domain == "" {
		return 0, false, false, fmt.Errorf("blob %s: %w", l.Digest, content.ErrNotFound)
	}
	w, err := s.content.Writer(l.Digest, l.Size)
	if err != nil || w.Offset() > 0 {
		// Another pull fetches it, or an earlier one left part of it:
		// download first, then unpack from the store.
		if w != nil {
			w.Close()
		}
		if err != nil && !errors.Is(err, content.ErrLocked) {
			return 0, false, false, err
		}
		if fetched, err = p.fetch(ctx, l); err != nil {
			return 0, false, fetched, err
		}
		size, made, err = p.unpack(l, parent)
		return size, made, fetched, err
	}

	dctx, dcancel := context.WithCancel(ctx)
	defer dcancel()
	pr, pw := io.Pipe()
	tee := &teeWriter{w: w, pw: pw}
	dlDone := make(chan struct{})
	var dlErr error
	go func() {
		defer close(dlDone)
		desc := manifest.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		err := p.registry().FetchBlob(dctx, p.ref, desc, tee, func(n int64) { p.report(l.Digest, StatusDownload, n, l.Size) })
		if err != nil {
			w.Close()
			tee.breakPipe(err)
			dlErr = err
			return
		}
		pw.Close() // every byte is in the pipe: EOF for the unpacker
		if dlErr = w.Commit(); dlErr == nil {
			p.report(l.Digest, StatusDownloaded, l.Size, l.Size)
		}
	}()
	verify := func() error {
		io.Copy(io.Discard, pr) // what the unpacker left after the archive
		<-dlDone
		return dlErr
	}
	r := &progressReader{r: pr, fn: func(n int64) { p.report(l.Digest, StatusExtract, n, l.Size) }}
	sl, uerr := s.snaps.UnpackVerified(l.ChainID, parent, l.DiffID, r, verify)
	exists := errors.Is(uerr, snapshot.ErrExists) // another pull made it meanwhile
	if uerr != nil && !exists && !tee.isBroken() {
		dcancel() // the layer is refused: stop its transfer
	}
	pr.CloseWithError(errors.New("unpack ended"))
	<-dlDone
	switch {
	case uerr == nil:
		return sl.Size, true, true, nil
	case exists:
		sl, _ := s.snaps.Get(l.ChainID)
		return sl.Size, false, dlErr == nil, dlErr
	case dlErr != nil && !errors.Is(dlErr, context.Canceled):
		return 0, false, false, dlErr
	case dlErr == nil && tee.restarted():
		// The transfer started over and broke the stream: unpack the
		// complete, verified blob instead.
		size, made, err = p.unpack(l, parent)
		return size, made, true, err
	}
	return 0, false, dlErr == nil, uerr
}
