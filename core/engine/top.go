package engine

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/oci/cgroups"
)

// Top lists the container's processes as the host's ps shows them with
// psArgs (default -ef), as Docker does: ps runs on the host and its
// lines are kept for the pids in the container's cgroup.
func (e *Engine) Top(id, psArgs string) (*api.TopResponse, error) {
	c, err := e.Lookup(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	running, cid := c.running(), c.rec.ID
	c.mu.Unlock()
	if !running {
		return nil, errdefs.Conflict("Container %s is not running", cid)
	}
	m, err := cgroups.New("/petrel/"+cid, cid)
	if err != nil {
		return nil, err
	}
	pids, err := m.Pids()
	if err != nil {
		return nil, err
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := exec.Command("ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, errdefs.Invalid("ps %s: %v", psArgs, err)
	}
	return filterPs(out, pids)
}

// filterPs keeps ps's header and the lines of the given pids.
func filterPs(out []byte, pids []int) (*api.TopResponse, error) {
	lines := strings.Split(strings.TrimRight(string(bytes.TrimSpace(out)), "\n"), "\n")
	if len(lines) == 0 {
		return nil, errdefs.Invalid("ps printed nothing")
	}
	titles := strings.Fields(lines[0])
	col := -1
	for i, t := range titles {
		if t == "PID" {
			col = i
		}
	}
	if col < 0 {
		return nil, errdefs.Invalid("Couldn't find PID field in ps output")
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	resp := &api.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= col {
			continue
		}
		if pid, err := strconv.Atoi(f[col]); err != nil || !want[pid] {
			continue
		}
		// The last column (the command) may hold spaces.
		if len(f) > len(titles) {
			f = append(f[:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		}
		resp.Processes = append(resp.Processes, f)
	}
	return resp, nil
}
