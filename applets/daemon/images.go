package daemon

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/engine"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/image/reference"
)

// progressStream writes Docker's JSON progress messages; the 200 answer
// goes out with the first message, so that an error before any progress
// is still answered with its own status.
type progressStream struct {
	w       http.ResponseWriter
	mu      sync.Mutex
	started bool
	enc     *json.Encoder
}

func newProgressStream(w http.ResponseWriter) *progressStream {
	return &progressStream{w: w, enc: json.NewEncoder(w)}
}

func (p *progressStream) send(m api.JSONMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
		p.started = true
	}
	p.enc.Encode(m)
	if f, ok := p.w.(http.Flusher); ok {
		f.Flush()
	}
}

// fail reports err in the stream once it has started; before, the
// handler's error answer does.
func (p *progressStream) fail(err error) error {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if !started {
		return err
	}
	p.send(api.JSONMessage{Error: err.Error(), ErrorDetail: &api.ErrorDetail{Message: err.Error()}})
	return nil
}

// progressBar draws docker's bar: [=====>      ]  1.2MB/3.4MB.
func progressBar(cur, total int64) string {
	const width = 50
	if total <= 0 {
		return humanBytes(cur)
	}
	if cur > total {
		cur = total
	}
	n := int(cur * width / total)
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %8s/%s", bar, humanBytes(cur), humanBytes(total))
}

// humanBytes is docker's HumanSize: decimal units, three significant digits.
func humanBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func (s *server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if src := q.Get("fromSrc"); src != "" {
		return s.imageImport(w, r, src)
	}
	from := q.Get("fromImage")
	if from == "" {
		return errdefs.Invalid("fromImage or fromSrc is required")
	}
	name := from
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			name += "@" + tag
		} else {
			name += ":" + tag
		}
	}
	ref, err := reference.Parse(name)
	if err != nil {
		return errdefs.Invalid("invalid reference format: %v", err)
	}
	ps := newProgressStream(w)
	what := ref.Tag
	if what == "" {
		what = string(ref.Digest)
	}
	header := false
	last := map[string]string{}
	progress := func(p image.Progress) {
		if !header {
			header = true
			ps.send(api.JSONMessage{Status: "Pulling from " + ref.Path, ID: what})
		}
		m := api.JSONMessage{ID: p.ID, Status: p.Status, ProgressDetail: &api.ProgressDetail{}}
		key := p.Status
		switch p.Status {
		case image.StatusWaiting:
			m.Status = "Pulling fs layer"
			key = m.Status
		case image.StatusDownload, image.StatusExtract:
			m.ProgressDetail = &api.ProgressDetail{Current: p.Current, Total: p.Total}
			m.Progress = progressBar(p.Current, p.Total)
			if p.Total > 0 {
				key = fmt.Sprintf("%s %d", p.Status, p.Current*100/p.Total)
			}
		}
		if last[p.ID] == key {
			return // one message per percent is plenty
		}
		last[p.ID] = key
		ps.send(m)
	}
	login, err := registryAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	img, existed, err := s.eng.Pull(r.Context(), ref.String(), engine.PullOptions{
		Platform: q.Get("platform"), Progress: progress, Username: login.Username, Password: login.Password,
	})
	if err != nil {
		return ps.fail(err)
	}
	if !header {
		ps.send(api.JSONMessage{Status: "Pulling from " + ref.Path, ID: what})
	}
	d := img.Manifest.Digest
	if img.Index != nil {
		d = img.Index.Digest
	}
	ps.send(api.JSONMessage{Status: "Digest: " + string(d)})
	if existed {
		ps.send(api.JSONMessage{Status: "Status: Image is up to date for " + ref.Familiar()})
	} else {
		ps.send(api.JSONMessage{Status: "Status: Downloaded newer image for " + ref.Familiar()})
	}
	return nil
}

func (s *server) imageImport(w http.ResponseWriter, r *http.Request, src string) error {
	if src != "-" {
		return errdefs.NotSupported("import from %q: only fromSrc=- (the request body) is supported", src)
	}
	q := r.URL.Query()
	ref := q.Get("repo")
	if ref != "" && q.Get("tag") != "" {
		ref += ":" + q.Get("tag")
	}
	img, err := s.eng.ImportImage(r.Context(), bufio.NewReaderSize(r.Body, 256<<10), engine.ImportOptions{
		Ref: ref, Changes: q["changes"], Message: q.Get("message"), Platform: q.Get("platform"),
	})
	if err != nil {
		return err
	}
	newProgressStream(w).send(api.JSONMessage{Status: string(img.ID)})
	return nil
}

func familiarNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if ref, err := reference.Parse(n); err == nil {
			out = append(out, ref.Familiar())
		} else {
			out = append(out, n)
		}
	}
	return out
}

// imageFilters are docker images' filters: dangling, reference, label.
type imageFilters map[string][]string

