package daemon

import (
	"net/http"
	"strings"

	"github.com/petrel-edge/petrel/core/api"
)

// The /networks endpoints: CNI configuration lists shown as Docker's
// networks.

func (s *server) networks(w http.ResponseWriter, r *http.Request) error {
	nets, err := s.eng.Networks()
	if err != nil {
		return err
	}
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	out := []api.NetworkResource{}
	for _, n := range nets {
		if matchNetwork(f, n) {
			out = append(out, n)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// matchNetwork applies the name, id and driver filters of network ls.
func matchNetwork(f filters, n api.NetworkResource) bool {
	for key, vals := range f {
		ok := false
		for _, v := range vals {
			switch key {
			case "name":
				ok = ok || strings.Contains(n.Name, v)
			case "id":
				ok = ok || strings.HasPrefix(n.ID, v)
			case "driver":
				ok = ok || n.Driver == v
			default:
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	n, err := s.eng.NetworkInspect(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

func (s *server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req api.NetworkCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id, err := s.eng.NetworkCreate(req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.NetworkCreateResponse{ID: id})
}

func (s *server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.eng.NetworkRemove(r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
