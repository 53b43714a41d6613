// Package lazy holds values computed on first use. Its zero Value is
// ready, so a package-level one costs nothing when the binary starts:
// sync.OnceValue, by contrast, allocates its closure in the package's
// initialiser, which every applet of the multicall binary runs.
package lazy

import "sync"

// A Value is computed once, by the function its first Get is given.
type Value[T any] struct {
	once sync.Once
	v    T
}

// Get returns the value, computing it with compute on the first call;
// later calls return that result and ignore compute.
func (l *Value[T]) Get(compute func() T) T {
	l.once.Do(func() { l.v = compute() })
	return l.v
}
