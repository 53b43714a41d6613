// Package jsonlog writes and reads container logs in Docker's json-file
// format: one {"log","stream","time"} object per line, rotated by size
// into name.1 … name.N-1 (oldest last). A Writer is not safe for
// concurrent use; the shim serialises its streams through one.
package jsonlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// Entry is one log line.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// maxLine is the longest piece of a line kept in one entry, as Docker's 16K.
const maxLine = 16 * 1024

// Writer appends entries to a log file and rotates it.
type Writer struct {
	path    string
	maxSize int64 // 0: no rotation
	maxFile int   // files kept in all, ≥ 1
	f       *os.File
	size    int64
	partial map[string][]byte
	now     func() time.Time
}

// Open opens (or creates) path for appending. maxSize ≤ 0 disables
// rotation; maxFile is the number of files kept, the current one included.
func Open(path string, maxSize int64, maxFile int) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	if maxFile < 1 {
		maxFile = 1
	}
	return &Writer{path: path, maxSize: maxSize, maxFile: maxFile, f: f, size: fi.Size(), partial: map[string][]byte{}, now: time.Now}, nil
}

// Write logs p as output of stream ("stdout" or "stderr"): complete lines
// become entries, a trailing partial line waits for its end (or Flush).
func (w *Writer) Write(stream string, p []byte) error {
	buf := append(w.partial[stream], p...)
	for {
		n := bytes.IndexByte(buf, '\n') + 1
		if n == 0 || n > maxLine {
			if len(buf) < maxLine {
				break
			}
			n = maxLine
		}
		if err := w.entry(stream, buf[:n]); err != nil {
			return err
		}
		buf = buf[n:]
	}
	w.partial[stream] = append(w.partial[stream][:0], buf...)
	return nil
}

// Flush writes the partial lines of every stream as entries.
func (w *Writer) Flush() error {
	for s, b := range w.partial {
		if len(b) > 0 {
			if err := w.entry(s, b); err != nil {
				return err
			}
			w.partial[s] = b[:0]
		}
	}
	return nil
}

func (w *Writer) entry(stream string, line []byte) error {
	data, err := json.Marshal(Entry{Log: string(line), Stream: stream, Time: w.now().UTC()})
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(data)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(data)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	if w.maxFile == 1 {
		f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
		w.f, w.size = f, 0
		return nil
	}
	os.Remove(w.path + "." + strconv.Itoa(w.maxFile-1))
	for i := w.maxFile - 2; i >= 1; i-- {
		if err := os.Rename(w.path+"."+strconv.Itoa(i), w.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// Close flushes partial lines and closes the file.
func (w *Writer) Close() error {
	ferr := w.Flush()
	if err := w.f.Close(); err != nil {
		return err
	}
	return ferr
}

// Files returns the existing files of the log at path, oldest first.
func Files(path string) []string {
	var out []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		out = append([]string{p}, out...)
	}
	return append(out, path)
}

// ReadAll returns the entries of the log at path and its rotated files,
// oldest first; with tail ≥ 0 only the last tail entries. A torn last
// line (a writer killed mid-write) is skipped.
func ReadAll(path string, tail int) ([]Entry, error) {
	var out []Entry
	for _, p := range Files(path) {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		err = Decode(f, func(e Entry) { out = append(out, e) })
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read log %s: %w", p, err)
		}
	}
	if tail >= 0 && len(out) > tail {
		out = out[len(out)-tail:]
	}
	return out, nil
}

// Decode calls fn for each complete entry read from r.
func Decode(r io.Reader, fn func(Entry)) error {
	br := bufio.NewReaderSize(r, 32*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var e Entry
			if json.Unmarshal(line, &e) == nil {
				fn(e)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
