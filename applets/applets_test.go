package applets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTableHasNoDuplicateNames(t *testing.T) {
	seen := map[string]string{}
	apps := table()
	for name, a := range apps {
		if a.Main == nil || a.Summary == "" {
			t.Errorf("applet %q lacks Main or Summary", name)
		}
		for _, n := range append([]string{name}, a.Links...) {
			if prev, ok := seen[n]; ok && prev != name {
				t.Errorf("name %q used by applets %q and %q", n, prev, name)
			}
			seen[n] = name
		}
	}
}

func TestDispatch(t *testing.T) {
	var got []string
	rec := func(tag string) func([]string) int {
		return func(args []string) int {
			got = append([]string{tag}, args...)
			return 7
		}
	}
	apps := map[string]Applet{
		"runtime": {Links: []string{"petrel-runtime"}, Summary: "rt", Main: rec("runtime")},
		"version": {Summary: "v", Main: rec("version")},
	}
	tests := []struct {
		argv []string
		code int
		want string // applet and args seen, "" when none ran
	}{
		{[]string{"/usr/bin/petrel-runtime", "state", "x"}, 7, "runtime state x"},
		{[]string{"petrel", "runtime", "list"}, 7, "runtime list"},
		{[]string{"./petrel", "version"}, 7, "version"},
		{[]string{"petrel", "--version"}, 0, ""}, // this binary's version only, not the applet (which asks the daemon too)
		{[]string{"petrel", "nosuch"}, 2, ""},
		{[]string{"petrel"}, 2, ""},
		{[]string{"petrel", "--list"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			got = nil
			var out, errb bytes.Buffer
			if code := dispatch(tc.argv, apps, &out, &errb); code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("ran %q, want %q", s, tc.want)
			}
		})
	}
}

func TestListIsSorted(t *testing.T) {
	var out bytes.Buffer
	dispatch([]string{"petrel", "--list"}, table(), &out, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(table()) {
		t.Fatalf("--list printed %d lines for %d applets", len(lines), len(table()))
	}
	for i := 1; i < len(lines); i++ {
		if lines[i-1] > lines[i] {
			t.Errorf("--list not sorted: %q before %q", lines[i-1], lines[i])
		}
	}
}

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	apps := table()
	if err := install(dir, apps); err != nil {
		t.Fatal(err)
	}
	// A second install leaves the right links alone and replaces a stale one.
	before, err := os.Lstat(filepath.Join(dir, "petreld"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "petrel-shim"))
	os.Symlink("/nonexistent/petrel", filepath.Join(dir, "petrel-shim"))
	if err := install(dir, apps); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	if after, err := os.Lstat(filepath.Join(dir, "petreld")); err != nil || !os.SameFile(before, after) {
		t.Errorf("reinstall replaced a link that was right (%v)", err)
	}
	self, _ := os.Executable()
	for _, a := range apps {
		for _, l := range a.Links {
			dst, err := os.Readlink(filepath.Join(dir, l))
			if err != nil || dst != self {
				t.Errorf("link %s -> %q, %v; want %q", l, dst, err, self)
			}
		}
	}
	// A regular file in the way is not overwritten.
	os.Remove(filepath.Join(dir, "petrel-runtime"))
	os.WriteFile(filepath.Join(dir, "petrel-runtime"), []byte("keep"), 0o644)
	if err := install(dir, apps); err == nil {
		t.Error("install replaced a regular file")
	}
}
