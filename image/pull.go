package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/petrel-edge/petrel/image/content"
	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/reference"
	"github.com/petrel-edge/petrel/image/registry"
	"github.com/petrel-edge/petrel/image/snapshot"
)

// Progress statuses, as docker pull shows them.
const (
	StatusExists     = "Already exists"
	StatusWaiting    = "Waiting"
	StatusDownload   = "Downloading"
	StatusDownloaded = "Download complete"
	StatusExtract    = "Extracting"
	StatusComplete   = "Pull complete"
)

// Progress is one update about one layer of a pull.
type Progress struct {
	ID      string // short layer digest
	Digest  digest.Digest
	Status  string
	Current int64
	Total   int64
}

// PullOptions tune Pull.
type PullOptions struct {
	// Platform overrides the store's platform (--platform).
	Platform *manifest.Platform
	// Progress, if set, receives per-layer updates, one call at a time.
	Progress func(Progress)
	// Username and Password, if set, log in to the registry for this
	// pull instead of the stored credentials.
	Username, Password string
}

// Pull fetches name from its registry and stores it: the manifest (for
// the platform, from an index if there is one), the config and the layers,
// each verified against its digest, layers unpacked once per chain ID.
// Layers download concurrently (bounded), resume after a broken
// connection, and are unpacked in order as they arrive. On any error the
// store is left as it was (downloaded blobs stay in the ingest area for a
// later resume).
func (s *Store) Pull(ctx context.Context, name string, opt PullOptions) (*Image, error) {
	ref, err := reference.Parse(name)
	if err != nil {
		return nil, err
	}
	img, err := s.pull(ctx, ref, opt)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	return img, nil
}

type puller struct {
	s        *Store
	ref      reference.Reference
	progress func(Progress)
	reg      *registry.Client // nil for the store's
	mu       sync.Mutex       // serialises progress calls
}

// registry is the client of this pull.
func (p *puller) registry() *registry.Client {
	if p.reg != nil {
		return p.reg
	}
	return p.s.reg
}

func (p *puller) report(d digest.Digest, status string, cur, total int64) {
	if p.progress == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.progress(Progress{ID: d.Short(), Digest: d, Status: status, Current: cur, Total: total})
}

func (s *Store) pull(ctx context.Context, ref reference.Reference, opt PullOptions) (*Image, error) {
	want := s.platform
	if opt.Platform != nil {
		want = opt.Platform.Normalize()
	}
	p := &puller{s: s, ref: ref, progress: opt.Progress}
	if opt.Username != "" {
		p.reg = s.reg.WithLogin(opt.Username, opt.Password)
	}
	top, body, err := p.registry().Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	var index *manifest.Descriptor
	var indexBody []byte
	mdesc := top
	if manifest.IsIndex(top.MediaType) {
		x, err := manifest.ParseIndex(body)
		if err != nil {
			return nil, err
		}
		sel, err := manifest.Select(x, want)
		if err != nil {
			return nil, err
		}
		index, indexBody = &top, body
		mdesc, body, err = p.registry().Resolve(ctx, ref.WithDigest(sel.Digest))
		if err != nil {
			return nil, err
		}
		if !manifest.IsManifest(mdesc.MediaType) {
			return nil, fmt.Errorf("index entry %s is a %s, not an image manifest", sel.Digest, mdesc.MediaType)
		}
		mdesc.Platform = sel.Platform
	}
	names := []string{ref.WithDigest(top.Digest).String()}
	if ref.Tag != "" {
		names = append(names, ref.WithTag(ref.Tag).String())
	}
	return s.create(ctx, p, source{mdesc: mdesc, mbody: body, index: index, ibody: indexBody,
		names: names, checkPlatform: index == nil, want: want})
}

// A source is a manifest to make an image from.
type source struct {
	mdesc         manifest.Descriptor
	mbody         []byte
	index         *manifest.Descriptor // the index mdesc was chosen from
	ibody         []byte
	names         []string // full references to point at the image
	checkPlatform bool     // refuse an image for another platform than want
	want          manifest.Platform
}

