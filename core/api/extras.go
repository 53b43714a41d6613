package api

import (
	"os"
	"time"
)

// Mount is one --mount of a HostConfig (Docker's mount.Mount).
type Mount struct {
	Type          string         `json:"Type,omitempty"` // bind, volume, tmpfs
	Source        string         `json:"Source,omitempty"`
	Target        string         `json:"Target,omitempty"`
	ReadOnly      bool           `json:"ReadOnly,omitempty"`
	Consistency   string         `json:"Consistency,omitempty"`
	BindOptions   *BindOptions   `json:"BindOptions,omitempty"`
	VolumeOptions *VolumeOptions `json:"VolumeOptions,omitempty"`
	TmpfsOptions  *TmpfsOptions  `json:"TmpfsOptions,omitempty"`
}

// BindOptions of a bind mount.
type BindOptions struct {
	Propagation  string `json:"Propagation,omitempty"`
	NonRecursive bool   `json:"NonRecursive,omitempty"`
}

// VolumeOptions of a volume mount.
type VolumeOptions struct {
	NoCopy       bool              `json:"NoCopy,omitempty"`
	Labels       map[string]string `json:"Labels,omitempty"`
	DriverConfig *VolumeDriver     `json:"DriverConfig,omitempty"`
}

// VolumeDriver names a volume driver and its options.
type VolumeDriver struct {
	Name    string            `json:"Name,omitempty"`
	Options map[string]string `json:"Options,omitempty"`
}

// TmpfsOptions of a tmpfs mount.
type TmpfsOptions struct {
	SizeBytes int64       `json:"SizeBytes,omitempty"`
	Mode      os.FileMode `json:"Mode,omitempty"`
}

// MountPoint is one mount as inspect and ps show it.
type MountPoint struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// Volume is a named volume (GET /volumes/{name}).
type Volume struct {
	CreatedAt  string            `json:"CreatedAt"`
	Driver     string            `json:"Driver"`
	Labels     map[string]string `json:"Labels"`
	Mountpoint string            `json:"Mountpoint"`
	Name       string            `json:"Name"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
}

// VolumeCreateRequest is the body of POST /volumes/create.
type VolumeCreateRequest struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	DriverOpts map[string]string `json:"DriverOpts"`
	Labels     map[string]string `json:"Labels"`
}

// VolumeListResponse answers GET /volumes.
type VolumeListResponse struct {
	Volumes  []Volume `json:"Volumes"`
	Warnings []string `json:"Warnings"`
}

// VolumePruneResponse answers POST /volumes/prune.
type VolumePruneResponse struct {
	VolumesDeleted []string `json:"VolumesDeleted"`
	SpaceReclaimed uint64   `json:"SpaceReclaimed"`
}

// UpdateConfig is the body of POST /containers/{id}/update: the
// resources to change (zero fields are kept) and the restart policy.
type UpdateConfig struct {
	Resources
	RestartPolicy RestartPolicy `json:"RestartPolicy"`
}

// UpdateResponse answers POST /containers/{id}/update.
type UpdateResponse struct {
	Warnings []string `json:"Warnings"`
}

// PathStat describes a path in a container, base64-encoded JSON in the
// X-Docker-Container-Path-Stat header of the archive endpoints.
type PathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       os.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// Stats is one sample of GET /containers/{id}/stats (Docker's
// StatsJSON; the Linux fields).
type Stats struct {
	Read        time.Time   `json:"read"`
	PreRead     time.Time   `json:"preread"`
	PidsStats   PidsStats   `json:"pids_stats"`
	BlkioStats  BlkioStats  `json:"blkio_stats"`
	NumProcs    uint32      `json:"num_procs"`
	CPUStats    CPUStats    `json:"cpu_stats"`
	PreCPUStats CPUStats    `json:"precpu_stats"`
	MemoryStats MemoryStats `json:"memory_stats"`
	Name        string      `json:"name"`
	ID          string      `json:"id"`
	// StorageStats is Windows' and stays empty.
	StorageStats struct{} `json:"storage_stats"`
}

// PidsStats counts a container's tasks.
type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// BlkioStatEntry is one counter of a block device.
type BlkioStatEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

// BlkioStats are the block I/O counters.
type BlkioStats struct {
	IoServiceBytesRecursive []BlkioStatEntry `json:"io_service_bytes_recursive"`
	IoServicedRecursive     []BlkioStatEntry `json:"io_serviced_recursive"`
	IoQueuedRecursive       []BlkioStatEntry `json:"io_queue_recursive"`
	IoServiceTimeRecursive  []BlkioStatEntry `json:"io_service_time_recursive"`
	IoWaitTimeRecursive     []BlkioStatEntry `json:"io_wait_time_recursive"`
	IoMergedRecursive       []BlkioStatEntry `json:"io_merged_recursive"`
	IoTimeRecursive         []BlkioStatEntry `json:"io_time_recursive"`
	SectorsRecursive        []BlkioStatEntry `json:"sectors_recursive"`
}

// CPUUsage is CPU time in nanoseconds.
type CPUUsage struct {
	TotalUsage        uint64   `json:"total_usage"`
	PercpuUsage       []uint64 `json:"percpu_usage,omitempty"`
	UsageInKernelmode uint64   `json:"usage_in_kernelmode"`
	UsageInUsermode   uint64   `json:"usage_in_usermode"`
}

// ThrottlingData is the CFS throttling of a container.
type ThrottlingData struct {
	Periods          uint64 `json:"periods"`
	ThrottledPeriods uint64 `json:"throttled_periods"`
	ThrottledTime    uint64 `json:"throttled_time"`
}

// CPUStats is the container's and the host's CPU time at one instant.
type CPUStats struct {
	CPUUsage       CPUUsage       `json:"cpu_usage"`
	SystemUsage    uint64         `json:"system_cpu_usage,omitempty"`
	OnlineCPUs     uint32         `json:"online_cpus,omitempty"`
	ThrottlingData ThrottlingData `json:"throttling_data"`
}

// MemoryStats is the memory cgroup's usage; Stats holds memory.stat.
type MemoryStats struct {
	Usage    uint64            `json:"usage,omitempty"`
	MaxUsage uint64            `json:"max_usage,omitempty"`
	Stats    map[string]uint64 `json:"stats,omitempty"`
	Failcnt  uint64            `json:"failcnt,omitempty"`
	Limit    uint64            `json:"limit,omitempty"`
}
