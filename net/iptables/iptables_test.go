package iptables

import (
	"reflect"
	"strings"
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

func TestBatchString(t *testing.T) {
	b := NewBatch("nat")
	b.Append("CNI-x", "-d", "10.0.0.0/24", "-m", "comment", "--comment", `name: "n" id: "c"`, "-j", "ACCEPT")
	b.NewChain("CNI-x")
	b.Append("CNI-x", "-d", "10.0.0.0/24", "-m", "comment", "--comment", `name: "n" id: "c"`, "-j", "ACCEPT")
	b.Insert("POSTROUTING", "-m", "comment", "--comment", "", "-j", "CNI-x")
	b.DeleteLine(`-A POSTROUTING -s 10.0.0.2/32 -j CNI-y`)
	b.RemoveChain("CNI-y")
	want := "*nat\n:CNI-x - [0:0]\n" +
		`-A CNI-x -d 10.0.0.0/24 -m comment --comment "name: \"n\" id: \"c\"" -j ACCEPT` + "\n" +
		`-I POSTROUTING -m comment --comment "" -j CNI-x` + "\n" +
		"-D POSTROUTING -s 10.0.0.2/32 -j CNI-y\n-F CNI-y\n-X CNI-y\nCOMMIT\n"
	if got := b.String(); got != want {
		t.Fatalf("batch:\n%s\nwant:\n%s", got, want)
	}
	// What a batch writes, SplitRule reads back.
	line := strings.Split(b.String(), "\n")[2]
	if f := SplitRule(line); f[7] != `name: "n" id: "c"` {
		t.Fatalf("round trip of the comment: %q", f)
	}
}
