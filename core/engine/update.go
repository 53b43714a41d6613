package engine

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/shim"
)

// Update changes a container's resources and restart policy, as Docker's
// update: zero fields keep their value. A running container gets the new
// limits at once through its shim and runtime; the host config is saved
// only once they hold, so it survives restarts of the container and of
// the daemon. On any error nothing changes.
func (e *Engine) Update(id string, u api.UpdateConfig) ([]string, error) {
	c, err := e.Lookup(id)
	if err != nil {
		return nil, err
	}
	if len(u.Ulimits) > 0 || len(u.Devices) > 0 {
		return nil, errdefs.Invalid("ulimits and devices cannot be updated; recreate the container")
	}
	c.lock()
	defer c.unlock()
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return nil, errdefs.NotFound("No such container: %s", id)
	}
	old := c.hostConfig
	hc := *old
	cl, running := c.shim, c.running()
	c.mu.Unlock()
	r := &hc.Resources
	if err := mergeUpdate(r, u.Resources); err != nil {
		return nil, err
	}
	if p := u.RestartPolicy; p.Name != "" {
		if hc.AutoRemove && p.Name != "no" {
			return nil, errdefs.Invalid("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		hc.RestartPolicy = p
		if err := validateRestartPolicy(p); err != nil {
			return nil, err
		}
	}
	if err := validateHostConfig(&hc); err != nil {
		return nil, err
	}
	if running && cl != nil {
		lim := limits(u.Resources)
		// What the update names is set; what it leaves out keeps the
		// cgroup's value. Memory needs its swap recomputed from the
		// merged values, as at create.
		all := limits(*r)
		if u.Memory != 0 || u.MemorySwap != 0 || u.MemoryReservation != 0 {
			lim.Memory = all.Memory
		}
		if u.NanoCPUs != 0 || u.CPUPeriod != 0 || u.CPUQuota != 0 || u.CPUShares != 0 || u.CpusetCpus != "" || u.CpusetMems != "" {
			lim.CPU = all.CPU
		}
		if u.PidsLimit != nil {
			limit := *u.PidsLimit
			if limit <= 0 {
				limit = -1 // unlimited
			}
			lim.Pids = &specs.LinuxPids{Limit: limit}
		}
		if lim.Memory != nil || lim.CPU != nil || lim.Pids != nil || lim.BlockIO != nil {
			if _, err := cl.Call(e.ctx, shim.Request{Op: shim.OpUpdate, Resources: lim}); err != nil {
				return nil, errdefs.Invalid("Cannot update container %s: %v", c.rec.ID, err)
			}
		}
	}
	c.mu.Lock()
	c.hostConfig = &hc
	err = c.saveHostConfig()
	if err != nil {
		c.hostConfig = old
	}
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("update container %s: %w", c.rec.ID, err)
	}
	e.event(c, "update")
	return []string{}, nil
}

// mergeUpdate sets the non-zero fields of u on r, with Docker's checks.
func mergeUpdate(r *api.Resources, u api.Resources) error {
	if u.BlkioWeight != 0 {
		r.BlkioWeight = u.BlkioWeight
	}
	if u.CPUShares != 0 {
		r.CPUShares = u.CPUShares
	}
	if u.NanoCPUs != 0 {
		if r.CPUQuota > 0 && u.CPUQuota == 0 || r.CPUPeriod > 0 && u.CPUPeriod == 0 {
			return errdefs.Invalid("Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota has already been set")
		}
		r.NanoCPUs = u.NanoCPUs
	}
	if u.CPUPeriod != 0 || u.CPUQuota != 0 {
		if r.NanoCPUs > 0 && u.NanoCPUs == 0 {
			return errdefs.Invalid("Conflicting options: CPU Period/Quota cannot be updated as NanoCPUs has already been set")
		}
		if u.CPUPeriod != 0 {
			r.CPUPeriod = u.CPUPeriod
		}
		if u.CPUQuota != 0 {
			r.CPUQuota = u.CPUQuota
		}
	}
	if u.CPUPeriod < 0 || u.CPUQuota < -1 {
		return errdefs.Invalid("CPU period cannot be negative, CPU quota cannot be below -1")
	}
	if u.CpusetCpus != "" {
		r.CpusetCpus = u.CpusetCpus
	}
	if u.CpusetMems != "" {
		r.CpusetMems = u.CpusetMems
	}
	if u.Memory != 0 {
		if r.MemorySwap > 0 && u.Memory > r.MemorySwap && u.MemorySwap == 0 {
			return errdefs.Invalid("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
		}
		r.Memory = u.Memory
	}
	if u.MemorySwap != 0 {
		r.MemorySwap = u.MemorySwap
	}
	if u.MemoryReservation != 0 {
		r.MemoryReservation = u.MemoryReservation
	}
	if u.PidsLimit != nil {
		limit := *u.PidsLimit
		r.PidsLimit = &limit
	}
	return nil
}

// validateRestartPolicy checks a restart policy as create does.
func validateRestartPolicy(p api.RestartPolicy) error {
	switch p.Name {
	case "", "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return errdefs.Invalid("maximum retry count cannot be used with restart policy '%s'", p.Name)
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return errdefs.Invalid("maximum retry count cannot be negative")
		}
	default:
		return errdefs.Invalid("invalid restart policy '%s'", p.Name)
	}
	return nil
}
