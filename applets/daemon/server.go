package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/applets/version"
	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/config"
	"github.com/petrel-edge/petrel/core/engine"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/jsonlog"
)

type server struct {
	eng  *engine.Engine
	cfg  config.Config
	logf func(string, ...any)
	mux  *http.ServeMux
}

func newServer(eng *engine.Engine, cfg config.Config, logf func(string, ...any)) *server {
	s := &server{eng: eng, cfg: cfg, logf: logf, mux: http.NewServeMux()}
	routes := map[string]func(http.ResponseWriter, *http.Request) error{
		"GET /_ping":                      s.ping,
		"HEAD /_ping":                     s.ping,
		"GET /version":                    s.version,
		"GET /info":                       s.info,
		"GET /events":                     s.events,
		"POST /containers/create":         s.create,
		"GET /containers/json":            s.list,
		"GET /containers/{id}/json":       s.inspect,
		"POST /containers/{id}/start":     s.start,
		"POST /containers/{id}/stop":      s.stop,
		"POST /containers/{id}/restart":   s.restart,
		"POST /containers/{id}/kill":      s.kill,
		"POST /containers/{id}/pause":     s.pause,
		"POST /containers/{id}/unpause":   s.unpause,
		"POST /containers/{id}/rename":    s.rename,
		"POST /containers/{id}/wait":      s.wait,
		"POST /containers/{id}/attach":    s.attach,
		"GET /containers/{id}/logs":       s.logs,
		"DELETE /containers/{id}":         s.remove,
		"POST /containers/{id}/resize":    s.resize,
		"POST /containers/{id}/exec":      s.execCreate,
		"POST /exec/{id}/start":           s.execStart,
		"GET /exec/{id}/json":             s.execInspect,
		"POST /exec/{id}/resize":          s.execResize,
		"GET /images/json":                s.images,
		"POST /images/create":             s.imageCreate,
		"GET /images/get":                 s.imageSaveMany,
		"POST /images/load":               s.imageLoad,
		"GET /images/{rest...}":           s.imageGet,
		"POST /images/{rest...}":          s.imagePost,
		"DELETE /images/{rest...}":        s.imageDelete,
		"POST /auth":                      s.auth,
		"POST /auth/logout":               s.logout,
		"GET /containers/{id}/top":        s.top,
		"GET /containers/{id}/export":     s.export,
		"POST /containers/{id}/attach/ws": s.notImplemented,
		"GET /networks":                   s.networks,
		"GET /networks/{id}":              s.networkInspect,
		"POST /networks/create":           s.networkCreate,
		"DELETE /networks/{id}":           s.networkRemove,
	}
	for pattern, h := range s.containerExtraRoutes() {
		routes[pattern] = h
	}
	for pattern, h := range routes {
		s.mux.HandleFunc(pattern, s.wrap(h))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "page not found")
	})
	return s
}

// ServeHTTP strips and checks the /v1.xx prefix, then routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.eng.NoteRequest()
	if v, rest, ok := splitVersion(r.URL.Path); ok {
		if err := checkVersion(v); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		r.URL.Path = rest
		r.URL.RawPath = ""
	}
	w.Header().Set("Api-Version", api.Version)
	w.Header().Set("Server", "Petrel/"+version.Version+" (linux)")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Docker-Experimental", "false")
	s.mux.ServeHTTP(w, r)
}

// splitVersion splits "/v1.41/containers/json" into "1.41" and the rest.
func splitVersion(p string) (string, string, bool) {
	if !strings.HasPrefix(p, "/v") {
		return "", p, false
	}
	i := strings.IndexByte(p[1:], '/')
	if i < 0 {
		return "", p, false
	}
	v := p[2 : i+1]
	if _, _, ok := parseVersion(v); !ok {
		return "", p, false
	}
	return v, p[i+1:], true
}

func parseVersion(v string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	return ma, mi, err1 == nil && err2 == nil
}

