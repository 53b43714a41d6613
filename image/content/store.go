package content

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/image/digest"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("blob not found")
	// ErrLocked means another writer is ingesting the same digest.
	ErrLocked = errors.New("blob is being written by another writer")
	// ErrSize means the content has a different size than announced.
	ErrSize = errors.New("blob size mismatch")
)

// Store keeps blobs under root/blobs/<alg>/<hex> and partial writes under
// root/ingest.
type Store struct {
	root string
}

// Info describes a stored blob.
type Info struct {
	Digest  digest.Digest
	Size    int64
	ModTime time.Time
}

// Open opens (creating if needed) a store rooted at root.
func Open(root string) (*Store, error) {
	for _, d := range []string{"blobs/sha256", "blobs/sha512", "ingest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	return &Store{root: root}, nil
}

// Root returns the directory of the store.
func (s *Store) Root() string { return s.root }

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", d.Algorithm(), d.Hex()), nil
}

func (s *Store) ingestPath(d digest.Digest) string {
	return filepath.Join(s.root, "ingest", d.Algorithm()+"-"+d.Hex())
}

// Path returns the file of blob d, whether or not it exists.
func (s *Store) Path(d digest.Digest) (string, error) { return s.blobPath(d) }

// Info returns the size of blob d, or an error wrapping ErrNotFound.
func (s *Store) Info(d digest.Digest) (Info, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Has reports whether blob d is stored.
func (s *Store) Has(d digest.Digest) bool {
	_, err := s.Info(d)
	return err == nil
}

// Open opens blob d for reading.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, d)
	}
	return f, err
}

// ReadAll returns blob d if it is at most max bytes, and checks it still
// hashes to d (small blobs only: manifests and configs).
func (s *Store) ReadAll(d digest.Digest, max int64) ([]byte, error) {
	f, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d, max)
	}
	if err := digest.Verify(d, b); err != nil {
		return nil, fmt.Errorf("stored blob %s is corrupt: %w", d, err)
	}
	return b, nil
}

// Put stores b as blob d after checking that it hashes to d.
func (s *Store) Put(d digest.Digest, b []byte) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := digest.Verify(d, b); err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return atomicfile.WriteFile(p, b, 0o644)
}

// Delete removes blob d; a missing blob is not an error.
func (s *Store) Delete(d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every stored blob.
func (s *Store) Walk(fn func(Info) error) error {
	for _, alg := range []string{"sha256", "sha512"} {
		ents, err := os.ReadDir(filepath.Join(s.root, "blobs", alg))
		if err != nil {
			return err
		}
		for _, e := range ents {
			d, err := digest.Parse(alg + ":" + e.Name())
			if err != nil {
				continue // temporary files of atomic writes
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			if err := fn(Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// CleanIngest removes partial writes not touched since before, for the
// garbage collector. Locked (active) ingests are left alone.
func (s *Store) CleanIngest(before time.Time) error {
	dir := filepath.Join(s.root, "ingest")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || fi.ModTime().After(before) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(p)
		}
		f.Close()
	}
	return nil
}

// A Writer ingests one blob. Bytes already written by an earlier,
// interrupted Writer for the same digest are kept: Offset says how many,
// and the caller continues from there (for example with an HTTP Range
// request) or calls Truncate to start over.
type Writer struct {
	s      *Store
	want   digest.Digest
	size   int64 // expected size, -1 if unknown
	f      *os.File
	dg     *digest.Digester
	offset int64
}

// Writer opens an ingest for blob want of size bytes (-1 if unknown). It
// returns an error wrapping ErrLocked while another writer holds the same
// digest. The caller must Commit or Close the writer.
func (s *Store) Writer(want digest.Digest, size int64) (*Writer, error) {
	if err := want.Validate(); err != nil {
		return nil, err
	}
	dg, err := digest.NewDigester(want.Algorithm())
	if err != nil {
		return nil, err
	}
	p := s.ingestPath(want)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", want, err)
	}
	if err := lockIngest(f, p); err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest %s: %w", want, err)
	}
	w := &Writer{s: s, want: want, size: size, f: f, dg: dg}
	// Hash what an earlier writer left, so that the digest covers it.
	n, err := io.Copy(dg, f)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ingest %s: read partial: %w", want, err)
	}
	w.offset = n
	if size >= 0 && n > size {
		if err := w.Truncate(); err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// lockIngest takes the lock of the ingest file f, opened as p; an error
// wraps ErrLocked when another writer holds it, or held it until it
// committed the blob: then p no longer names f (the commit renamed it
// between the open and the lock) and the blob is in the store.
func lockIngest(f *os.File, p string) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrLocked
		}
		return fmt.Errorf("lock: %w", err)
	}
	var held, named unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if err := unix.Stat(p, &named); err != nil || named.Dev != held.Dev || named.Ino != held.Ino {
		return ErrLocked
	}
	return nil
}

