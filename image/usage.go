package image

import (
	"io/fs"
	"path/filepath"

	"github.com/petrel-edge/petrel/image/content"
	"github.com/petrel-edge/petrel/image/digest"
)

// ImageUsage is what one image holds on disk, as docker system df shows.
type ImageUsage struct {
	ID digest.Digest
	// Size is the unpacked size of all its layers.
	Size int64
	// SharedSize is the part of Size in layers other images use too.
	SharedSize int64
	// Containers counts the root filesystems made from it.
	Containers int
}

// RootfsUsage is what a container's writable layer holds.
type RootfsUsage struct {
	Key   string
	Image digest.Digest
	Size  int64 // bytes written by the container (overlay) or its whole tree (copy)
}

// Usage is the store's disk use.
type Usage struct {
	Images []ImageUsage
	Rootfs []RootfsUsage
	// LayerRefs counts, per unpacked layer (chain ID), the images whose
	// stacks include it: the reference counts that decide what rmi frees.
	LayerRefs map[digest.Digest]int
	// LayersSize is the unpacked size of all layers, each counted once.
	LayersSize int64
	// BlobsSize is the size of the content store (compressed layers,
	// manifests, configs).
	BlobsSize int64
}

// DiskUsage reports the store's disk use. It walks container upper
// directories, so it costs a little I/O.
func (s *Store) DiskUsage() (Usage, error) {
	imgs, err := s.List()
	if err != nil {
		return Usage{}, err
	}
	u := Usage{LayerRefs: map[digest.Digest]int{}}
	layerSize := map[digest.Digest]int64{}
	all, err := s.snaps.Layers()
	if err != nil {
		return u, err
	}
	for _, l := range all {
		layerSize[l.ChainID] = l.Size
		u.LayersSize += l.Size
	}
	for _, img := range imgs {
		for _, l := range img.Layers {
			u.LayerRefs[l.ChainID]++
		}
	}
	acts, err := s.snaps.Actives()
	if err != nil {
		return u, err
	}
	users := map[digest.Digest]int{}
	for _, a := range acts {
		id := digest.Digest(a.Labels[labelImage])
		users[id]++
		u.Rootfs = append(u.Rootfs, RootfsUsage{Key: a.Key, Image: id, Size: dirSize(s.snaps.UpperDir(a.Key))})
	}
	for _, img := range imgs {
		iu := ImageUsage{ID: img.ID, Containers: users[img.ID]}
		for _, l := range img.Layers {
			iu.Size += layerSize[l.ChainID]
			if u.LayerRefs[l.ChainID] > 1 {
				iu.SharedSize += layerSize[l.ChainID]
			}
		}
		u.Images = append(u.Images, iu)
	}
	err = s.content.Walk(func(info content.Info) error {
		u.BlobsSize += info.Size
		return nil
	})
	return u, err
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