func versionLess(a, b string) bool {
	a1, a2, _ := parseVersion(a)
	b1, b2, _ := parseVersion(b)
	return a1 < b1 || a1 == b1 && a2 < b2
}

func checkVersion(v string) error {
	if versionLess(api.Version, v) {
		return fmt.Errorf("client version %s is too new. Maximum supported API version is %s", v, api.Version)
	}
	if versionLess(v, api.MinVersion) {
		return fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, api.MinVersion)
	}
	return nil
}

// wrap turns a handler's error into the API's error answer.
func (s *server) wrap(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		if errors.Is(err, errHijacked) {
			return
		}
		code := statusOf(err)
		if code == http.StatusNotModified {
			w.WriteHeader(code)
			return
		}
		if code >= 500 {
			s.logf("%s %s: %v", r.Method, r.URL.Path, err)
		}
		writeError(w, code, err.Error())
	}
}

var errHijacked = errors.New("connection hijacked")

func statusOf(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errdefs.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrNotModified):
		return http.StatusNotModified
	case errors.Is(err, errdefs.ErrNotSupported):
		return http.StatusNotImplemented
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errdefs.ErrUnauthorized):
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(api.ErrorResponse{Message: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body; broken JSON is the client's error.
func decode(r *http.Request, v any) error {
	if r.Body == nil {
		return errdefs.Invalid("request body is empty")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<20))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errdefs.Invalid("request body is empty")
		}
		return errdefs.Invalid("invalid JSON in the request body: %v", err)
	}
	if dec.More() {
		return errdefs.Invalid("invalid JSON in the request body: data after the object")
	}
	return nil
}

func boolQuery(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	switch strings.ToLower(v) {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	}
	return false, errdefs.Invalid("invalid value for %s: %q", name, v)
}

func (s *server) notImplemented(w http.ResponseWriter, r *http.Request) error {
	return errdefs.NotSupported("%s %s is not implemented yet", r.Method, r.URL.Path)
}

func (s *server) ping(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.WriteString(w, "OK")
	}
	return nil
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *server) version(w http.ResponseWriter, r *http.Request) error {
	v := api.VersionResponse{
		Version: version.Version, APIVersion: api.Version, MinAPIVersion: api.MinVersion,
		GitCommit: version.Commit, GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH,
		KernelVersion: kernelVersion(),
	}
	v.Platform.Name = "Petrel Engine"
	return writeJSON(w, http.StatusOK, v)
}

func (s *server) info(w http.ResponseWriter, r *http.Request) error {
	total, running, paused, stopped := s.eng.Counts()
	hostname, _ := os.Hostname()
	var si unix.Sysinfo_t
	unix.Sysinfo(&si)
	cgv := "1"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cgv = "2"
	}
	rts := map[string]any{"lcr": map[string]string{"path": "lcr"}}
	for name, rt := range s.cfg.Runtimes {
		rts[name] = map[string]string{"path": rt.Path}
	}
	info := api.Info{
		ID: hostname, Containers: total, ContainersRunning: running, ContainersPaused: paused, ContainersStopped: stopped,
		Driver: s.eng.StorageDriver(), Images: s.imageCount(), LoggingDriver: s.cfg.LogDriver, CgroupDriver: "cgroupfs", CgroupVersion: cgv,
		KernelVersion: kernelVersion(), OperatingSystem: osName(), OSType: "linux", Architecture: runtime.GOARCH,
		NCPU: runtime.NumCPU(), MemTotal: int64(si.Totalram) * int64(si.Unit), DockerRootDir: s.cfg.Root,
		Name: hostname, ServerVersion: version.Version, DefaultRuntime: s.cfg.DefaultRuntime, Runtimes: rts,
		LiveRestoreEnabled: true, Labels: []string{}, Warnings: []string{}, SecurityOptions: []string{},
		Swarm: map[string]string{"LocalNodeState": "inactive"},
	}
	return writeJSON(w, http.StatusOK, info)
}

