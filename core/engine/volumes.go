package engine

import (
	"errors"
	"sort"
	"strings"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
)

// VolumeCreate makes a named volume (or an anonymous one for an empty
// name); an existing name returns that volume unchanged, as Docker does.
func (e *Engine) VolumeCreate(req api.VolumeCreateRequest) (api.Volume, error) {
	v, created, err := e.vols.Create(req)
	if err == nil && created {
		e.Events.Publish("volume", "create", v.Name, map[string]string{"driver": v.Driver})
	}
	return v, err
}

// VolumeInspect returns one volume.
func (e *Engine) VolumeInspect(name string) (api.Volume, error) {
	return e.vols.Get(name)
}

// VolumeFilters select volumes: name (substring), label (key or
// key=value), dangling (true: used by no container).
type VolumeFilters struct {
	Name     []string
	Label    []string
	Dangling *bool
}

// VolumeList returns the volumes that match f.
func (e *Engine) VolumeList(f VolumeFilters) ([]api.Volume, error) {
	all, err := e.vols.List()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	used := e.volumeUsersLocked()
	e.mu.Unlock()
	out := []api.Volume{}
	for _, v := range all {
		if f.Dangling != nil && (len(used[v.Name]) == 0) != *f.Dangling {
			continue
		}
		if !anyMatch(f.Name, func(s string) bool { return strings.Contains(v.Name, s) }) {
			continue
		}
		if !anyMatch(f.Label, func(s string) bool {
			k, val, hasVal := strings.Cut(s, "=")
			got, ok := v.Labels[k]
			return ok && (!hasVal || got == val)
		}) {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

func anyMatch(want []string, ok func(string) bool) bool {
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		if ok(w) {
			return true
		}
	}
	return false
}

// volumeUsersLocked maps volume names to the ids of the containers
// that mount them, created or being created; e.mu held.
func (e *Engine) volumeUsersLocked() map[string][]string {
	users := map[string][]string{}
	for id, c := range e.byID {
		c.mu.Lock()
		names := volumeNames(c.hostConfig)
		c.mu.Unlock()
		for _, n := range names {
			users[n] = append(users[n], id)
		}
	}
	for _, r := range e.creating {
		if r.hc == nil {
			continue
		}
		for _, n := range volumeNames(r.hc) {
			users[n] = append(users[n], r.id)
		}
	}
	for _, ids := range users {
		sort.Strings(ids)
	}
	return users
}

// VolumeRemove deletes a volume no container uses, running or not;
// force only makes a missing volume no error.
func (e *Engine) VolumeRemove(name string, force bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.vols.Get(name); err != nil {
		if force && errors.Is(err, errdefs.ErrNotFound) {
			return nil
		}
		return err
	}
	if ids := e.volumeUsersLocked()[name]; len(ids) > 0 {
		return errdefs.Conflict("remove %s: volume is in use - [%s]", name, strings.Join(ids, ", "))
	}
	if err := e.vols.Remove(name); err != nil {
		return err
	}
	e.Events.Publish("volume", "destroy", name, map[string]string{"driver": "local"})
	return nil
}

// VolumePrune removes every volume no container uses.
func (e *Engine) VolumePrune() (api.VolumePruneResponse, error) {
	resp := api.VolumePruneResponse{VolumesDeleted: []string{}}
	all, err := e.vols.List()
	if err != nil {
		return resp, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	used := e.volumeUsersLocked()
	for _, v := range all {
		if len(used[v.Name]) > 0 {
			continue
		}
		if err := e.vols.Remove(v.Name); err != nil {
			return resp, err
		}
		resp.VolumesDeleted = append(resp.VolumesDeleted, v.Name)
		e.Events.Publish("volume", "destroy", v.Name, map[string]string{"driver": "local"})
	}
	return resp, nil
}

// removeAnonymousVolumes drops the anonymous volumes of a container
// being removed (rm -v) that no other container uses; e.mu held and c
// already out of e.byID.
func (e *Engine) removeAnonymousVolumes(c *Container) {
	c.mu.Lock()
	var anon []string
	for _, m := range c.hostConfig.Mounts {
		if m.Type == "volume" && len(m.Source) == 64 && e.vols.IsAnonymous(m.Source) {
			anon = append(anon, m.Source)
		}
	}
	c.mu.Unlock()
	used := e.volumeUsersLocked()
	for _, n := range anon {
		if len(used[n]) > 0 {
			continue
		}
		if err := e.vols.Remove(n); err != nil {
			e.logf("container %s: remove volume %s: %v", c.rec.ID, n, err)
		}
	}
}