func parseImageFilters(s string) (imageFilters, error) {
	if s == "" {
		return imageFilters{}, nil
	}
	f := imageFilters{}
	var asMap map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &asMap); err == nil {
		for k, vs := range asMap {
			for v := range vs {
				f[k] = append(f[k], v)
			}
		}
	} else if err := json.Unmarshal([]byte(s), (*map[string][]string)(&f)); err != nil {
		return nil, errdefs.Invalid("invalid filters: %v", err)
	}
	for k, vs := range f {
		switch k {
		case "reference", "label":
		case "dangling":
			for _, v := range vs {
				if v != "true" && v != "false" && v != "1" && v != "0" {
					return nil, errdefs.Invalid("invalid filter 'dangling=%s'", v)
				}
			}
		default:
			return nil, errdefs.Invalid("invalid filter '%s'", k)
		}
	}
	return f, nil
}

func (f imageFilters) match(img *image.Image, tags []string, labels map[string]string) bool {
	for _, v := range f["dangling"] {
		if (v == "true" || v == "1") != (len(img.Names) == 0) {
			return false
		}
	}
	if pats := f["reference"]; len(pats) > 0 {
		ok := false
		for _, p := range pats {
			for _, t := range tags {
				repo := t
				if i := strings.LastIndexByte(t, ':'); i > strings.LastIndexByte(t, '/') {
					repo = t[:i]
				}
				if m, _ := path.Match(p, t); m {
					ok = true
				} else if m, _ := path.Match(p, repo); m {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || hasV && got != v {
			return false
		}
	}
	return true
}

func (s *server) images(w http.ResponseWriter, r *http.Request) error {
	f, err := parseImageFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	imgs, err := s.eng.Images()
	if err != nil {
		return err
	}
	out := []api.ImageSummary{}
	for _, img := range imgs {
		sum := api.ImageSummary{
			ID: string(img.ID), RepoTags: familiarNames(img.Names), RepoDigests: familiarNames(img.Digests),
			Created: img.Created.Unix(), Size: img.Size, VirtualSize: img.Size, SharedSize: -1, Containers: -1,
			Labels: map[string]string{},
		}
		if img.Config != nil && img.Config.Config.Labels != nil {
			sum.Labels = img.Config.Config.Labels
		}
		if !f.match(img, sum.RepoTags, sum.Labels) {
			continue
		}
		out = append(out, sum)
	}
	return writeJSON(w, http.StatusOK, out)
}

// imageGet routes GET /images/{name}/json and /images/{name}/get: names
// hold slashes, so the route takes the rest of the path.
func (s *server) imageGet(w http.ResponseWriter, r *http.Request) error {
	rest := r.PathValue("rest")
	if name, ok := strings.CutSuffix(rest, "/json"); ok {
		return s.imageInspect(w, name)
	}
	if name, ok := strings.CutSuffix(rest, "/get"); ok {
		return s.imageSave(w, []string{name})
	}
	if _, ok := strings.CutSuffix(rest, "/history"); ok {
		return errdefs.NotSupported("image history is not implemented yet")
	}
	return errdefs.NotFound("page not found")
}

func (s *server) imagePost(w http.ResponseWriter, r *http.Request) error {
	rest := r.PathValue("rest")
	if name, ok := strings.CutSuffix(rest, "/tag"); ok {
		return s.imageTag(w, r, name)
	}
	if _, ok := strings.CutSuffix(rest, "/push"); ok {
		return errdefs.NotSupported("push is not implemented yet")
	}
	return errdefs.NotFound("page not found")
}

func (s *server) imageInspect(w http.ResponseWriter, name string) error {
	img, err := s.eng.Image(name)
	if err != nil {
		return err
	}
	j := api.ImageInspect{
		ID: string(img.ID), RepoTags: familiarNames(img.Names), RepoDigests: familiarNames(img.Digests),
		Created: img.Created, Architecture: img.Platform.Architecture, Variant: img.Platform.Variant, Os: img.Platform.OS,
		Size: img.Size, VirtualSize: img.Size, ContainerConfig: &api.Config{}, Config: &api.Config{},
		GraphDriver: api.GraphDriver{Name: s.eng.StorageDriver(), Data: map[string]string{}},
		RootFS:      api.ImageRootFS{Type: "layers", Layers: []string{}},
		Metadata:    api.ImageMetadata{LastTagTime: img.Added},
	}
	for _, l := range img.Layers {
		j.RootFS.Layers = append(j.RootFS.Layers, string(l.DiffID))
	}
	if ic := img.Config; ic != nil {
		j.Author = ic.Author
		if n := len(ic.History); n > 0 {
			j.Comment = ic.History[n-1].Comment
		}
		c := ic.Config
		j.Config = &api.Config{User: c.User, ExposedPorts: c.ExposedPorts, Env: c.Env, Cmd: c.Cmd, Entrypoint: c.Entrypoint,
			WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal}
		if h := c.Healthcheck; h != nil {
			j.Config.Healthcheck = &api.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		}
	}
	return writeJSON(w, http.StatusOK, j)
}

func (s *server) imageTag(w http.ResponseWriter, r *http.Request, name string) error {
	repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
	if repo == "" {
		return errdefs.Invalid("repository name (repo) is required")
	}
	if _, err := reference.ParseRepository(repo); err != nil {
		return errdefs.Invalid("invalid reference format: %v", err)
	}
	dst := repo
	if tag != "" {
		dst += ":" + tag
	}
	if err := s.eng.TagImage(name, dst); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *server) imageDelete(w http.ResponseWriter, r *http.Request) error {
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	if _, err := boolQuery(r, "noprune"); err != nil {
		return err
	}
	rm, err := s.eng.RemoveImage(r.PathValue("rest"), force)
	if err != nil {
		return err
	}
	out := []api.ImageDeleteItem{}
	for _, u := range familiarNames(rm.Untagged) {
		out = append(out, api.ImageDeleteItem{Untagged: u})
	}
	for _, d := range rm.Deleted {
		out = append(out, api.ImageDeleteItem{Deleted: string(d)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *server) imageSaveMany(w http.ResponseWriter, r *http.Request) error {
	return s.imageSave(w, r.URL.Query()["names"])
}

// imageSave streams a docker-archive; a failure once bytes have gone
// out aborts the connection, so the client sees a broken transfer, never
// a short archive that looks complete.
func (s *server) imageSave(w http.ResponseWriter, names []string) error {
	if err := s.eng.CheckImages(names); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := s.eng.SaveImages(bw, names); err != nil {
		s.logf("save %s: %v", strings.Join(names, " "), err)
		panic(http.ErrAbortHandler)
	}
	bw.Flush()
	return nil
}

func (s *server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	// quiet only silences progress, and load reports none: the
	// "Loaded image" lines always go out, as Docker's.
	if _, err := boolQuery(r, "quiet"); err != nil {
		return err
	}
	imgs, err := s.eng.LoadImages(r.Context(), bufio.NewReaderSize(r.Body, 256<<10))
	if err != nil && len(imgs) == 0 {
		return err
	}
	ps := newProgressStream(w)
	var lines []string
	for _, img := range imgs {
		if len(img.Names) == 0 {
			lines = append(lines, "Loaded image ID: "+string(img.ID))
		}
		for _, n := range familiarNames(img.Names) {
			lines = append(lines, "Loaded image: "+n)
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		ps.send(api.JSONMessage{Stream: l + "\n"})
	}
	if err != nil {
		return ps.fail(err)
	}
	if len(lines) == 0 {
		ps.send(api.JSONMessage{Stream: ""})
	}
	return nil
}

func (s *server) export(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.eng.Lookup(id); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := s.eng.Export(id, bw); err != nil {
		s.logf("export %s: %v", id, err)
		panic(http.ErrAbortHandler)
	}
	bw.Flush()
	return nil
}

// auth answers POST /auth: the login is checked against the registry and
// kept by the daemon (mode 0600) for its pulls.
func (s *server) auth(w http.ResponseWriter, r *http.Request) error {
	var a api.AuthConfig
	if err := decode(r, &a); err != nil {
		return err
	}
	if a.Auth != "" && a.Username == "" {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return errdefs.Invalid("invalid auth: %v", err)
		}
		a.Username, a.Password, _ = strings.Cut(string(raw), ":")
	}
	if err := s.eng.Login(r.Context(), a.ServerAddress, a.Username, a.Password); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.AuthResponse{Status: "Login Succeeded"})
}

// logout forgets a login (a Petrel extension: Docker's CLI keeps logins
// itself).
func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	var a api.AuthConfig
	if err := decode(r, &a); err != nil {
		return err
	}
	return noContent(w, s.eng.Logout(a.ServerAddress))
}

func (s *server) imageCount() int {
	imgs, err := s.eng.Images()
	if err != nil {
		return 0
	}
	return len(imgs)
}

// registryAuth decodes X-Registry-Auth: base64url (padded or not) JSON
// of a login. Empty, "{}" and identity tokens mean no login of the
// request's own.
func registryAuth(h string) (api.AuthConfig, error) {
	var a api.AuthConfig
	if h == "" {
		return a, nil
	}
	raw, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		raw, err = base64.RawURLEncoding.DecodeString(h)
	}
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(h); err != nil {
			return a, errdefs.Invalid("invalid X-Registry-Auth header: %v", err)
		}
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, errdefs.Invalid("invalid X-Registry-Auth header: %v", err)
	}
	if a.Auth != "" && a.Username == "" {
		if up, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			a.Username, a.Password, _ = strings.Cut(string(up), ":")
		}
	}
	if a.Password == "" {
		a.Username = ""
	}
	return a, nil
}
