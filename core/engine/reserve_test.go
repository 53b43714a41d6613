package engine

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/image/digest"
)

// A create in progress holds its name and its image: another create or a
// rename to that name is refused, and rmi sees the image in use.
func TestCreateReservesName(t *testing.T) {
	e, rootfs := newTestEngine(t)
	e.mu.Lock()
	e.reserveName("busy", reservation{id: "c0ffee", image: "sha256:abc"})
	e.mu.Unlock()
	cfg := api.Config{Cmd: []string{"true"}, Image: "none"}
	if _, _, err := e.Create("busy", cfg, &api.HostConfig{ExternalRootfs: rootfs}); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "c0ffee") {
		t.Errorf("create with a reserved name: %v, want a conflict naming c0ffee", err)
	}
	if _, _, err := e.Create("other", cfg, &api.HostConfig{ExternalRootfs: rootfs}); err != nil {
		t.Fatal(err)
	}
	if err := e.Rename("other", "busy"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("rename to a reserved name: %v, want a conflict", err)
	}
	if users, _ := e.usersOf(digest.Digest("sha256:abc")); len(users) != 1 || users[0] != "c0ffee" {
		t.Errorf("usersOf the reserved image = %v, want [c0ffee]", users)
	}
	e.mu.Lock()
	delete(e.creating, "busy")
	e.mu.Unlock()
	if _, _, err := e.Create("busy", cfg, &api.HostConfig{ExternalRootfs: rootfs}); err != nil {
		t.Errorf("create once the reservation is gone: %v", err)
	}
}

// Concurrent creates of one name: exactly one wins, and no reservation
// is left behind by the others.
func TestCreateSameNameConcurrently(t *testing.T) {
	e, rootfs := newTestEngine(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = e.Create("one", api.Config{Cmd: []string{"true"}, Image: "none"}, &api.HostConfig{ExternalRootfs: rootfs})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errdefs.ErrConflict):
			t.Errorf("create: %v, want success or a conflict", err)
		}
	}
	if won != 1 || len(e.List(true)) != 1 {
		t.Errorf("%d creates succeeded, %d containers; want 1 and 1", won, len(e.List(true)))
	}
	e.mu.Lock()
	left := len(e.creating)
	e.mu.Unlock()
	if left != 0 {
		t.Errorf("%d reservations left after the creates", left)
	}
}

func TestDurableRecord(t *testing.T) {
	tests := []struct {
		policy string
		want   bool
	}{{"", false}, {"no", false}, {"on-failure", false}, {"always", true}, {"unless-stopped", true}}
	for _, tt := range tests {
		c := &Container{hostConfig: &api.HostConfig{RestartPolicy: api.RestartPolicy{Name: tt.policy}}}
		if got := c.durable(); got != tt.want {
			t.Errorf("restart policy %q: durable = %v, want %v", tt.policy, got, tt.want)
		}
	}
}
