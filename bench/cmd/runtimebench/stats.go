package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// A Summary is the spread of one operation's samples for one runtime.
type Summary struct {
	N        int     `json:"n"`
	MedianMS float64 `json:"median_ms"`
	P90MS    float64 `json:"p90_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted; the median of an even count is the mean of the middle two.
func percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if p == 50 && n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	i := int(math.Ceil(p/100*float64(n))) - 1
	return sorted[max(0, min(i, n-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summarize returns the Summary of samples.
func summarize(samples []time.Duration) Summary {
	v := make([]float64, len(samples))
	for i, d := range samples {
		v[i] = ms(d)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return Summary{}
	}
	return Summary{N: len(v), MedianMS: percentile(v, 50), P90MS: percentile(v, 90), MinMS: v[0], MaxMS: v[len(v)-1]}
}

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

// ratio formats a/b as "1.23x", or "—" when either is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
