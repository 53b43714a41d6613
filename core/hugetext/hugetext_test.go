package hugetext

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		want mapping
	}{
		{"00400000-00956000 r-xp 00000000 fe:00 9986274                            /usr/bin/petrel\n", true,
			mapping{start: 0x400000, end: 0x956000, perms: "r-xp", offset: 0, dev: unix.Mkdev(0xfe, 0), inode: 9986274}},
		{"00956000-00e91000 r--p 00556000 08:02 12 /usr/bin/petrel", true,
			mapping{start: 0x956000, end: 0xe91000, perms: "r--p", offset: 0x556000, dev: unix.Mkdev(8, 2), inode: 12}},
		{"7ffd71130000-7ffd71151000 rw-p 00000000 00:00 0                          [stack]", true,
			mapping{start: 0x7ffd71130000, end: 0x7ffd71151000, perms: "rw-p"}},
		{"7f00-7f10 rw-p 00000000 00:00", false, mapping{}},
		{"7f00 rw-p 00000000 00:00 0", false, mapping{}},
		{"7f00-7f10 rw-p zz 00:00 0", false, mapping{}},
		{"7f00-7f10 rw-p 00000000 0000 0", false, mapping{}},
		{"7f00-7f10 rw-p 00000000 00:00 x", false, mapping{}},
	} {
		got, ok := parseMapsLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseMapsLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFieldKiB(t *testing.T) {
	for _, tc := range []struct {
		text    string
		want    int64
		wantErr bool
	}{
		{"Rss: 10 kB\nFilePmdMapped:      2048 kB\n", 2 << 20, false},
		{"FilePmdMapped: 0 kB\n", 0, false},
		{"Rss: 10 kB\n", 0, true},
		{"FilePmdMapped: lots kB\n", 0, true},
	} {
		got, err := fieldKiB(bufio.NewScanner(strings.NewReader(tc.text)), "FilePmdMapped:")
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("fieldKiB(%q) = %d, %v; want %d, error %v", tc.text, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestPopulateBadRange(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, 0}, {-1, 10}, {4 << 20, 10}} {
		if _, err := Populate(f, r[0], r[1]); err == nil {
			t.Errorf("Populate(%d, %d) of a 5-byte file: no error", r[0], r[1])
		}
	}
	if _, err := Populate(filepath.Join(t.TempDir(), "missing"), 0, 1); err == nil {
		t.Error("Populate of a missing file: no error")
	}
}

// TestPopulate reads a 6 MiB file back in huge folios: its middle 2 MiB
// at least (the range is widened to 2 MiB boundaries).
func TestPopulate(t *testing.T) {
	if ok, why := Available(); !ok {
		t.Skip(why)
	}
	// On the disk (the test binary's directory), not on a tmpfs, whose
	// huge pages follow other rules.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(self), "hugetext")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := filepath.Join(dir, "data")
	if err := os.WriteFile(f, bytes.Repeat([]byte("petrel\n"), 6<<20/7+1), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Populate(f, 3<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n < 2<<20 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %d bytes in huge folios after Populate, want 2 MiB", f, n)
		}
		t.Skipf("%s: %d bytes in huge folios: the file system keeps small ones", f, n)
	}
}

// TestRelease: release splits this process's text into 1 MiB mappings,
// which no huge folio fits, and the process runs on; Release leaves a
// process that maps no huge page alone.
func TestRelease(t *testing.T) {
	if n, err := Mapped(); err != nil || n != 0 {
		t.Skipf("this test binary maps %d bytes with PMD entries (%v)", n, err)
	}
	if err := Release(); err != nil {
		t.Fatal(err)
	}
	if pieces := textPieces(t); len(pieces) != 1 {
		t.Errorf("Release of a process without huge pages: text in %d mappings, want 1: %+v", len(pieces), pieces)
	}
	text, err := OwnText()
	if err != nil {
		t.Fatal(err)
	}
	off, length := text.Offset, text.Length
	if err := release(); err != nil {
		t.Fatal(err)
	}
	pieces := textPieces(t)
	if len(pieces) < 2 || pieces[0].offset != off {
		t.Fatalf("text [%#x, %#x) after Release: %+v; want it in 1 MiB pieces", off, off+length, pieces)
	}
	var total int64
	for _, m := range pieces {
		if m.end-m.start > 1<<20 {
			t.Errorf("piece %+v is over 1 MiB", m)
		}
		total += int64(m.end - m.start)
	}
	if total != length {
		t.Errorf("pieces cover %d bytes of %d", total, length)
	}
	if n, err := Mapped(); err != nil || n != 0 {
		t.Errorf("Mapped after Release = %d, %v; want 0", n, err)
	}
}

// textPieces returns this process's executable mappings of its binary.
func textPieces(t *testing.T) []mapping {
	t.Helper()
	maps, exe, err := ownMappings()
	if err != nil {
		t.Fatal(err)
	}
	var pieces []mapping
	for _, m := range maps {
		if m.is(exe) && strings.Contains(m.perms, "x") {
			pieces = append(pieces, m)
		}
	}
	return pieces
}

// TestExecCopy runs a child that executes a copy of itself: the copy
// runs from memory, with the arguments and environment given.
func TestExecCopy(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperExecCopy$")
	cmd.Env = append(os.Environ(), "HUGETEXT_HELPER=execcopy")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "exe=/memfd:petrel") || !strings.Contains(string(out), "stage=copy") {
		t.Errorf("the copy says %q; want it run from /memfd:petrel with stage=copy", out)
	}
}

func TestHelperExecCopy(t *testing.T) {
	switch os.Getenv("HUGETEXT_HELPER") {
	case "execcopy":
		env := []string{"HUGETEXT_HELPER=copy"}
		err := ExecCopy("/proc/self/exe", []string{os.Args[0], "-test.run=^TestHelperExecCopy$"}, env)
		t.Fatal(err)
	case "copy":
		exe, err := os.Readlink("/proc/self/exe")
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("exe=" + exe + " stage=copy\n")
	default:
		t.Skip("run by TestExecCopy")
	}
}
