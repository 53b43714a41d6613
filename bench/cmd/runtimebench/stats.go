package main

import "slices"

// medianKB returns the median of RSS samples in KiB.
func medianKB(samples []int64) int64 {
	v := slices.Clone(samples)
	slices.Sort(v)
	n := len(v)
	switch {
	case n == 0:
		return 0
	case n%2 == 0:
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}
