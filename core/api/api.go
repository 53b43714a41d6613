// Package api holds the JSON types of Petrel's client API, a subset of
// the Docker Engine API v1.41 with the same field names, shared by the
// daemon's HTTP edge, the client and the engine's records. It has no
// behaviour beyond small helpers and no package-level state.
package api

import (
	"encoding/json"
	"time"
)

// Version is the API version the daemon speaks; MinVersion the oldest
// it accepts.
const (
	Version    = "1.41"
	MinVersion = "1.24"
)

// Config is a container's portable configuration (Docker's container.Config).
type Config struct {
	Hostname     string              `json:"Hostname"`
	Domainname   string              `json:"Domainname"`
	User         string              `json:"User"`
	AttachStdin  bool                `json:"AttachStdin"`
	AttachStdout bool                `json:"AttachStdout"`
	AttachStderr bool                `json:"AttachStderr"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Tty          bool                `json:"Tty"`
	OpenStdin    bool                `json:"OpenStdin"`
	StdinOnce    bool                `json:"StdinOnce"`
	Env          []string            `json:"Env"`
	Cmd          []string            `json:"Cmd"`
	Image        string              `json:"Image"`
	WorkingDir   string              `json:"WorkingDir"`
	Entrypoint   []string            `json:"Entrypoint"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	StopTimeout  *int                `json:"StopTimeout,omitempty"`
	Healthcheck  *HealthConfig       `json:"Healthcheck,omitempty"`
}

// HealthConfig is a container's health check: Test is ["NONE"],
// ["CMD", arg…] or ["CMD-SHELL", command]; durations in nanoseconds,
// zero for the defaults (30 s interval and timeout, 3 retries).
type HealthConfig struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// Health is the health-check state shown by inspect.
type Health struct {
	Status        string         `json:"Status"` // starting, healthy, unhealthy
	FailingStreak int            `json:"FailingStreak"`
	Log           []HealthResult `json:"Log"`
}

// HealthResult is one probe.
type HealthResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// RestartPolicy is no, always, unless-stopped or on-failure with an
// optional maximum retry count.
type RestartPolicy struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

// LogConfig selects the log driver (json-file or none) and its options
// (max-size, max-file).
type LogConfig struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config"`
}

// HostConfig is the host-dependent part of a container's configuration.
type HostConfig struct {
	Binds          []string      `json:"Binds"`
	NetworkMode    string        `json:"NetworkMode"`
	RestartPolicy  RestartPolicy `json:"RestartPolicy"`
	AutoRemove     bool          `json:"AutoRemove"`
	LogConfig      LogConfig     `json:"LogConfig"`
	Runtime        string        `json:"Runtime,omitempty"`
	ReadonlyRootfs bool          `json:"ReadonlyRootfs"`
	Privileged     bool          `json:"Privileged"`
	Init           *bool         `json:"Init,omitempty"`
	// ConsoleSize is the initial terminal [height, width] (API 1.42).
	ConsoleSize [2]uint `json:"ConsoleSize"`

	Tmpfs       map[string]string `json:"Tmpfs,omitempty"`
	CapAdd      []string          `json:"CapAdd"`
	CapDrop     []string          `json:"CapDrop"`
	SecurityOpt []string          `json:"SecurityOpt"`
	Sysctls     map[string]string `json:"Sysctls,omitempty"`
	ShmSize     int64             `json:"ShmSize"`
	// Mounts are --mount's bind, volume and tmpfs mounts.
	Mounts []Mount `json:"Mounts,omitempty"`
	Resources
	ContainerNetwork
	// ExternalRootfs runs the container from a host directory instead
	// of an image (iSulad's --external-rootfs); a Petrel extension.
	ExternalRootfs string `json:"ExternalRootfs,omitempty"`
}

// Resources are a container's cgroup limits (Docker's field names).
type Resources struct {
	Memory            int64           `json:"Memory"`
	MemorySwap        int64           `json:"MemorySwap"`
	MemoryReservation int64           `json:"MemoryReservation"`
	NanoCPUs          int64           `json:"NanoCpus"`
	CPUShares         int64           `json:"CpuShares"`
	CPUPeriod         int64           `json:"CpuPeriod"`
	CPUQuota          int64           `json:"CpuQuota"`
	CpusetCpus        string          `json:"CpusetCpus"`
	CpusetMems        string          `json:"CpusetMems"`
	PidsLimit         *int64          `json:"PidsLimit"`
	BlkioWeight       uint16          `json:"BlkioWeight"`
	Ulimits           []*Ulimit       `json:"Ulimits"`
	Devices           []DeviceMapping `json:"Devices"`
}

