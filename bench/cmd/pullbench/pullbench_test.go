package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/manifest"
)

// The test binary is the spawner too, as the benchmark binary is.
func TestMain(m *testing.M) {
	if os.Getenv(spawnEnv) == "1" {
		os.Exit(spawn(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tpullbench\nVmPeak:\t  20000 kB\nVmHWM:\t    6980 kB\nVmRSS:\t    6000 kB\n"
	tests := []struct {
		text, key string
		want      int64
		wantErr   bool
	}{
		{status, "VmHWM:", 6980, false},
		{status, "VmRSS:", 6000, false},
		{status, "VmSwap:", 0, true},
		{"VmHWM:\tlots kB\n", "VmHWM:", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStatusKB([]byte(tt.text), tt.key)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseStatusKB(%q) = %d, %v; want %d, error %v", tt.key, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSummaries(t *testing.T) {
	d := func(ms ...int) []time.Duration {
		var v []time.Duration
		for _, m := range ms {
			v = append(v, time.Duration(m)*time.Millisecond)
		}
		return v
	}
	tests := []struct {
		in   []time.Duration
		want Summary
	}{
		{nil, Summary{}},
		{d(30, 10, 20), Summary{N: 3, MedianMS: 20, MinMS: 10, MaxMS: 30}},
		{d(40, 10, 20, 30), Summary{N: 4, MedianMS: 25, MinMS: 10, MaxMS: 40}},
	}
	for _, tt := range tests {
		if got := summarize(tt.in); got != tt.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if got, want := summarizeRSS([]int64{9000, 1000, 5000, 7000}), (RSS{MedianKB: 6000, MaxKB: 9000}); got != want {
		t.Errorf("summarizeRSS = %+v, want %+v", got, want)
	}
	if got := summarizeRSS(nil); got != (RSS{}) {
		t.Errorf("summarizeRSS(nil) = %+v, want zero", got)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{300, 100, "3.00x"},
		{50, 100, "0.50x"},
		{0, 100, "—"},
		{100, 0, "—"},
	}
	for _, tt := range tests {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestGoalLine(t *testing.T) {
	tool := func(name string, medianMS float64, rssKB int64) toolReport {
		return toolReport{Name: name, Total: Summary{N: 5, MedianMS: medianMS}, PeakRSS: RSS{MedianKB: rssKB, MaxKB: rssKB}}
	}
	tests := []struct {
		name  string
		tools []toolReport
		want  []string
	}{
		{"met", []toolReport{tool("petrel", 1000, 20<<10), tool("skopeo+umoci", 3000, 40<<10), tool("podman", 2000, 60<<10)},
			[]string{"skopeo+umoci (3.00x) podman (2.00x): yes", "< 30.0 MiB: yes"}},
		{"slower", []toolReport{tool("petrel", 1000, 20<<10), tool("podman", 900, 60<<10)},
			[]string{"podman (0.90x): no", "< 30.0 MiB: yes"}},
		{"too big", []toolReport{tool("petrel", 1000, 31<<10), tool("podman", 2000, 60<<10)},
			[]string{"podman (2.00x): yes", "< 30.0 MiB: no"}},
		{"alone", []toolReport{tool("petrel", 1000, 20<<10), {Name: "podman", Skipped: "not installed: podman"}},
			[]string{"nothing to compare", ": no;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &report{Tools: tt.tools, Subject: "petrel", GoalRSSKB: 30 << 10, RSSFloorKB: 7 << 10}
			got := r.goalLine()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("goal line %q lacks %q", got, w)
				}
			}
			var out bytes.Buffer
			r.print(&out) // must not fail on any of these reports
			if !strings.Contains(out.String(), got) {
				t.Errorf("printed report lacks the goal line:\n%s", out.String())
			}
		})
	}
}

// readBlob reads a layout's blob by digest.
func readBlob(t *testing.T, dir string, d digest.Digest) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Hex()))
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(b); got != d {
		t.Fatalf("blob %s holds content of digest %s", d, got)
	}
	return b
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	o, err := newLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	const dataSize = 3*4096 + 100
	if err := o.addLayer("small", func(tw *tar.Writer) error {
		if err := writeFile(tw, "etc/a", []byte("a\n")); err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr("data", tar.TypeReg, 0o644, dataSize)); err != nil {
			return err
		}
		return fillData(tw, 1, dataSize)
	}); err != nil {
		t.Fatal(err)
	}
	if err := o.addLayer("fails", func(tw *tar.Writer) error { return errors.New("boom") }); err == nil {
		t.Fatal("a layer whose fill fails was added")
	}
	if err := o.finish("latest"); err != nil {
		t.Fatal(err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", ".layer-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	var idx manifest.Index
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "latest" {
		t.Fatalf("index.json = %s", b)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(readBlob(t, dir, idx.Manifests[0].Digest), &m); err != nil {
		t.Fatal(err)
	}
	var img manifest.Image
	if err := json.Unmarshal(readBlob(t, dir, m.Config.Digest), &img); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || len(img.RootFS.DiffIDs) != 1 || len(o.info.Layers) != 1 {
		t.Fatalf("%d layers, %d diff IDs, %d in the info; want 1 each", len(m.Layers), len(img.RootFS.DiffIDs), len(o.info.Layers))
	}
	l := m.Layers[0]
	blob := readBlob(t, dir, l.Digest)
	if l.MediaType != manifest.MediaTypeOCILayerGzip || l.Size != int64(len(blob)) || o.info.Layers[0].Size != l.Size {
		t.Errorf("layer descriptor %+v for a %d byte blob (info %+v)", l, len(blob), o.info.Layers[0])
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	diff, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(diff); got != img.RootFS.DiffIDs[0] || int64(len(diff)) != o.info.Layers[0].DiffSize {
		t.Errorf("diff ID %s (%d bytes), config says %s, info %d bytes", got, len(diff), img.RootFS.DiffIDs[0], o.info.Layers[0].DiffSize)
	}
	tr := tar.NewReader(bytes.NewReader(diff))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "data" && h.Size != dataSize {
			t.Errorf("data is %d bytes, want %d", h.Size, dataSize)
		}
	}
	if !slices.Equal(names, []string{"etc/a", "data"}) {
		t.Errorf("layer entries %q", names)
	}
}

// TestFillData: the big layer's data is the same for the same seed, and
// gzip shrinks it a little, not much.
func TestFillData(t *testing.T) {
	const size = 1 << 20
	var a, b, c bytes.Buffer
	for _, x := range []struct {
		w    *bytes.Buffer
		seed uint64
	}{{&a, 7}, {&b, 7}, {&c, 8}} {
		if err := fillData(x.w, x.seed, size); err != nil {
			t.Fatal(err)
		}
	}
	if a.Len() != size || !bytes.Equal(a.Bytes(), b.Bytes()) || bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatalf("fillData: %d bytes; same seed same data: %v; other seed other data: %v",
			a.Len(), bytes.Equal(a.Bytes(), b.Bytes()), !bytes.Equal(a.Bytes(), c.Bytes()))
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(a.Bytes())
	zw.Close()
	if r := float64(z.Len()) / size; r < 0.9 || r > 0.99 {
		t.Errorf("gzip keeps %.2f of the data, want 0.90–0.99", r)
	}
}

func TestMeasure(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := measure(ctx, []string{"PULLBENCH_TEST=set"}, filepath.Join(dir, "ok.log"), "/bin/sh", "-c", `echo "out $PULLBENCH_TEST"; echo err >&2`)
	if err != nil {
		t.Fatal(err)
	}
	if s.wall <= 0 || s.rssKB <= 0 || s.floorK <= 0 {
		t.Errorf("sample %+v: want a wall time, a peak RSS and a floor", s)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ok.log")); string(b) != "out set\nerr\n" {
		t.Errorf("log %q, want the command's stdout and stderr", b)
	}

	_, err = measure(ctx, nil, filepath.Join(dir, "fail.log"), "/bin/sh", "-c", "echo why it failed >&2; exit 3")
	var se *stepError
	if !errors.As(err, &se) || !strings.Contains(se.Error(), "exit status 3") || se.output != "why it failed" {
		t.Errorf("failing command: %v, want a stepError with its exit status and output", err)
	}

	_, err = measure(ctx, nil, filepath.Join(dir, "missing.log"), filepath.Join(dir, "no-such-program"))
	if !errors.As(err, &se) {
		t.Errorf("missing program: %v, want a stepError", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = measure(cctx, nil, filepath.Join(dir, "slow.log"), "/bin/sh", "-c", "sleep 30")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 20*time.Second {
		t.Errorf("cancelled command: %v after %v, want the context's error soon", err, time.Since(start))
	}
}

func TestTreeBytes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "x"), make([]byte, 100), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "b", "y"), make([]byte, 23), 0o644)
	os.Symlink("x", filepath.Join(dir, "a", "link"))
	if n, err := treeBytes(dir); err != nil || n != 123 {
		t.Errorf("treeBytes = %d, %v; want 123", n, err)
	}
}