// Offset returns how many bytes the ingest holds.
func (w *Writer) Offset() int64 { return w.offset }

// Digest returns the digest of the bytes written so far.
func (w *Writer) Digest() digest.Digest { return w.dg.Digest() }

// Write appends p to the ingest.
func (w *Writer) Write(p []byte) (int, error) {
	if w.size >= 0 && w.offset+int64(len(p)) > w.size {
		return 0, fmt.Errorf("%w: %s: more than %d bytes", ErrSize, w.want, w.size)
	}
	n, err := w.f.Write(p)
	w.dg.Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("ingest %s: %w", w.want, err)
	}
	return n, nil
}

// Truncate drops what the ingest holds and starts over.
func (w *Writer) Truncate() error {
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("ingest %s: %w", w.want, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ingest %s: %w", w.want, err)
	}
	w.dg.Hash().Reset()
	w.offset = 0
	return nil
}

// Commit checks size and digest and, if both match, makes the blob
// visible. On a mismatch the partial content is discarded and the error
// wraps digest.ErrMismatch or ErrSize; nothing is stored. The writer is
// closed either way.
func (w *Writer) Commit() error {
	defer w.Close()
	if w.size >= 0 && w.offset != w.size {
		w.discard()
		return fmt.Errorf("%w: %s: got %d bytes, want %d", ErrSize, w.want, w.offset, w.size)
	}
	if got := w.dg.Digest(); got != w.want {
		w.discard()
		return fmt.Errorf("blob %s: %w", w.want, &digest.MismatchError{Want: w.want, Got: got})
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("ingest %s: %w", w.want, err)
	}
	dst, _ := w.s.blobPath(w.want)
	if err := os.Chmod(w.f.Name(), 0o644); err != nil {
		return fmt.Errorf("ingest %s: %w", w.want, err)
	}
	if err := os.Rename(w.f.Name(), dst); err != nil {
		return fmt.Errorf("commit blob %s: %w", w.want, err)
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}

func (w *Writer) discard() {
	os.Remove(w.f.Name())
}

// Close releases the writer and keeps any partial content for a later
// resume. Closing a committed writer does nothing.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Ingest stores everything r yields as a blob of unknown digest (sha256)
// and returns what it stored. Loading archives uses it: their members are
// named by path, not by digest.
func (s *Store) Ingest(r io.Reader) (Info, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, "ingest"), "unknown-*")
	if err != nil {
		return Info{}, fmt.Errorf("ingest: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	d, n, err := digest.FromReader(io.TeeReader(r, f))
	if err != nil {
		return Info{}, fmt.Errorf("ingest: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("ingest: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return Info{}, fmt.Errorf("ingest: %w", err)
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("ingest: %w", err)
	}
	dst, _ := s.blobPath(d)
	if err := os.Rename(tmp, dst); err != nil {
		return Info{}, fmt.Errorf("ingest %s: %w", d, err)
	}
	ok = true
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return Info{}, err
	}
	return Info{Digest: d, Size: n, ModTime: time.Now()}, nil
}

// Unstage moves blob d back into the ingest area, as a complete partial
// write: it disappears from the store, but a later Writer for d finds all
// its bytes and needs no transfer. Rollbacks of failed pulls use it so
// that a retry over a slow link does not fetch again what arrived.
func (s *Store) Unstage(d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if err := os.Rename(p, s.ingestPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unstage blob %s: %w", d, err)
	}
	return nil
}

// Abort discards the partial content of an ingest of d that no writer
// holds.
func (s *Store) Abort(d digest.Digest) error {
	if err := os.Remove(s.ingestPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
