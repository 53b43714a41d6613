package jsonlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteSplitsLines(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"one line", []string{"hello\n"}, []string{"hello\n"}},
		{"two in one write", []string{"a\nb\n"}, []string{"a\n", "b\n"}},
		{"line across writes", []string{"ab", "c\nd"}, []string{"abc\n", "d"}},
		{"long line cut", []string{strings.Repeat("x", maxLine+3) + "\n"}, []string{strings.Repeat("x", maxLine), "xxx\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c-json.log")
			w, err := Open(p, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.writes {
				if err := w.Write("stdout", []byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			es, err := ReadAll(p, -1)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				if e.Stream != "stdout" || e.Time.IsZero() {
					t.Errorf("entry %+v lacks stream or time", e)
				}
				got = append(got, e.Log)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("entries %d %.40q, want %d %.40q", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	tests := []struct {
		maxFile   int
		wantFiles int
	}{{1, 1}, {2, 2}, {3, 3}}
	for _, tc := range tests {
		t.Run("max-file "+string(rune('0'+tc.maxFile)), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c-json.log")
			w, err := Open(p, 200, tc.maxFile)
			if err != nil {
				t.Fatal(err)
			}
			w.now = func() time.Time { return time.Unix(0, 0) }
			for i := 0; i < 40; i++ {
				if err := w.Write("stderr", []byte("line "+string(rune('a'+i%26))+"\n")); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			files := Files(p)
			if len(files) != tc.wantFiles {
				t.Errorf("files %v, want %d", files, tc.wantFiles)
			}
			for _, f := range files {
				fi, _ := os.Stat(f)
				if fi.Size() > 200 {
					t.Errorf("%s is %d bytes, above max-size", f, fi.Size())
				}
			}
			es, _ := ReadAll(p, -1)
			if es[len(es)-1].Log != "line n\n" {
				t.Errorf("last entry %q, want the last line written", es[len(es)-1].Log)
			}
			tail, _ := ReadAll(p, 2)
			if len(tail) != 2 || tail[0].Log != "line m\n" {
				t.Errorf("tail 2 = %+v", tail)
			}
		})
	}
}

func TestTornLineSkipped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c-json.log")
	os.WriteFile(p, []byte(`{"log":"ok\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}`+"\n"+`{"log":"to`), 0o644)
	es, err := ReadAll(p, -1)
	if err != nil || len(es) != 1 || es[0].Log != "ok\n" {
		t.Errorf("ReadAll = %+v, %v", es, err)
	}
}
