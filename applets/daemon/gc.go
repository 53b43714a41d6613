package daemon

import (
	"fmt"
	"math"
	"runtime/debug"

	"github.com/petrel-edge/petrel/core/config"
)

// Collector defaults for a board with 256 MB of RAM, from
// `make bench-footprint FOOTPRINTFLAGS=-gc=…` (see README): a heap grown by
// half of the live data between collections, and a soft limit far above
// what petreld uses with dozens of containers, so that it only bites when
// something leaks or a burst of requests piles up garbage.
const (
	defaultGCPercent   = 50
	defaultMemoryLimit = 32 << 20
)

// gcSettings are the collector's settings and where each one came from.
type gcSettings struct {
	percent              int   // -1: off
	limit                int64 // bytes; math.MaxInt64: none
	percentFrom          string
	limitFrom            string
	percentEnv, limitEnv bool // set by the environment: the Go runtime applied them
}

// chooseGC picks the collector's settings: GOGC and GOMEMLIMIT from the
// environment win (the Go runtime has applied them already), then
// daemon.json's gc-percent and memory-limit, then the defaults.
func chooseGC(cfg *config.Config, getenv func(string) string) (gcSettings, error) {
	s := gcSettings{percent: defaultGCPercent, limit: defaultMemoryLimit, percentFrom: "default", limitFrom: "default"}
	if v := getenv("GOGC"); v != "" {
		s.percentEnv, s.percentFrom = true, "GOGC="+v
	} else if cfg.GCPercent != nil {
		s.percent, s.percentFrom = *cfg.GCPercent, "daemon.json"
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		s.limitEnv, s.limitFrom = true, "GOMEMLIMIT="+v
	} else {
		n, err := cfg.MemoryLimitBytes()
		if err != nil {
			return s, err
		}
		switch {
		case n < 0:
			s.limit, s.limitFrom = math.MaxInt64, "daemon.json"
		case n > 0:
			s.limit, s.limitFrom = n, "daemon.json"
		}
	}
	return s, nil
}

// apply sets what the environment did not, and describes the result.
func (s gcSettings) apply() string {
	if !s.percentEnv {
		debug.SetGCPercent(s.percent)
	}
	if !s.limitEnv {
		debug.SetMemoryLimit(s.limit)
	}
	return s.String()
}

func (s gcSettings) String() string {
	pct := fmt.Sprintf("gc-percent %d", s.percent)
	if s.percentEnv {
		pct = "gc-percent from the environment"
	} else if s.percent < 0 {
		pct = "gc-percent off"
	}
	limit := "memory-limit off"
	if s.limitEnv {
		limit = "memory-limit from the environment"
	} else if s.limit != math.MaxInt64 {
		limit = fmt.Sprintf("memory-limit %d MiB", s.limit>>20)
		if s.limit%(1<<20) != 0 {
			limit = fmt.Sprintf("memory-limit %d bytes", s.limit)
		}
	}
	return fmt.Sprintf("%s (%s), %s (%s)", pct, s.percentFrom, limit, s.limitFrom)
}
