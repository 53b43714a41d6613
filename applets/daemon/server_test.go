package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/config"
	"github.com/petrel-edge/petrel/core/engine"
)

func TestSplitVersion(t *testing.T) {
	tests := []struct {
		path, v, rest string
		ok            bool
	}{
		{"/v1.41/containers/json", "1.41", "/containers/json", true},
		{"/v1.24/_ping", "1.24", "/_ping", true},
		{"/containers/json", "", "/containers/json", false},
		{"/version", "", "/version", false},
		{"/vx.y/containers", "", "/vx.y/containers", false},
	}
	for _, tc := range tests {
		v, rest, ok := splitVersion(tc.path)
		if v != tc.v || rest != tc.rest || ok != tc.ok {
			t.Errorf("splitVersion(%q) = %q %q %v", tc.path, v, rest, ok)
		}
	}
	for v, ok := range map[string]bool{"1.41": true, "1.24": true, "1.30": true, "1.42": false, "1.23": false, "2.0": false} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%s) = %v", v, err)
		}
	}
}

func TestFilters(t *testing.T) {
	c := api.Container{ID: "abcdef", Names: []string{"/web-1"}, State: "running", Labels: map[string]string{"app": "x"}}
	tests := []struct {
		filters string
		match   bool
	}{
		{``, true},
		{`{"status":{"running":true}}`, true},
		{`{"status":["exited"]}`, false},
		{`{"name":["web"]}`, true},
		{`{"id":["abc"]}`, true},
		{`{"label":["app=x"]}`, true},
		{`{"label":["app=y"]}`, false},
		{`{"label":["app"]}`, true},
		{`{"status":["exited","running"],"name":["web"]}`, true},
	}
	for _, tc := range tests {
		f, err := parseFilters(tc.filters)
		if err != nil {
			t.Fatalf("%s: %v", tc.filters, err)
		}
		if got := f.match(c); got != tc.match {
			t.Errorf("%s: match %v", tc.filters, got)
		}
	}
	if _, err := parseFilters(`{"colour":["red"]}`); err == nil {
		t.Error("unknown filter accepted")
	}
	if _, err := parseFilters(`{`); err == nil {
		t.Error("broken filter JSON accepted")
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	for _, tc := range tests {
		got, err := parseTime(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v", tc.in, got, err)
		}
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("parseTime accepted yesterday")
	}
}

// apiServer serves the API over an engine on temporary directories;
// without root it can create, list, inspect and remove records.
func apiServer(t *testing.T) (*httptest.Server, string) {
	dir := t.TempDir()
	eng, err := engine.New(engine.Options{Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(rootfs, 0o755)
	srv := httptest.NewServer(newServer(eng, config.Default(), t.Logf))
	t.Cleanup(srv.Close)
	return srv, rootfs
}

func TestAPI(t *testing.T) {
	srv, rootfs := apiServer(t)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	create := `{"Image":"none","Cmd":["true"],"HostConfig":{"ExternalRootfs":"` + rootfs + `"}}`
	steps := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"GET", "/_ping", "", 200, "OK"},
		{"GET", "/v1.41/version", "", 200, `"ApiVersion":"1.41"`},
		{"GET", "/v1.43/version", "", 400, "too new"},
		{"GET", "/v1.41/info", "", 200, `"Containers":0`},
		{"POST", "/v1.41/containers/create?name=web", create, 201, `"Id":"`},
		{"POST", "/v1.41/containers/create?name=web", create, 409, `already in use`},
		{"POST", "/v1.41/containers/create", `{"Image":`, 400, `"message":"invalid JSON`},
		{"POST", "/v1.41/containers/create", `{"Image":"none"}`, 404, `No such image`},
		{"GET", "/v1.41/containers/json", "", 200, `[]`},
		{"GET", "/v1.41/containers/json?all=1", "", 200, `"Names":["/web"]`},
		{"GET", "/v1.41/containers/json?all=maybe", "", 400, `invalid value for all`},
		{"GET", "/v1.41/containers/json?filters=%7B%22status%22%3A%5B%22created%22%5D%7D", "", 200, `"State":"created"`},
		{"GET", "/v1.41/containers/web/json", "", 200, `"Name":"/web"`},
		{"GET", "/v1.41/containers/nosuch/json", "", 404, `No such container: nosuch`},
		{"POST", "/v1.41/containers/web/kill", "", 409, `is not running`},
		{"POST", "/v1.41/containers/web/stop", "", 304, ``},
		{"POST", "/v1.41/containers/web/kill?signal=NOPE", "", 400, `invalid signal`},
		{"POST", "/v1.41/containers/web/rename?name=site", "", 204, ``},
		{"GET", "/v1.41/containers/site/logs?stdout=1", "", 200, ``},
		{"GET", "/v1.41/containers/site/logs", "", 400, `choose at least one stream`},
		{"POST", "/v1.41/containers/site/wait", "", 200, `"StatusCode":0`},
		{"DELETE", "/v1.41/containers/site", "", 204, ``},
		{"DELETE", "/v1.41/containers/site", "", 404, `No such container`},
		{"GET", "/v1.41/nosuch", "", 404, `page not found`},
		{"GET", "/v1.41/events?since=1&until=2", "", 200, ``},
	}
	for _, s := range steps {
		code, body := do(s.method, s.path, s.body)
		if code != s.code || !strings.Contains(body, s.contains) {
			t.Errorf("%s %s: %d %s; want %d containing %q", s.method, s.path, code, body, s.code, s.contains)
		}
		if code >= 400 {
			var e api.ErrorResponse
			if json.Unmarshal([]byte(body), &e) != nil || e.Message == "" {
				t.Errorf("%s %s: error body %q is not {\"message\": …}", s.method, s.path, body)
			}
		}
	}
}