// osName is the host's PRETTY_NAME from os-release, else "linux".
func osName() string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return "linux"
}

func (s *server) create(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	o := engine.CreateOptions{Name: r.URL.Query().Get("name"), Platform: r.URL.Query().Get("platform")}
	id, warnings, err := s.eng.CreateWith(o, req.Config, req.HostConfig)
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(w, http.StatusCreated, api.CreateResponse{ID: id, Warnings: warnings})
}

func (s *server) list(w http.ResponseWriter, r *http.Request) error {
	all, err := boolQuery(r, "all")
	if err != nil {
		return err
	}
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	out := []api.Container{}
	for _, c := range s.eng.List(all || len(f["status"]) > 0) {
		if f.match(c) {
			out = append(out, c)
		}
	}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return errdefs.Invalid("invalid limit %q", l)
		}
		if n > 0 && len(out) > n {
			out = out[:n]
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// filters are Docker's {"key": {"value": true}} or {"key": ["value"]}.
type filters map[string][]string

func parseFilters(s string) (filters, error) {
	f := filters{}
	if s == "" {
		return f, nil
	}
	var asMap map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &asMap); err == nil {
		for k, vs := range asMap {
			for v := range vs {
				f[k] = append(f[k], v)
			}
		}
	} else {
		var asList map[string][]string
		if err := json.Unmarshal([]byte(s), &asList); err != nil {
			return nil, errdefs.Invalid("invalid filters: %v", err)
		}
		f = asList
	}
	for k := range f {
		switch k {
		case "status", "name", "id", "label":
		default:
			return nil, errdefs.Invalid("invalid filter '%s'", k)
		}
	}
	return f, nil
}

func (f filters) match(c api.Container) bool {
	any := func(key string, ok func(string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return any("status", func(v string) bool { return c.State == v }) &&
		any("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		any("name", func(v string) bool {
			for _, n := range c.Names {
				if strings.Contains(strings.TrimPrefix(n, "/"), strings.TrimPrefix(v, "/")) {
					return true
				}
			}
			return false
		}) &&
		any("label", func(v string) bool {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := c.Labels[k]
			return ok && (!hasVal || got == val)
		})
}

func (s *server) inspect(w http.ResponseWriter, r *http.Request) error {
	j, err := s.eng.Inspect(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) start(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.eng.Start(r.PathValue("id")))
}

func stopOptions(r *http.Request) (engine.StopOptions, error) {
	var o engine.StopOptions
	o.Signal = r.URL.Query().Get("signal")
	if t := r.URL.Query().Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return o, errdefs.Invalid("invalid timeout %q", t)
		}
		o.Timeout = &n
	}
	return o, nil
}

func (s *server) stop(w http.ResponseWriter, r *http.Request) error {
	o, err := stopOptions(r)
	if err != nil {
		return err
	}
	return noContent(w, s.eng.Stop(r.PathValue("id"), o))
}

func (s *server) restart(w http.ResponseWriter, r *http.Request) error {
	o, err := stopOptions(r)
	if err != nil {
		return err
	}
	return noContent(w, s.eng.Restart(r.PathValue("id"), o))
}

func (s *server) kill(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.eng.Kill(r.PathValue("id"), r.URL.Query().Get("signal")))
}

func (s *server) pause(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.eng.Pause(r.PathValue("id")))
}

func (s *server) unpause(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.eng.Unpause(r.PathValue("id")))
}

func (s *server) rename(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.eng.Rename(r.PathValue("id"), r.URL.Query().Get("name")))
}

func (s *server) resize(w http.ResponseWriter, r *http.Request) error {
	h, w2, err := sizeQuery(r)
	if err != nil {
		return err
	}
	return noContent(w, s.eng.Resize(r.PathValue("id"), h, w2))
}

func (s *server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var cfg api.ExecConfig
	if err := decode(r, &cfg); err != nil {
		return err
	}
	id, err := s.eng.ExecCreate(r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.IDResponse{ID: id})
}

