package daemon

import (
	"math"
	"testing"

	"github.com/petrel-edge/petrel/core/config"
)

func TestChooseGC(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		env      map[string]string
		pct      int
		limit    int64
		describe string
	}{
		{"defaults", `{}`, nil, defaultGCPercent, defaultMemoryLimit, "gc-percent 50 (default), memory-limit 32 MiB (default)"},
		{"daemon.json", `{"gc-percent":100,"memory-limit":"64m"}`, nil, 100, 64 << 20, "gc-percent 100 (daemon.json), memory-limit 64 MiB (daemon.json)"},
		{"limit off", `{"memory-limit":"off"}`, nil, defaultGCPercent, math.MaxInt64, "gc-percent 50 (default), memory-limit off (daemon.json)"},
		{"collector off", `{"gc-percent":-1,"memory-limit":"20m"}`, nil, -1, 20 << 20, "gc-percent off (daemon.json), memory-limit 20 MiB (daemon.json)"},
		{"environment wins", `{"gc-percent":100,"memory-limit":"64m"}`, map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB"}, 100, 64 << 20,
			"gc-percent from the environment (GOGC=200), memory-limit from the environment (GOMEMLIMIT=1GiB)"},
		{"GOGC only", `{}`, map[string]string{"GOGC": "off"}, defaultGCPercent, defaultMemoryLimit,
			"gc-percent from the environment (GOGC=off), memory-limit 32 MiB (default)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			if err := config.Parse([]byte(tc.json), &cfg); err != nil {
				t.Fatal(err)
			}
			s, err := chooseGC(&cfg, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if !s.percentEnv && s.percent != tc.pct || !s.limitEnv && s.limit != tc.limit {
				t.Errorf("settings %+v, want percent %d limit %d", s, tc.pct, tc.limit)
			}
			if got := s.String(); got != tc.describe {
				t.Errorf("described as %q, want %q", got, tc.describe)
			}
		})
	}
}
