package shim

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestHandWrittenAnswers checks the ready line and the fork reply that
// the shim writes without encoding/json against what it would write.
func TestHandWrittenAnswers(t *testing.T) {
	for _, r := range []Response{
		{Pid: 1}, {Pid: 4194304, Started: true}, {Error: "no \"config.json\"\n"}, {Pid: 7, StartError: "exec: <nil>"},
		{Pid: 3, Status: "running"}, {Pid: 5, Exit: &Exit{Pid: 5, Code: 2, ExitedAt: time.Unix(1, 0).UTC()}}, {},
	} {
		var want bytes.Buffer
		json.NewEncoder(&want).Encode(r)
		if got := r.readyLine(); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%+v: ready line %q, want %q", r, got, want.Bytes())
		}
	}
	for _, r := range []forkReply{{Pid: 1}, {Pid: 123456}, {Error: "clone: \u00e9perm"}, {Pid: 9, Error: "x"}, {}} {
		want, _ := json.Marshal(r)
		if got := r.encode(); !bytes.Equal(got, want) {
			t.Errorf("%+v: fork reply %q, want %q", r, got, want)
		}
	}
}