// Ulimit is one rlimit: nofile, nproc, core, …
type Ulimit struct {
	Name string `json:"Name"`
	Hard int64  `json:"Hard"`
	Soft int64  `json:"Soft"`
}

// DeviceMapping gives a host device to the container.
type DeviceMapping struct {
	PathOnHost        string `json:"PathOnHost"`
	PathInContainer   string `json:"PathInContainer"`
	CgroupPermissions string `json:"CgroupPermissions"`
}

// CreateRequest is the body of POST /containers/create.
type CreateRequest struct {
	Config
	HostConfig       *HostConfig     `json:"HostConfig,omitempty"`
	NetworkingConfig json.RawMessage `json:"NetworkingConfig,omitempty"`
}

// CreateResponse answers POST /containers/create.
type CreateResponse struct {
	ID       string   `json:"Id"`
	Warnings []string `json:"Warnings"`
}

// State is a container's run state as inspect shows it.
type State struct {
	Status     string    `json:"Status"` // created, running, paused, restarting, removing, exited, dead
	Running    bool      `json:"Running"`
	Paused     bool      `json:"Paused"`
	Restarting bool      `json:"Restarting"`
	OOMKilled  bool      `json:"OOMKilled"`
	Dead       bool      `json:"Dead"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
	Health     *Health   `json:"Health,omitempty"`
}

// ContainerJSON answers GET /containers/{id}/json.
type ContainerJSON struct {
	ID              string          `json:"Id"`
	Created         time.Time       `json:"Created"`
	Path            string          `json:"Path"`
	Args            []string        `json:"Args"`
	State           State           `json:"State"`
	Image           string          `json:"Image"`
	ResolvConfPath  string          `json:"ResolvConfPath"`
	HostnamePath    string          `json:"HostnamePath"`
	HostsPath       string          `json:"HostsPath"`
	LogPath         string          `json:"LogPath"`
	Name            string          `json:"Name"`
	RestartCount    int             `json:"RestartCount"`
	Driver          string          `json:"Driver"`
	Platform        string          `json:"Platform"`
	MountLabel      string          `json:"MountLabel"`
	ProcessLabel    string          `json:"ProcessLabel"`
	AppArmorProfile string          `json:"AppArmorProfile"`
	ExecIDs         []string        `json:"ExecIDs"`
	HostConfig      *HostConfig     `json:"HostConfig"`
	Mounts          []MountPoint    `json:"Mounts"`
	Config          *Config         `json:"Config"`
	NetworkSettings NetworkSettings `json:"NetworkSettings"`
}

// Port is one published port in a ps entry.
type Port struct {
	IP          string `json:"IP,omitempty"`
	PrivatePort int    `json:"PrivatePort"`
	PublicPort  int    `json:"PublicPort,omitempty"`
	Type        string `json:"Type"`
}

// Container is one entry of GET /containers/json.
type Container struct {
	ID         string            `json:"Id"`
	Names      []string          `json:"Names"`
	Image      string            `json:"Image"`
	ImageID    string            `json:"ImageID"`
	Command    string            `json:"Command"`
	Created    int64             `json:"Created"`
	Ports      []Port            `json:"Ports"`
	Labels     map[string]string `json:"Labels"`
	State      string            `json:"State"`
	Status     string            `json:"Status"`
	HostConfig struct {
		NetworkMode string `json:"NetworkMode"`
	} `json:"HostConfig"`
	NetworkSettings SummaryNetworkSettings `json:"NetworkSettings"`
	Mounts          []MountPoint           `json:"Mounts"`
}

// WaitResponse answers POST /containers/{id}/wait.
type WaitResponse struct {
	StatusCode int        `json:"StatusCode"`
	Error      *WaitError `json:"Error"`
}

// WaitError is the error of a failed wait.
type WaitError struct {
	Message string `json:"Message"`
}

// ErrorResponse is the body of every failed request.
type ErrorResponse struct {
	Message string `json:"message"`
}

// VersionResponse answers GET /version.
type VersionResponse struct {
	Platform      struct{ Name string } `json:"Platform"`
	Version       string                `json:"Version"`
	APIVersion    string                `json:"ApiVersion"`
	MinAPIVersion string                `json:"MinAPIVersion"`
	GitCommit     string                `json:"GitCommit"`
	GoVersion     string                `json:"GoVersion"`
	Os            string                `json:"Os"`
	Arch          string                `json:"Arch"`
	KernelVersion string                `json:"KernelVersion"`
	BuildTime     string                `json:"BuildTime"`
}

// Info answers GET /info.
type Info struct {
	ID                 string            `json:"ID"`
	Containers         int               `json:"Containers"`
	ContainersRunning  int               `json:"ContainersRunning"`
	ContainersPaused   int               `json:"ContainersPaused"`
	ContainersStopped  int               `json:"ContainersStopped"`
	Images             int               `json:"Images"`
	Driver             string            `json:"Driver"`
	LoggingDriver      string            `json:"LoggingDriver"`
	CgroupDriver       string            `json:"CgroupDriver"`
	CgroupVersion      string            `json:"CgroupVersion"`
	KernelVersion      string            `json:"KernelVersion"`
	OperatingSystem    string            `json:"OperatingSystem"`
	OSType             string            `json:"OSType"`
	Architecture       string            `json:"Architecture"`
	NCPU               int               `json:"NCPU"`
	MemTotal           int64             `json:"MemTotal"`
	DockerRootDir      string            `json:"DockerRootDir"`
	Name               string            `json:"Name"`
	ServerVersion      string            `json:"ServerVersion"`
	DefaultRuntime     string            `json:"DefaultRuntime"`
	Runtimes           map[string]any    `json:"Runtimes"`
	LiveRestoreEnabled bool              `json:"LiveRestoreEnabled"`
	Labels             []string          `json:"Labels"`
	Warnings           []string          `json:"Warnings"`
	RegistryConfig     map[string]any    `json:"RegistryConfig,omitempty"`
	Plugins            map[string]any    `json:"Plugins,omitempty"`
	SecurityOptions    []string          `json:"SecurityOptions"`
	IndexServerAddress string            `json:"IndexServerAddress"`
	Swarm              map[string]string `json:"Swarm"`
}

// Event is one entry of GET /events.
type Event struct {
	Type     string `json:"Type"`
	Action   string `json:"Action"`
	Actor    Actor  `json:"Actor"`
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
	// The pre-1.22 fields the docker CLI still reads.
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
}

// Actor is the object an event is about.
type Actor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

// ExecConfig is the body of POST /containers/{id}/exec.
type ExecConfig struct {
	User         string   `json:"User"`
	Privileged   bool     `json:"Privileged"`
	Tty          bool     `json:"Tty"`
	AttachStdin  bool     `json:"AttachStdin"`
	AttachStderr bool     `json:"AttachStderr"`
	AttachStdout bool     `json:"AttachStdout"`
	Detach       bool     `json:"Detach"`
	DetachKeys   string   `json:"DetachKeys"`
	Env          []string `json:"Env"`
	WorkingDir   string   `json:"WorkingDir"`
	Cmd          []string `json:"Cmd"`
	ConsoleSize  *[2]uint `json:"ConsoleSize,omitempty"`
}

// ExecStartConfig is the body of POST /exec/{id}/start.
type ExecStartConfig struct {
	Detach bool `json:"Detach"`
	Tty    bool `json:"Tty"`
}

// IDResponse answers creations that return only an id.
type IDResponse struct {
	ID string `json:"Id"`
}

// ExecInspect answers GET /exec/{id}/json.
type ExecInspect struct {
	ID            string        `json:"ID"`
	Running       bool          `json:"Running"`
	ExitCode      *int          `json:"ExitCode"`
	ProcessConfig ProcessConfig `json:"ProcessConfig"`
	OpenStdin     bool          `json:"OpenStdin"`
	OpenStderr    bool          `json:"OpenStderr"`
	OpenStdout    bool          `json:"OpenStdout"`
	CanRemove     bool          `json:"CanRemove"`
	ContainerID   string        `json:"ContainerID"`
	DetachKeys    string        `json:"DetachKeys"`
	Pid           int           `json:"Pid"`
}

// ProcessConfig describes an exec's process.
type ProcessConfig struct {
	Privileged bool     `json:"privileged"`
	User       string   `json:"user"`
	Tty        bool     `json:"tty"`
	Entrypoint string   `json:"entrypoint"`
	Arguments  []string `json:"arguments"`
}

// TopResponse answers GET /containers/{id}/top.
type TopResponse struct {
	Titles    []string   `json:"Titles"`
	Processes [][]string `json:"Processes"`
}