func (s *server) execInspect(w http.ResponseWriter, r *http.Request) error {
	x, err := s.eng.ExecInspect(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x)
}

func (s *server) execResize(w http.ResponseWriter, r *http.Request) error {
	h, w2, err := sizeQuery(r)
	if err != nil {
		return err
	}
	return noContent(w, s.eng.ExecResize(r.PathValue("id"), h, w2))
}

func (s *server) execStart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var cfg api.ExecStartConfig
	if err := decode(r, &cfg); err != nil {
		return err
	}
	if _, err := s.eng.ExecInspect(id); err != nil {
		return err
	}
	if cfg.Detach {
		if err := s.eng.ExecStart(context.Background(), id, true, nil, nil); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, struct{}{})
	}
	conn, rw, answer, err := hijack(w, r)
	if err != nil {
		return err
	}
	defer conn.Close()
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	in := io.MultiReader(bytes.NewReader(append([]byte(nil), buffered...)), conn)
	answered := false
	err = s.eng.ExecStart(context.Background(), id, false, hijackedStream{in, conn}, func() {
		answered = true
		answer()
	})
	if err != nil && !answered {
		fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n", statusOf(err), http.StatusText(statusOf(err)))
		json.NewEncoder(conn).Encode(api.ErrorResponse{Message: err.Error()})
	}
	return errHijacked
}

func sizeQuery(r *http.Request) (uint16, uint16, error) {
	var hw [2]uint16
	for i, name := range []string{"h", "w"} {
		n, err := strconv.ParseUint(r.URL.Query().Get(name), 10, 16)
		if err != nil {
			return 0, 0, errdefs.Invalid("invalid %s %q", name, r.URL.Query().Get(name))
		}
		hw[i] = uint16(n)
	}
	return hw[0], hw[1], nil
}

