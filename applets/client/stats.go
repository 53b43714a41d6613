package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/petrel-edge/petrel/core/api"
)

// statsRow is one container's line of petrel stats.
type statsRow struct {
	id, name                string
	cpu, memPerc            float64
	mem, memLimit           uint64
	blkRead, blkWrite, pids uint64
	netRx, netTx            uint64
	err                     error
	seen                    bool
}

// row computes docker's figures from one sample: CPU from the delta
// against the sample's precpu, memory without the inactive page cache.
func statsRowOf(s *api.Stats) statsRow {
	r := statsRow{id: s.ID, name: strings.TrimPrefix(s.Name, "/"), seen: !s.Read.IsZero()}
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	online := float64(s.CPUStats.OnlineCPUs)
	if online == 0 {
		online = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpuDelta > 0 && sysDelta > 0 {
		r.cpu = cpuDelta / sysDelta * online * 100
	}
	m := s.MemoryStats
	r.mem = m.Usage
	if v, ok := m.Stats["total_inactive_file"]; ok && v < r.mem {
		r.mem -= v
	} else if v, ok := m.Stats["inactive_file"]; ok && v < r.mem {
		r.mem -= v
	}
	r.memLimit = m.Limit
	if m.Limit > 0 {
		r.memPerc = float64(r.mem) / float64(m.Limit) * 100
	}
	for _, b := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(b.Op) {
		case "read":
			r.blkRead += b.Value
		case "write":
			r.blkWrite += b.Value
		}
	}
	r.pids = s.PidsStats.Current
	return r
}

// binarySize is docker's units.BytesSize: 1.953MiB.
func binarySize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strconv.FormatFloat(f, 'g', 4, 64) + units[i]
}

// decimalSize is docker's units.HumanSizeWithPrecision(n, 3): 1.2kB.
func decimalSize(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return strconv.FormatFloat(f, 'g', 3, 64) + units[i]
}

func (r statsRow) fields(noTrunc bool) map[string]string {
	id := r.id
	if !noTrunc {
		id = shortID(id)
	}
	if !r.seen {
		return map[string]string{".Container": id, ".ID": id, ".Name": r.name, ".CPUPerc": "--", ".MemUsage": "-- / --",
			".MemPerc": "--", ".NetIO": "--", ".BlockIO": "--", ".PIDs": "--"}
	}
	return map[string]string{
		".Container": id, ".ID": id, ".Name": r.name,
		".CPUPerc":  fmt.Sprintf("%.2f%%", r.cpu),
		".MemUsage": binarySize(r.mem) + " / " + binarySize(r.memLimit),
		".MemPerc":  fmt.Sprintf("%.2f%%", r.memPerc),
		".NetIO":    decimalSize(r.netRx) + " / " + decimalSize(r.netTx),
		".BlockIO":  decimalSize(r.blkRead) + " / " + decimalSize(r.blkWrite),
		".PIDs":     strconv.FormatUint(r.pids, 10),
	}
}

