package stats

import (
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name      string
		in        []time.Duration
		med, p90  float64
		min, maxv float64
	}{
		{"odd", []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}, 2, 3, 1, 3},
		{"even", []time.Duration{4 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}, 2.5, 4, 1, 4},
		{"ten", []time.Duration{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 5.5e-6, 9e-6, 1e-6, 10e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.in)
			if s.N != len(tt.in) || !near(s.MedianMS, tt.med) || !near(s.P90MS, tt.p90) || !near(s.MinMS, tt.min) || !near(s.MaxMS, tt.maxv) {
				t.Errorf("Summarize = %+v, want median %v p90 %v min %v max %v", s, tt.med, tt.p90, tt.min, tt.maxv)
			}
		})
	}
	if s := Summarize(nil); s.N != 0 || s.MedianMS != 0 {
		t.Errorf("Summarize(nil) = %+v, want zero", s)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{2, 1, "2.00x"},
		{1, 4, "0.25x"},
		{0, 1, "—"},
		{1, 0, "—"},
		{math.NaN(), 1, "—"},
	}
	for _, tt := range tests {
		if got := Ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("Ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}
