package daemon

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/archive"
	"github.com/petrel-edge/petrel/core/engine"
	"github.com/petrel-edge/petrel/core/errdefs"
)

// containerExtraRoutes are cp (archive), stats, update and volumes.
func (s *server) containerExtraRoutes() map[string]func(http.ResponseWriter, *http.Request) error {
	return map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /containers/{id}/stats":    s.stats,
		"POST /containers/{id}/update":  s.update,
		"HEAD /containers/{id}/archive": s.archiveHead,
		"GET /containers/{id}/archive":  s.archiveGet,
		"PUT /containers/{id}/archive":  s.archivePut,
		"GET /volumes":                  s.volumeList,
		"POST /volumes/create":          s.volumeCreate,
		"POST /volumes/prune":           s.volumePrune,
		"GET /volumes/{name}":           s.volumeInspect,
		"DELETE /volumes/{name}":        s.volumeRemove,
	}
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) error {
	var o engine.StatsOptions
	o.Stream = true
	if r.URL.Query().Has("stream") {
		var err error
		if o.Stream, err = boolQuery(r, "stream"); err != nil {
			return err
		}
	}
	oneShot, err := boolQuery(r, "one-shot")
	if err != nil {
		return err
	}
	if oneShot && o.Stream {
		return errdefs.Invalid("cannot have stream=true and one-shot=true")
	}
	o.OneShot = oneShot
	if _, err := s.eng.Lookup(r.PathValue("id")); err != nil {
		return err
	}
	started := false
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	err = s.eng.Stats(r.Context(), r.PathValue("id"), o, func(st *api.Stats) error {
		if !started {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if err := enc.Encode(st); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if started {
		return nil // the stream has begun: an error only ends it
	}
	return err
}

func (s *server) update(w http.ResponseWriter, r *http.Request) error {
	var u api.UpdateConfig
	if err := decode(r, &u); err != nil {
		return err
	}
	warnings, err := s.eng.Update(r.PathValue("id"), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.UpdateResponse{Warnings: warnings})
}

const pathStatHeader = "X-Docker-Container-Path-Stat"

func setPathStat(w http.ResponseWriter, st api.PathStat) {
	data, _ := json.Marshal(st)
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(data))
}

func (s *server) archiveHead(w http.ResponseWriter, r *http.Request) error {
	st, err := s.eng.ArchiveStat(r.PathValue("id"), r.URL.Query().Get("path"))
	if err != nil {
		// HEAD has no body: the status and a header say it all.
		w.Header().Set("X-Petrel-Error", err.Error())
		w.WriteHeader(statusOf(err))
		return nil
	}
	setPathStat(w, st)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) archiveGet(w http.ResponseWriter, r *http.Request) error {
	started := false
	err := s.eng.ArchiveGet(r.PathValue("id"), r.URL.Query().Get("path"), w, func(st api.PathStat) {
		setPathStat(w, st)
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		started = true
	})
	if err != nil && started {
		// Too late for a status: the client sees a truncated archive.
		s.logf("GET archive %s: %v", r.URL.Query().Get("path"), err)
		return nil
	}
	return err
}

func (s *server) archivePut(w http.ResponseWriter, r *http.Request) error {
	var o archive.UntarOptions
	noOverwrite, err := boolQuery(r, "noOverwriteDirNonDir")
	if err != nil {
		return err
	}
	o.NoOverwriteDirNonDir = noOverwrite
	copyUIDGID, err := boolQuery(r, "copyUIDGID")
	if err != nil {
		return err
	}
	if !copyUIDGID {
		o.Owner = &[2]int{0, 0}
	}
	if err := s.eng.ArchivePut(r.PathValue("id"), r.URL.Query().Get("path"), r.Body, o); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) volumeList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseVolumeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	vols, err := s.eng.VolumeList(f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.VolumeListResponse{Volumes: vols, Warnings: []string{}})
}

func parseVolumeFilters(q string) (engine.VolumeFilters, error) {
	var f engine.VolumeFilters
	if q == "" {
		return f, nil
	}
	var asMap map[string]map[string]bool
	m := map[string][]string{}
	if err := json.Unmarshal([]byte(q), &asMap); err == nil {
		for k, vs := range asMap {
			for v := range vs {
				m[k] = append(m[k], v)
			}
		}
	} else if err := json.Unmarshal([]byte(q), &m); err != nil {
		return f, errdefs.Invalid("invalid filters: %v", err)
	}
	for k, vs := range m {
		switch k {
		case "name":
			f.Name = vs
		case "label":
			f.Label = vs
		case "driver":
			for _, v := range vs {
				if v != "local" {
					f.Name = append(f.Name, "\x00") // matches nothing
				}
			}
		case "dangling":
			if len(vs) != 1 {
				return f, errdefs.Invalid("invalid filter 'dangling': want one value")
			}
			b, err := strconv.ParseBool(vs[0])
			if err != nil {
				return f, errdefs.Invalid("invalid filter 'dangling=%s'", vs[0])
			}
			f.Dangling = &b
		default:
			return f, errdefs.Invalid("invalid filter '%s'", k)
		}
	}
	return f, nil
}

func (s *server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	var req api.VolumeCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.eng.VolumeCreate(req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.eng.VolumeInspect(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *server) volumeRemove(w http.ResponseWriter, r *http.Request) error {
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	return noContent(w, s.eng.VolumeRemove(r.PathValue("name"), force))
}

func (s *server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.eng.VolumePrune()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}
