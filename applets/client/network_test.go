package client

import (
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
)

func TestParsePublish(t *testing.T) {
	tests := []struct {
		in, key string
		b       api.PortBinding
		err     string
	}{
		{"80", "80/tcp", api.PortBinding{}, ""},
		{"8080:80", "80/tcp", api.PortBinding{HostPort: "8080"}, ""},
		{"127.0.0.1:8080:80/udp", "80/udp", api.PortBinding{HostIP: "127.0.0.1", HostPort: "8080"}, ""},
		{"127.0.0.1::80", "80/tcp", api.PortBinding{HostIP: "127.0.0.1"}, ""},
		{"[::1]:8080:80", "80/tcp", api.PortBinding{HostIP: "::1", HostPort: "8080"}, ""},
		{"80/sctp", "", api.PortBinding{}, "protocol"},
		{"8080-8090:80", "", api.PortBinding{}, "ranges"},
		{"host:8080:80", "", api.PortBinding{}, "not an IP"},
		{"99999:80", "", api.PortBinding{}, "host port"},
		{"a:b:c:d", "", api.PortBinding{}, "too many colons"},
		{"", "", api.PortBinding{}, "invalid --publish"},
	}
	for _, tt := range tests {
		key, b, err := parsePublish(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parsePublish(%q) = %v, want error %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || key != tt.key || b != tt.b {
			t.Errorf("parsePublish(%q) = %q, %+v, %v; want %q, %+v", tt.in, key, b, err, tt.key, tt.b)
		}
	}
}

func TestFormatPorts(t *testing.T) {
	got := formatPorts([]api.Port{{IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {PrivatePort: 53, Type: "udp"}, {IP: "::1", PrivatePort: 80, PublicPort: 81, Type: "tcp"}})
	if want := "0.0.0.0:8080->80/tcp, 53/udp, [::1]:81->80/tcp"; got != want {
		t.Fatalf("formatPorts = %q, want %q", got, want)
	}
}
