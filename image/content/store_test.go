package content

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/petrel-edge/petrel/image/digest"
)

func listAll(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestWriterResumeAndCommit(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("petrel "), 10000)
	d := digest.FromBytes(data)

	w, err := s.Writer(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Writer(d, int64(len(data))); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	w.Close() // interrupted

	w, err = s.Writer(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 1000 {
		t.Fatalf("resumed at %d, want 1000", w.Offset())
	}
	if _, err := w.Write(data[1000:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	b, err := s.ReadAll(d, 1<<20)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("ReadAll: %v", err)
	}
	if n := len(listAll(t, filepath.Join(s.Root(), "ingest"))); n != 0 {
		t.Errorf("%d files left in ingest", n)
	}
}

func TestMismatchStoresNothing(t *testing.T) {
	s, _ := Open(t.TempDir())
	data := []byte("the real layer")
	d := digest.FromBytes(data)
	tests := []struct {
		name string
		size int64
		body []byte
		is   error
	}{
		{"other content", int64(len(data)), []byte("the fake layer"), digest.ErrMismatch},
		{"truncated", int64(len(data)), data[:5], ErrSize},
		{"unknown size, other content", -1, []byte("x"), digest.ErrMismatch},
	}
	for _, tt := range tests {
		w, err := s.Writer(d, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(tt.body)
		if err := w.Commit(); !errors.Is(err, tt.is) {
			t.Errorf("%s: Commit = %v, want %v", tt.name, err, tt.is)
		}
		if files := listAll(t, s.Root()); len(files) != 0 {
			t.Errorf("%s: store holds %v", tt.name, files)
		}
	}
	// A write past the announced size is refused at once.
	w, _ := s.Writer(digest.FromBytes([]byte("ab")), 2)
	if _, err := w.Write([]byte("abc")); !errors.Is(err, ErrSize) {
		t.Errorf("overlong write: %v", err)
	}
	w.Close()
	if err := s.Put(d, []byte("nope")); !errors.Is(err, digest.ErrMismatch) {
		t.Errorf("Put of wrong content: %v", err)
	}
	if s.Has(d) {
		t.Error("blob stored after mismatches")
	}
}

func TestPutWalkDelete(t *testing.T) {
	s, _ := Open(t.TempDir())
	var ds []digest.Digest
	for _, b := range []string{"a", "b", "c"} {
		d := digest.FromBytes([]byte(b))
		if err := s.Put(d, []byte(b)); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	n := 0
	s.Walk(func(Info) error { n++; return nil })
	if n != 3 {
		t.Fatalf("walk saw %d blobs", n)
	}
	if err := s.Delete(ds[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(ds[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Info after delete: %v", err)
	}
	if _, err := s.Open(digest.Digest("sha256:../../etc/passwd")); err == nil {
		t.Fatal("opened a blob by a path-like digest")
	}
}

func TestIngest(t *testing.T) {
	s, _ := Open(t.TempDir())
	info, err := s.Ingest(bytes.NewReader([]byte("archive member")))
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != digest.FromBytes([]byte("archive member")) || info.Size != 14 || !s.Has(info.Digest) {
		t.Fatalf("Ingest = %+v", info)
	}
	if err := s.Unstage(info.Digest); err != nil || s.Has(info.Digest) {
		t.Fatalf("Unstage: %v", err)
	}
	// The unstaged blob resumes as a complete write.
	w, err := s.Writer(info.Digest, 14)
	if err != nil || w.Offset() != 14 {
		t.Fatalf("writer after unstage: offset %d, %v", w.Offset(), err)
	}
	if err := w.Commit(); err != nil || !s.Has(info.Digest) {
		t.Fatalf("commit: %v", err)
	}
}

// TestLockIngestAfterCommit: a writer that opened an ingest just before
// another committed it (renaming the file it opened into the blobs) and
// locks it just after must not take that file for its own ingest.
func TestLockIngestAfterCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sha256-x")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Rename(p, filepath.Join(dir, "committed")); err != nil {
		t.Fatal(err)
	}
	if err := lockIngest(f, p); !errors.Is(err, ErrLocked) {
		t.Fatalf("locking a committed ingest: %v, want ErrLocked", err)
	}
	g, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := lockIngest(g, p); err != nil {
		t.Fatalf("locking a fresh ingest: %v", err)
	}
}
