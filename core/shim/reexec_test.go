package shim

import (
	"strings"
	"testing"
)

func TestParseResume(t *testing.T) {
	full := Resume{Pid: 42, Listener: 7, Stdout: 8, Stderr: 10, Stdin: -1, Console: -1}
	if r, err := ParseResume(full.String()); err != nil || *r != full {
		t.Fatalf("ParseResume(%q) = %+v, %v", full.String(), r, err)
	}
	tests := []struct{ in, want string }{
		{"", "want pid=N"},
		{"pid=42,listener=7,stdout=8,stderr=10,stdin=-1", "want pid=N"},
		{"pid=42,listener=7,stdout=8,stderr=10,stdin=-1,console=-1,extra=1", "want pid=N"},
		{"pid=42,pid=43,stdout=8,stderr=10,stdin=-1,console=-1", "want pid=N"},
		{"pid=x,listener=7,stdout=8,stderr=10,stdin=-1,console=-1", `pid="x" is not a number`},
		{"pid=42,listener=7,stdout=-2,stderr=10,stdin=-1,console=-1", "not a number"},
		{"pid=0,listener=7,stdout=8,stderr=10,stdin=-1,console=-1", "needs a pid and a listener"},
		{"pid=42,listener=-1,stdout=8,stderr=10,stdin=-1,console=-1", "needs a pid and a listener"},
	}
	for _, tt := range tests {
		if _, err := ParseResume(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseResume(%q) = %v, want an error with %q", tt.in, err, tt.want)
		}
	}
}
