package image

import (
	"time"

	"github.com/petrel-edge/petrel/image/content"
	"github.com/petrel-edge/petrel/image/digest"
)

// GCStats says what a garbage collection removed.
type GCStats struct {
	Blobs  int   // content blobs deleted
	Layers int   // unpacked layers deleted
	Bytes  int64 // size of the deleted blobs
}

// ingestMaxAge is how long an abandoned partial download is kept for a
// resume.
const ingestMaxAge = 24 * time.Hour

func (s *Store) lease(ds ...digest.Digest) func() {
	s.mu.Lock()
	for _, d := range ds {
		s.leases[d]++
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		for _, d := range ds {
			if s.leases[d]--; s.leases[d] <= 0 {
				delete(s.leases, d)
			}
		}
		s.mu.Unlock()
	}
}

// GC deletes blobs and unpacked layers that no image record, container
// snapshot or pull in progress references (mark and sweep: the
// references are counted from the records each time, so no counter can
// drift after a crash).
func (s *Store) GC() (GCStats, error) {
	var st GCStats
	s.mu.Lock()
	defer s.mu.Unlock()
	blobs := map[digest.Digest]bool{}
	layers := map[digest.Digest]bool{}
	for d := range s.leases {
		blobs[d], layers[d] = true, true
	}
	ids, err := s.recordIDs()
	if err != nil {
		return st, err
	}
	for _, id := range ids {
		img, err := s.loadRecord(id)
		if err != nil {
			// Keep what an unreadable record might use: mark nothing
			// deleted rather than guess.
			return st, err
		}
		blobs[img.ID], blobs[img.Manifest.Digest] = true, true
		if img.Index != nil {
			blobs[img.Index.Digest] = true
		}
		for _, l := range img.Layers {
			blobs[l.Digest], layers[l.ChainID] = true, true
		}
	}
	acts, err := s.snaps.Actives()
	if err != nil {
		return st, err
	}
	for _, a := range acts {
		if a.Parent == "" {
			continue
		}
		chain, err := s.snaps.Chain(a.Parent)
		if err != nil {
			return st, err
		}
		for _, l := range chain {
			layers[l.ChainID] = true
		}
		if id, err := digest.Parse(a.Labels[labelImage]); err == nil {
			// The config of an image a container runs stays readable.
			blobs[id] = true
		}
	}
	// Parents of kept layers are kept (overlay stacks them).
	all, err := s.snaps.Layers()
	if err != nil {
		return st, err
	}
	parent := map[digest.Digest]digest.Digest{}
	for _, l := range all {
		parent[l.ChainID] = l.Parent
	}
	for d := range layers {
		for p := parent[d]; p != "" && !layers[p]; p = parent[p] {
			layers[p] = true
		}
	}
	for _, l := range all {
		if !layers[l.ChainID] {
			if err := s.snaps.Remove(l.ChainID); err != nil {
				return st, err
			}
			st.Layers++
		}
	}
	err = s.content.Walk(func(info content.Info) error {
		if blobs[info.Digest] {
			return nil
		}
		if err := s.content.Delete(info.Digest); err != nil {
			return err
		}
		st.Blobs++
		st.Bytes += info.Size
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, s.content.CleanIngest(time.Now().Add(-ingestMaxAge))
}

// referenced reports whether an image record uses blob d or layer d; s.mu held.
func (s *Store) referenced(d digest.Digest) bool {
	ids, _ := s.recordIDs()
	for _, id := range ids {
		img, err := s.loadRecord(id)
		if err != nil {
			return true
		}
		if img.ID == d || img.Manifest.Digest == d || img.Index != nil && img.Index.Digest == d {
			return true
		}
		for _, l := range img.Layers {
			if l.Digest == d || l.ChainID == d {
				return true
			}
		}
	}
	return false
}