// create makes the image of src: config and layer blobs come from the
// content store or, for a pull, the registry; missing layers are unpacked;
// then the record is written and the names point at it. On error the
// store is as it was.
func (s *Store) create(ctx context.Context, p *puller, src source) (*Image, error) {
	m, err := manifest.ParseManifest(src.mbody)
	if err != nil {
		return nil, err
	}
	cfgBytes, err := s.content.ReadAll(m.Config.Digest, manifest.MaxManifestSize)
	if err != nil {
		if p.ref.Domain == "" {
			return nil, fmt.Errorf("image config %s: %w", m.Config.Digest, err)
		}
		if cfgBytes, err = p.registry().FetchSmall(ctx, p.ref, m.Config, manifest.MaxManifestSize); err != nil {
			return nil, err
		}
	}
	cfg, err := manifest.ParseImage(cfgBytes)
	if err != nil {
		return nil, err
	}
	have := manifest.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}.Normalize()
	if src.checkPlatform && !manifest.Matches(src.want, have) {
		return nil, fmt.Errorf("%w: the image is for %s only, not %s", ErrPlatform, have, src.want)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("%w: manifest has %d layers but the config %d diff IDs", manifest.ErrInvalid, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	chain := manifest.ChainIDs(cfg.RootFS.DiffIDs)
	layers := make([]Layer, len(m.Layers))
	leased := []digest.Digest{m.Config.Digest, src.mdesc.Digest}
	for i, l := range m.Layers {
		layers[i] = Layer{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size, DiffID: cfg.RootFS.DiffIDs[i], ChainID: chain[i]}
		leased = append(leased, l.Digest, chain[i])
	}
	release := s.lease(leased...)
	defer release()

	layersFn := p.layers
	if !s.snaps.ParentFirst() {
		layersFn = p.layersParallel
	}
	size, created, staged, err := layersFn(ctx, layers)
	if err != nil {
		s.rollback(created, staged)
		return nil, err
	}
	img := &Image{
		ID: m.Config.Digest, Manifest: src.mdesc, Index: src.index, Platform: have,
		Layers: layers, Added: time.Now().UTC(), Size: size,
	}
	if cfg.Created != nil {
		img.Created = *cfg.Created
	}
	if err := s.commit(img, cfgBytes, src.mbody, src.ibody, src.names); err != nil {
		s.rollback(created, staged)
		return nil, err
	}
	return s.Get(string(img.ID))
}

// commit stores the small blobs and the record, and points the names at it.
func (s *Store) commit(img *Image, cfg, mbody, ibody []byte, refs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.content.Put(img.ID, cfg); err != nil {
		return err
	}
	if err := s.content.Put(img.Manifest.Digest, mbody); err != nil {
		return err
	}
	if img.Index != nil && ibody != nil {
		if err := s.content.Put(img.Index.Digest, ibody); err != nil {
			return err
		}
	}
	if old, err := s.loadRecord(img.ID); err == nil {
		img.Added = old.Added // the same image again: keep its record
		if img.Index == nil {
			img.Index = old.Index
		}
	}
	if err := s.saveRecord(img); err != nil {
		return err
	}
	n, err := s.loadNames()
	if err != nil {
		return err
	}
	for _, r := range refs {
		n.Names[r] = img.ID
	}
	return s.saveNames(n)
}

// rollback undoes what a failed pull added: its layers go, its blobs go
// back to the ingest area (so a retry resumes without a transfer). What
// another pull in progress (a second lease) or an image uses stays.
func (s *Store) rollback(created []digest.Digest, staged []digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(created) - 1; i >= 0; i-- {
		if s.leases[created[i]] <= 1 && !s.referenced(created[i]) {
			s.snaps.Remove(created[i])
		}
	}
	for _, d := range staged {
		if s.leases[d] <= 1 && !s.referenced(d) {
			s.content.Unstage(d)
		}
	}
}

type download struct {
	done chan struct{}
	err  error
}

// layers downloads and unpacks what is missing. It returns the unpacked
// size, the layers and blobs it added.
func (p *puller) layers(ctx context.Context, layers []Layer) (size int64, created, staged []digest.Digest, err error) {
	s := p.s
	first := len(layers) // first layer not unpacked yet
	for i, l := range layers {
		if !s.snaps.Has(l.ChainID) {
			first = i
			break
		}
	}
	for i := 0; i < first; i++ {
		p.report(layers[i].Digest, StatusExists, 0, 0)
		if sl, err := s.snaps.Get(layers[i].ChainID); err == nil {
			size += sl.Size
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, s.maxDL)
	dls := make([]*download, len(layers))
	var wg sync.WaitGroup
	var stagedMu sync.Mutex
	for i := first; i < len(layers); i++ {
		l := layers[i]
		dl := &download{done: make(chan struct{})}
		dls[i] = dl
		if s.content.Has(l.Digest) {
			close(dl.done)
			continue
		}
		p.report(l.Digest, StatusWaiting, 0, l.Size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(dl.done)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				dl.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			fetched, err := p.fetch(ctx, l)
			if fetched {
				stagedMu.Lock()
				staged = append(staged, l.Digest)
				stagedMu.Unlock()
			}
			dl.err = err
		}()
	}
	// stop ends the downloads; only then is staged complete.
	stop := func(err error) (int64, []digest.Digest, []digest.Digest, error) {
		cancel()
		wg.Wait()
		stagedMu.Lock()
		defer stagedMu.Unlock()
		return size, created, staged, err
	}
	for i := first; i < len(layers); i++ {
		l := layers[i]
		select {
		case <-dls[i].done:
		case <-ctx.Done():
			return stop(ctx.Err())
		}
		if err := dls[i].err; err != nil {
			return stop(fmt.Errorf("layer %s: %w", l.Digest.Short(), err))
		}
		var parent digest.Digest
		if i > 0 {
			parent = layers[i-1].ChainID
		}
		n, made, err := p.unpack(l, parent)
		if err != nil {
			return stop(fmt.Errorf("layer %s: %w", l.Digest.Short(), err))
		}
		if made {
			created = append(created, l.ChainID)
		}
		size += n
		p.report(l.Digest, StatusComplete, 0, 0)
	}
	return stop(nil)
}

// fetch downloads one layer blob into the content store; fetched says
// whether it committed a new blob.
func (p *puller) fetch(ctx context.Context, l Layer) (fetched bool, err error) {
	s := p.s
	desc := manifest.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
	restarted := false
	for {
		if s.content.Has(l.Digest) {
			return false, nil
		}
		if p.ref.Domain == "" {
			return false, fmt.Errorf("blob %s: %w", l.Digest, content.ErrNotFound)
		}
		w, err := s.content.Writer(l.Digest, l.Size)
		if errors.Is(err, content.ErrLocked) {
			// Another pull fetches the same blob: wait for it.
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return false, err
		}
		resumed := w.Offset() > 0 && !restarted
		err = p.registry().FetchBlob(ctx, p.ref, desc, w, func(n int64) { p.report(l.Digest, StatusDownload, n, l.Size) })
		if err != nil {
			w.Close()
			return false, err
		}
		if err := w.Commit(); err != nil {
			// A partial download left by an earlier attempt may itself be
			// bad (a crash mid-write, or a registry that changed its
			// bytes): Commit discarded it; fetch once more from scratch.
			if resumed && errors.Is(err, digest.ErrMismatch) {
				restarted = true
				continue
			}
			return false, err
		}
		p.report(l.Digest, StatusDownloaded, l.Size, l.Size)
		return true, nil
	}
}

// unpack applies a downloaded layer unless another pull did meanwhile.
func (p *puller) unpack(l Layer, parent digest.Digest) (int64, bool, error) {
	s := p.s
	f, err := s.content.Open(l.Digest)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	// Check the compressed blob again as it streams into the unpacker: the
	// store verified it when it arrived, this catches later corruption.
	dg, _ := digest.NewDigester(l.Digest.Algorithm())
	var r io.Reader = io.TeeReader(f, dg)
	r = &progressReader{r: r, fn: func(n int64) { p.report(l.Digest, StatusExtract, n, l.Size) }}
	sl, err := s.snaps.Unpack(l.ChainID, parent, l.DiffID, r)
	if errors.Is(err, snapshot.ErrExists) {
		if sl, err := s.snaps.Get(l.ChainID); err == nil {
			return sl.Size, false, nil
		}
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if _, err := io.Copy(io.Discard, r); err == nil {
		if got := dg.Digest(); got != l.Digest {
			s.snaps.Remove(l.ChainID)
			return 0, false, fmt.Errorf("stored blob: %w", &digest.MismatchError{Want: l.Digest, Got: got})
		}
	}
	return sl.Size, true, nil
}

type progressReader struct {
	r    io.Reader
	n    int64
	last int64
	fn   func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 1<<20 || err == io.EOF {
		p.last = p.n
		p.fn(p.n)
	}
	return n, err
}