func (s *server) top(w http.ResponseWriter, r *http.Request) error {
	t, err := s.eng.Top(r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *server) remove(w http.ResponseWriter, r *http.Request) error {
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	vols, err := boolQuery(r, "v")
	if err != nil {
		return err
	}
	return noContent(w, s.eng.Remove(r.PathValue("id"), engine.RemoveOptions{Force: force, Volumes: vols}))
}

func (s *server) wait(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.eng.Lookup(r.PathValue("id")); err != nil {
		return err
	}
	started := false
	code, err := s.eng.Wait(r.Context(), r.PathValue("id"), r.URL.Query().Get("condition"), func() {
		// Headers go out once the wait is registered: a client may
		// start the container as soon as it sees them.
		started = true
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	})
	if !started {
		return err
	}
	resp := api.WaitResponse{StatusCode: code}
	if err != nil {
		resp.Error = &api.WaitError{Message: err.Error()}
	}
	return json.NewEncoder(w).Encode(resp)
}

// hijack takes over the connection and answers with the raw-stream
// upgrade Docker clients expect.
func hijack(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.ReadWriter, func() error, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, nil, errors.New("the connection cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, nil, err
	}
	upgrade := r.Header.Get("Upgrade") != ""
	answer := func() error {
		if upgrade {
			fmt.Fprint(rw, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		} else {
			fmt.Fprint(rw, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n")
		}
		return rw.Flush()
	}
	return conn, rw, answer, nil
}

type hijackedStream struct {
	io.Reader
	io.Writer
}

func (s *server) attach(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.eng.Lookup(id); err != nil {
		return err
	}
	var o engine.AttachOptions
	var err error
	for name, p := range map[string]*bool{"stdin": &o.Stdin, "stdout": &o.Stdout, "stderr": &o.Stderr} {
		if *p, err = boolQuery(r, name); err != nil {
			return err
		}
	}
	if stream, err := boolQuery(r, "stream"); err != nil {
		return err
	} else if !stream {
		return errdefs.NotSupported("attach without stream=1 (logs) is not implemented yet")
	}
	conn, rw, answer, err := hijack(w, r)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Read the client through the raw connection (after what the server
	// had buffered): the server's own reader cancels the request's
	// context when the client half-closes, and stdin's end must not end
	// the stream.
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	in := io.MultiReader(bytes.NewReader(append([]byte(nil), buffered...)), conn)
	answered := false
	err = s.eng.Attach(context.Background(), id, o, hijackedStream{in, conn}, func() {
		answered = true
		answer()
	})
	if err != nil && !answered {
		fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n", statusOf(err), http.StatusText(statusOf(err)))
		json.NewEncoder(conn).Encode(api.ErrorResponse{Message: err.Error()})
	}
	return errHijacked
}

func (s *server) logs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	j, err := s.eng.Inspect(id)
	if err != nil {
		return err
	}
	var o engine.LogOptions
	for name, p := range map[string]*bool{"follow": &o.Follow, "stdout": &o.Stdout, "stderr": &o.Stderr, "timestamps": &o.Timestamps} {
		if *p, err = boolQuery(r, name); err != nil {
			return err
		}
	}
	if !o.Stdout && !o.Stderr {
		return errdefs.Invalid("you must choose at least one stream")
	}
	o.Tail = -1
	if t := r.URL.Query().Get("tail"); t != "" && t != "all" {
		if o.Tail, err = strconv.Atoi(t); err != nil || o.Tail < 0 {
			return errdefs.Invalid("invalid tail %q", t)
		}
	}
	for name, p := range map[string]*time.Time{"since": &o.Since, "until": &o.Until} {
		if v := r.URL.Query().Get(name); v != "" && v != "0" {
			if *p, err = parseTime(v); err != nil {
				return errdefs.Invalid("invalid %s %q", name, v)
			}
		}
	}
	tty := j.Config.Tty
	headerDone := false
	flusher, _ := w.(http.Flusher)
	var frame []byte
	err = s.eng.Logs(r.Context(), id, o, func(e jsonlog.Entry) error {
		if !headerDone {
			w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
			w.WriteHeader(http.StatusOK)
			headerDone = true
		}
		line := e.Log
		if o.Timestamps {
			line = e.Time.UTC().Format("2006-01-02T15:04:05.000000000Z") + " " + line
		}
		if tty {
			_, err := io.WriteString(w, line)
			return err
		}
		frame = frame[:0]
		stream := byte(1)
		if e.Stream == "stderr" {
			stream = 2
		}
		frame = append(frame, stream, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(frame[4:], uint32(len(line)))
		frame = append(frame, line...)
		_, err := w.Write(frame)
		if err == nil && o.Follow && flusher != nil {
			flusher.Flush()
		}
		return err
	})
	if err != nil && !headerDone {
		return err
	}
	if !headerDone {
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// parseTime reads Docker's since/until: unix seconds with optional
// fraction, or RFC 3339.
func parseTime(v string) (time.Time, error) {
	if sec, frac, ok := strings.Cut(v, "."); ok || isDigits(v) {
		s, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		var ns int64
		if frac != "" {
			frac = (frac + "000000000")[:9]
			if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
				return time.Time{}, err
			}
		}
		return time.Unix(s, ns), nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func (s *server) events(w http.ResponseWriter, r *http.Request) error {
	var since, until time.Time
	var err error
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = parseTime(v); err != nil {
			return errdefs.Invalid("invalid since %q", v)
		}
	}
	if v := r.URL.Query().Get("until"); v != "" {
		if until, err = parseTime(v); err != nil {
			return errdefs.Invalid("invalid until %q", v)
		}
	}
	past, ch, cancel := s.eng.Events.Subscribe(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	send := func(e api.Event) bool {
		if !until.IsZero() && e.TimeNano > until.UnixNano() {
			return false
		}
		if enc.Encode(e) != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for _, e := range past {
		if !send(e) {
			return nil
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		deadline = t.C
	}
	ctx := r.Context()
	for {
		select {
		case e, ok := <-ch:
			if !ok || !send(e) {
				return nil
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
