package caps

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
		ok   bool
	}{
		{"CAP_CHOWN", 0, true},
		{"CAP_SYS_ADMIN", 21, true},
		{"CAP_CHECKPOINT_RESTORE", 40, true},
		{"CAP_NOPE", 0, false},
		{"cap_chown", 0, false},
	} {
		got, err := Parse(tc.name)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("Parse(%q) = %d, %v; want %d ok=%v", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

func TestValidateNamesTheSet(t *testing.T) {
	err := Validate(&specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}, Ambient: []string{"CAP_FLY"}})
	if err == nil || err.Error() != `capabilities.ambient: unknown capability "CAP_FLY"` {
		t.Fatalf("got %v", err)
	}
	if err := Validate(&specs.LinuxCapabilities{Effective: []string{"CAP_KILL"}}); err != nil {
		t.Fatal(err)
	}
}

func TestToSet(t *testing.T) {
	if s := toSet([]string{"CAP_CHOWN", "CAP_KILL", "bogus"}); s != 1|1<<5 {
		t.Fatalf("toSet = %b", s)
	}
}
