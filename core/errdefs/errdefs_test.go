package errdefs

import (
	"errors"
	"io/fs"
	"testing"
)

func TestClasses(t *testing.T) {
	tests := []struct {
		err   error
		class error
		msg   string
	}{
		{NotFound("no such container: %s", "x"), ErrNotFound, "no such container: x"},
		{Conflict("name %q in use", "a"), ErrConflict, `name "a" in use`},
		{Invalid("bad: %w", fs.ErrPermission), ErrInvalid, "bad: permission denied"},
		{NotModified("already started"), ErrNotModified, "already started"},
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			if !errors.Is(tc.err, tc.class) {
				t.Errorf("%v is not %v", tc.err, tc.class)
			}
			if tc.err.Error() != tc.msg {
				t.Errorf("message %q, want %q", tc.err.Error(), tc.msg)
			}
			if errors.Is(tc.err, ErrUnavailable) {
				t.Errorf("%v matches another class", tc.err)
			}
		})
	}
	if err := Invalid("bad: %w", fs.ErrPermission); !errors.Is(err, fs.ErrPermission) {
		t.Error("wrapped cause lost")
	}
}
