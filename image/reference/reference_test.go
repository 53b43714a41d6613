package reference

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in, want, familiar string
	}{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"team/app:v1", "docker.io/team/app:v1", "team/app:v1"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"},
		{"localhost/app:dev", "localhost/app:dev", "localhost/app:dev"},
		{"localhost:5000/a/b/c:v1.2-rc_3", "localhost:5000/a/b/c:v1.2-rc_3", "localhost:5000/a/b/c:v1.2-rc_3"},
		{"Registry.Example/app", "Registry.Example/app:latest", "Registry.Example/app:latest"},
		{"[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"},
		{"busybox@" + d, "docker.io/library/busybox@" + d, "busybox@" + d},
		{"busybox:1@" + d, "docker.io/library/busybox:1@" + d, "busybox:1@" + d},
		{"a__b/c-----d/e.f_g", "docker.io/a__b/c-----d/e.f_g:latest", "a__b/c-----d/e.f_g:latest"},
	}
	for _, tt := range tests {
		r, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if r.String() != tt.want || r.Familiar() != tt.familiar {
			t.Errorf("Parse(%q) = %s (%s), want %s (%s)", tt.in, r, r.Familiar(), tt.want, tt.familiar)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"", "empty"},
		{"BusyBox", "lowercase"},
		{"busybox:", "empty tag"},
		{"busybox:-x", "invalid tag"},
		{"busybox:" + strings.Repeat("a", 129), "tag longer"},
		{"busybox@sha256:abc", "bad digest"},
		{"busybox@md5:" + strings.Repeat("a", 32), "bad digest"},
		{strings.Repeat("a", 64), "image ID"},
		{"a//b", "empty path component"},
		{"a/b-", "must start and end"},
		{"a/b..c", "invalid separator"},
		{"a/b___c", "invalid separator"},
		{"a/b$c", "invalid character"},
		{"host:/app", "empty port"},
		{"host:5x/app", "bad port"},
		{"-host.io/app", "bad registry host"},
		{"[::1/app", "unterminated"},
		{"x.io/" + strings.Repeat("a", 260), "longer than"},
		{":tag", "missing repository"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", tt.in)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q) = %v, want an ErrInvalid mentioning %q", tt.in, err, tt.msg)
		}
	}
}

func TestParseRepository(t *testing.T) {
	if _, err := ParseRepository("busybox:1"); err == nil {
		t.Error("ParseRepository accepted a tag")
	}
	r, err := ParseRepository("busybox")
	if err != nil || r.Tag != "" || r.Name() != "docker.io/library/busybox" {
		t.Errorf("ParseRepository(busybox) = %+v, %v", r, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"busybox", "a/b:c", "127.0.0.1:5000/x@sha256:" + strings.Repeat("0", 64), "[::1]:1/a", "A/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// The normalised form parses to itself.
		r2, err := Parse(r.String())
		if err != nil || r2 != r {
			t.Fatalf("Parse(%q) = %+v, reparse of %q = %+v, %v", s, r, r.String(), r2, err)
		}
	})
}
