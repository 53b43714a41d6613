package container

// A table is a small lookup table laid out by the linker: package-level
// maps are built by init code that every applet of the binary would run.
type table[K comparable, V any] []struct {
	k K
	v V
}

func (t table[K, V]) get(k K) (V, bool) {
	for _, e := range t {
		if e.k == k {
			return e.v, true
		}
	}
	var zero V
	return zero, false
}

// val is get without the found flag: the zero value when k is missing.
func (t table[K, V]) val(k K) V {
	v, _ := t.get(k)
	return v
}
