package nftables

import "testing"

func TestQuoteAndDelete(t *testing.T) {
	if got := Quote(`a "b" c`); got != `"a b c"` {
		t.Errorf("Quote = %s", got)
	}
	r := Rule{Family: "inet", Table: "t", Chain: "c", Handle: 7}
	if got, want := r.Delete(), "delete rule inet t c handle 7"; got != want {
		t.Errorf("Delete = %q, want %q", got, want)
	}
}
