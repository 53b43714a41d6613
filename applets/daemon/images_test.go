package daemon

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/image"
)

func TestProgressBar(t *testing.T) {
	tests := []struct {
		cur, total int64
		want       string
	}{
		{0, 2_000_000, "[>" + strings.Repeat(" ", 49) + "]       0B/2MB"},
		{1_000_000, 2_000_000, "[" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 24) + "]      1MB/2MB"},
		{3_000_000, 2_000_000, "[" + strings.Repeat("=", 50) + "]      2MB/2MB"},
		{1234, 0, "1.234kB"},
	}
	for _, tc := range tests {
		if got := progressBar(tc.cur, tc.total); got != tc.want {
			t.Errorf("progressBar(%d, %d) = %q, want %q", tc.cur, tc.total, got, tc.want)
		}
	}
}

func TestImageFilters(t *testing.T) {
	tagged := &image.Image{Names: []string{"docker.io/library/busybox:latest"}}
	dangling := &image.Image{}
	tests := []struct {
		filters string
		img     *image.Image
		tags    []string
		labels  map[string]string
		want    bool
	}{
		{``, tagged, []string{"busybox:latest"}, nil, true},
		{`{"dangling":["true"]}`, tagged, []string{"busybox:latest"}, nil, false},
		{`{"dangling":{"true":true}}`, dangling, nil, nil, true},
		{`{"reference":["busy*"]}`, tagged, []string{"busybox:latest"}, nil, true},
		{`{"reference":["busybox:1"]}`, tagged, []string{"busybox:latest"}, nil, false},
		{`{"reference":["alpine"]}`, tagged, []string{"busybox:latest"}, nil, false},
		{`{"label":["a"]}`, tagged, nil, map[string]string{"a": "1"}, true},
		{`{"label":["a=2"]}`, tagged, nil, map[string]string{"a": "1"}, false},
	}
	for _, tc := range tests {
		f, err := parseImageFilters(tc.filters)
		if err != nil {
			t.Fatalf("%s: %v", tc.filters, err)
		}
		if got := f.match(tc.img, tc.tags, tc.labels); got != tc.want {
			t.Errorf("%s on %v: %v, want %v", tc.filters, tc.tags, got, tc.want)
		}
	}
	for _, bad := range []string{`{"colour":["red"]}`, `{"dangling":["maybe"]}`, `not json`} {
		if _, err := parseImageFilters(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRegistryAuth(t *testing.T) {
	tests := []struct {
		header, user, pass string
		bad                bool
	}{
		{"", "", "", false},
		{"e30=", "", "", false}, // {}
		{base64.URLEncoding.EncodeToString([]byte(`{"username":"u","password":"p?>","serveraddress":"h"}`)), "u", "p?>", false},
		{base64.RawURLEncoding.EncodeToString([]byte(`{"username":"u","password":"p?>"}`)), "u", "p?>", false},
		{base64.URLEncoding.EncodeToString([]byte(`{"auth":"` + base64.StdEncoding.EncodeToString([]byte("a:b")) + `"}`)), "a", "b", false},
		{base64.URLEncoding.EncodeToString([]byte(`{"identitytoken":"tok"}`)), "", "", false},
		{"!!!", "", "", true},
		{base64.URLEncoding.EncodeToString([]byte(`not json`)), "", "", true},
	}
	for _, tc := range tests {
		a, err := registryAuth(tc.header)
		if (err != nil) != tc.bad || a.Username != tc.user || a.Password != tc.pass {
			t.Errorf("%q: %+v, %v", tc.header, a, err)
		}
	}
}