func statsHeaders() map[string]string {
	return map[string]string{
		".Container": "CONTAINER", ".ID": "CONTAINER ID", ".Name": "NAME", ".CPUPerc": "CPU %", ".MemUsage": "MEM USAGE / LIMIT",
		".MemPerc": "MEM %", ".NetIO": "NET I/O", ".BlockIO": "BLOCK I/O", ".PIDs": "PIDS",
	}
}

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// renderStats fills the template-lite format ({{.Field}} only) for each
// row; "table " prints a header and aligns the columns.
func renderStats(w io.Writer, format string, rows []statsRow, noTrunc bool) error {
	table := strings.HasPrefix(format, "table ")
	format = strings.ReplaceAll(strings.TrimPrefix(format, "table "), `\t`, "\t")
	expand := func(vals map[string]string) (string, error) {
		var b strings.Builder
		f := format
		for {
			i := strings.Index(f, "{{")
			if i < 0 {
				b.WriteString(f)
				return b.String(), nil
			}
			b.WriteString(f[:i])
			j := strings.Index(f[i:], "}}")
			if j < 0 {
				return "", fmt.Errorf("template: unclosed action in %q", format)
			}
			key := strings.TrimSpace(f[i+2 : i+j])
			v, ok := vals[key]
			if !ok {
				return "", fmt.Errorf("template: unknown field %s (use .Container .ID .Name .CPUPerc .MemUsage .MemPerc .NetIO .BlockIO .PIDs)", key)
			}
			b.WriteString(v)
			f = f[i+j+2:]
		}
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		h, err := expand(statsHeaders())
		if err != nil {
			return err
		}
		fmt.Fprintln(out, h)
	}
	for _, r := range rows {
		line, err := expand(r.fields(noTrunc))
		if err != nil {
			return err
		}
		fmt.Fprintln(out, line)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func cmdStats(c *cli, args []string) error {
	var all, noStream, noTrunc bool
	var format string
	f := newFlags("petrel stats [OPTIONS] [CONTAINER...]", true)
	f.Bool(&all, "all", "a", "show all containers (default: running only)")
	f.Bool(&noStream, "no-stream", "", "print one sample and exit")
	f.Bool(&noTrunc, "no-trunc", "", "do not truncate ids")
	f.String(&format, "format", "", "print through a template: {{.ID}} {{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.NetIO}} {{.BlockIO}} {{.PIDs}} (\"table \" prefix for a header)")
	names, err := c.parse(f, args, 0, -1)
	if err != nil {
		return err
	}
	if format == "" {
		format = defaultStatsFormat
	}
	// Check the template before any request.
	if err := renderStats(io.Discard, format, []statsRow{{}}, noTrunc); err != nil {
		return &usageError{err: err}
	}
	list := func() ([]string, error) {
		if len(names) > 0 {
			return names, nil
		}
		q := url.Values{}
		if all {
			q.Set("all", "1")
		}
		var cs []api.Container
		if err := c.call("GET", "/containers/json", q, nil, &cs); err != nil {
			return nil, err
		}
		ids := make([]string, len(cs))
		for i, ct := range cs {
			ids[i] = ct.ID
		}
		return ids, nil
	}
	ids, err := list()
	if err != nil {
		return err
	}
	if noStream {
		return c.statsOnce(ids, names, format, noTrunc)
	}
	return c.statsStream(ids, names, list, format, noTrunc)
}

// statsOnce takes one sample of each container, in parallel.
func (c *cli) statsOnce(ids, named []string, format string, noTrunc bool) error {
	rows := make([]statsRow, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s api.Stats
			if err := c.call("GET", "/containers/"+id+"/stats", url.Values{"stream": {"0"}}, nil, &s); err != nil {
				rows[i] = statsRow{id: id, err: err}
				return
			}
			rows[i] = statsRowOf(&s)
		}()
	}
	wg.Wait()
	var good []statsRow
	var errs []string
	for _, r := range rows {
		if r.err != nil {
			errs = append(errs, r.err.Error())
			continue
		}
		good = append(good, r)
	}
	if len(good) > 0 || len(errs) == 0 {
		if err := renderStats(c.stdout, format, good, noTrunc); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return &statusError{code: 1, msg: strings.Join(errs, "\n")}
	}
	return nil
}

// statsStream keeps one streaming request per container and redraws
// the table every second, following containers that come and go when
// none were named.
func (c *cli) statsStream(ids, named []string, list func() ([]string, error), format string, noTrunc bool) error {
	var mu sync.Mutex
	rows := map[string]*statsRow{}
	var order []string
	var firstErr error
	follow := func(id string) {
		resp, err := c.do("GET", "/containers/"+id+"/stats", url.Values{"stream": {"1"}}, nil)
		if err != nil {
			mu.Lock()
			if len(named) > 0 && firstErr == nil {
				firstErr = err
			}
			delete(rows, id)
			mu.Unlock()
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var s api.Stats
			if err := dec.Decode(&s); err != nil {
				mu.Lock()
				delete(rows, id)
				mu.Unlock()
				return
			}
			r := statsRowOf(&s)
			mu.Lock()
			if _, ok := rows[id]; ok {
				rows[id] = &r
			}
			mu.Unlock()
		}
	}
	add := func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if _, ok := rows[id]; ok {
				continue
			}
			rows[id] = &statsRow{id: id, name: id}
			order = append(order, id)
			go follow(id)
		}
	}
	add(ids)
	tty := isTerminal(c.stdout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		mu.Lock()
		if firstErr != nil {
			mu.Unlock()
			return firstErr
		}
		var cur []statsRow
		kept := order[:0]
		for _, id := range order {
			if r, ok := rows[id]; ok {
				kept = append(kept, id)
				cur = append(cur, *r)
			}
		}
		order = kept
		mu.Unlock()
		if tty {
			io.WriteString(c.stdout, "\033[2J\033[H")
		}
		if err := renderStats(c.stdout, format, cur, noTrunc); err != nil {
			return err
		}
		select {
		case <-c.ctx.Done():
			return nil
		case <-tick.C:
		}
		if len(named) == 0 {
			if ids, err := list(); err == nil {
				add(ids)
			}
		}
	}
}

// errNoFlags is update's error without a flag, docker's words.
var errNoFlags = errors.New("you must provide one or more flags when using this command")
