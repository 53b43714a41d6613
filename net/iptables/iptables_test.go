package iptables

import (
	"reflect"
	"testing"
)

func TestSplitRule(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`-A POSTROUTING -s 10.231.0.2/32 -m comment --comment "name: \"n\" id: \"c1\"" -j CNI-abc`,
			[]string{"-A", "POSTROUTING", "-s", "10.231.0.2/32", "-m", "comment", "--comment", `name: "n" id: "c1"`, "-j", "CNI-abc"}},
		{`-A X -m comment --comment "" -j ACCEPT`, []string{"-A", "X", "-m", "comment", "--comment", "", "-j", "ACCEPT"}},
		{`-A X  ! -d 224.0.0.0/4 -j MASQUERADE`, []string{"-A", "X", "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"}},
	}
	for _, tt := range tests {
		if got := SplitRule(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitRule(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHasJump(t *testing.T) {
	f := SplitRule(`-A POSTROUTING -s 10.0.0.2/32 -j CNI-abc`)
	if !hasJump(f, "CNI-abc") || hasJump(f, "CNI-ab") {
		t.Fatal("hasJump does not match the jump target exactly")
	}
}
