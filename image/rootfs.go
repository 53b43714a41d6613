package image

import (
	"fmt"

	"github.com/petrel-edge/petrel/image/snapshot"
)

// PrepareRootfs makes the writable root filesystem key (a container ID)
// from an image and returns how to mount it. The image counts as in use
// until RemoveRootfs.
func (s *Store) PrepareRootfs(key, nameOrID string) (snapshot.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.loadNames()
	if err != nil {
		return snapshot.Mount{}, err
	}
	img, _, err := s.lookup(nameOrID, n)
	if err != nil {
		return snapshot.Mount{}, err
	}
	m, err := s.snaps.Prepare(key, img.TopLayer(), map[string]string{labelImage: string(img.ID)})
	if err != nil {
		return snapshot.Mount{}, fmt.Errorf("rootfs for %s: %w", key, err)
	}
	return m, nil
}

// RootfsMount returns how to mount the root filesystem key.
func (s *Store) RootfsMount(key string) (snapshot.Mount, error) { return s.snaps.Mounts(key) }

// RemoveRootfs deletes the root filesystem key (it must be unmounted);
// layers only it kept are then collected.
func (s *Store) RemoveRootfs(key string) error {
	if err := s.snaps.RemoveActive(key); err != nil {
		return err
	}
	_, err := s.GC()
	return err
}
