// Package stats summarises the benchmarks' timed samples: median,
// nearest-rank percentiles and ratios.
package stats

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// A Summary is the spread of one operation's samples.
type Summary struct {
	N        int     `json:"n"`
	MedianMS float64 `json:"median_ms"`
	P90MS    float64 `json:"p90_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted; the median of an even count is the mean of the middle two.
func Percentile(sorted []float64, p float64) float64 {
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

// MS returns d in milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summarize returns the Summary of samples; the zero Summary for none.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	v := make([]float64, len(samples))
	for i, d := range samples {
		v[i] = MS(d)
	}
	slices.Sort(v)
	return Summary{N: len(v), MedianMS: Percentile(v, 50), P90MS: Percentile(v, 90), MinMS: v[0], MaxMS: v[len(v)-1]}
}

// Ratio formats a/b as "1.23x", or "—" when either is missing.
func Ratio(a, b float64) string {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
