package api

import "time"

// ImageSummary is one entry of GET /images/json.
type ImageSummary struct {
	ID          string            `json:"Id"`
	ParentID    string            `json:"ParentId"`
	RepoTags    []string          `json:"RepoTags"`
	RepoDigests []string          `json:"RepoDigests"`
	Created     int64             `json:"Created"`
	Size        int64             `json:"Size"`
	SharedSize  int64             `json:"SharedSize"`
	VirtualSize int64             `json:"VirtualSize"`
	Labels      map[string]string `json:"Labels"`
	Containers  int64             `json:"Containers"`
}

// ImageInspect answers GET /images/{name}/json.
type ImageInspect struct {
	ID              string        `json:"Id"`
	RepoTags        []string      `json:"RepoTags"`
	RepoDigests     []string      `json:"RepoDigests"`
	Parent          string        `json:"Parent"`
	Comment         string        `json:"Comment"`
	Created         time.Time     `json:"Created"`
	Container       string        `json:"Container"`
	ContainerConfig *Config       `json:"ContainerConfig"`
	DockerVersion   string        `json:"DockerVersion"`
	Author          string        `json:"Author"`
	Config          *Config       `json:"Config"`
	Architecture    string        `json:"Architecture"`
	Variant         string        `json:"Variant,omitempty"`
	Os              string        `json:"Os"`
	Size            int64         `json:"Size"`
	VirtualSize     int64         `json:"VirtualSize"`
	GraphDriver     GraphDriver   `json:"GraphDriver"`
	RootFS          ImageRootFS   `json:"RootFS"`
	Metadata        ImageMetadata `json:"Metadata"`
}

// GraphDriver names the storage driver of an image or container.
type GraphDriver struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// ImageRootFS lists an image's layers by diff ID.
type ImageRootFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

// ImageMetadata is the local part of an image's description.
type ImageMetadata struct {
	LastTagTime time.Time `json:"LastTagTime"`
}

// ImageDeleteItem is one entry of the answer to DELETE /images/{name}.
type ImageDeleteItem struct {
	Untagged string `json:"Untagged,omitempty"`
	Deleted  string `json:"Deleted,omitempty"`
}

// AuthConfig is the body of POST /auth (and of a decoded X-Registry-Auth).
type AuthConfig struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// AuthResponse answers POST /auth.
type AuthResponse struct {
	Status        string `json:"Status"`
	IdentityToken string `json:"IdentityToken,omitempty"`
}

// JSONMessage is one line of the progress streams of pull, import and
// load, as Docker's jsonmessage.
type JSONMessage struct {
	Stream         string          `json:"stream,omitempty"`
	Status         string          `json:"status,omitempty"`
	ProgressDetail *ProgressDetail `json:"progressDetail,omitempty"`
	Progress       string          `json:"progress,omitempty"`
	ID             string          `json:"id,omitempty"`
	ErrorDetail    *ErrorDetail    `json:"errorDetail,omitempty"`
	Error          string          `json:"error,omitempty"`
}

// ProgressDetail is the byte count of a progress message.
type ProgressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

// ErrorDetail is an error in a progress stream.
type ErrorDetail struct {
	Message string `json:"message"`
}
