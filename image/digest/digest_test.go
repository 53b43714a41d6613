package digest

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := FromBytes([]byte("hello"))
	tests := []struct {
		in string
		ok bool
	}{
		{string(good), true},
		{"sha512:" + strings.Repeat("a", 128), true},
		{"sha256:" + strings.Repeat("A", 64), false},
		{"sha256:" + strings.Repeat("a", 63), false},
		{"md5:" + strings.Repeat("a", 32), false},
		{strings.Repeat("a", 64), false},
		{"", false},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestVerify(t *testing.T) {
	d := FromBytes([]byte("hello"))
	if d != "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("FromBytes = %s", d)
	}
	if err := Verify(d, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	err := Verify(d, []byte("hellO"))
	var me *MismatchError
	if !errors.As(err, &me) || !errors.Is(err, ErrMismatch) || me.Want != d {
		t.Fatalf("Verify of other content = %v", err)
	}
	if d.Short() != "2cf24dba5fb0" {
		t.Errorf("Short = %s", d.Short())
	}
}
