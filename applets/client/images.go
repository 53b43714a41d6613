package client

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/image/reference"
)

// isTerminal reports whether w (or r) is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS)
	return err == nil
}

// progressUI shows Docker's JSON progress messages: on a terminal one
// line per layer, redrawn in place; elsewhere one line per change of
// status, without the byte counts.
type progressUI struct {
	w     io.Writer
	tty   bool
	ids   []string
	index map[string]int
	last  map[string]string
}

func newProgressUI(w io.Writer) *progressUI {
	return &progressUI{w: w, tty: isTerminal(w), index: map[string]int{}, last: map[string]string{}}
}

func (p *progressUI) show(m api.JSONMessage) {
	if m.Stream != "" {
		fmt.Fprint(p.w, m.Stream)
		return
	}
	line := m.Status
	if m.ID != "" {
		line = m.ID + ": " + m.Status
	}
	if m.ID == "" {
		p.ids, p.index = nil, map[string]int{}
		fmt.Fprintln(p.w, line)
		return
	}
	if !p.tty {
		if m.Progress != "" || p.last[m.ID] == m.Status {
			return
		}
		p.last[m.ID] = m.Status
		fmt.Fprintln(p.w, line)
		return
	}
	if m.Progress != "" {
		line += " " + m.Progress
	}
	i, ok := p.index[m.ID]
	if !ok {
		p.index[m.ID] = len(p.ids)
		p.ids = append(p.ids, m.ID)
		fmt.Fprintf(p.w, "%s\x1b[K\n", line)
		return
	}
	up := len(p.ids) - i
	fmt.Fprintf(p.w, "\x1b[%dA\r%s\x1b[K\x1b[%dB\r", up, line, up)
}

// readMessages shows a progress stream and returns its error message, if
// it ends with one; quiet shows nothing.
func readMessages(r io.Reader, ui *progressUI, quiet bool) ([]api.JSONMessage, error) {
	dec := json.NewDecoder(r)
	var all []api.JSONMessage
	for {
		var m api.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return all, nil
		} else if err != nil {
			return all, fmt.Errorf("reading the daemon's answer: %w", err)
		}
		if m.Error != "" {
			return all, errors.New(m.Error)
		}
		all = append(all, m)
		if !quiet && ui != nil {
			ui.show(m)
		}
	}
}

// pull fetches name through the daemon, showing progress on out.
func (c *cli) pull(ref reference.Reference, platform string, out io.Writer, quiet bool) error {
	q := url.Values{"fromImage": {ref.Name()}}
	if ref.Digest != "" {
		q.Set("tag", string(ref.Digest))
	} else {
		q.Set("tag", ref.Tag)
	}
	if platform != "" {
		q.Set("platform", platform)
	}
	resp, err := c.do("POST", "/images/create", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = readMessages(resp.Body, newProgressUI(out), quiet)
	return err
}

func parseRef(s string) (reference.Reference, error) {
	ref, err := reference.Parse(s)
	if err != nil {
		return ref, fmt.Errorf("invalid reference format: %v", err)
	}
	return ref, nil
}

func cmdPull(c *cli, args []string) error {
	var quiet bool
	var platform string
	f := newFlags("petrel pull [OPTIONS] NAME[:TAG|@DIGEST]", true)
	f.Bool(&quiet, "quiet", "q", "print only the image's full name")
	f.String(&platform, "platform", "", "pull for this platform (os/arch[/variant])")
	rest, err := c.parse(f, args, 1, 1)
	if err != nil {
		return err
	}
	ref, err := parseRef(rest[0])
	if err != nil {
		return err
	}
	if !quiet && !strings.ContainsAny(strings.TrimPrefix(rest[0], ref.Domain), ":@") {
		fmt.Fprintln(c.stdout, "Using default tag: latest")
	}
	if err := c.pull(ref, platform, c.stdout, quiet); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, ref.String())
	return nil
}

// splitTag splits a familiar name into repository and tag.
func splitTag(name string) (string, string) {
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// humanBytes is docker's size format: decimal units, three significant digits.
func humanBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

// imageRow is one line of petrel images.
type imageRow struct {
	repo, tag, digest, id string
	created               int64
	size                  int64
}

func imageRows(list []api.ImageSummary, noTrunc bool) []imageRow {
	var rows []imageRow
	for _, img := range list {
		id := img.ID
		if !noTrunc {
			id = shortID(strings.TrimPrefix(id, "sha256:"))
		}
		digests := map[string]string{}
		for _, d := range img.RepoDigests {
			repo, dg, _ := strings.Cut(d, "@")
			digests[repo] = dg
		}
		seen := map[string]bool{}
		for _, t := range img.RepoTags {
			repo, tag := splitTag(t)
			seen[repo] = true
			dg := digests[repo]
			if dg == "" {
				dg = "<none>"
			}
			rows = append(rows, imageRow{repo, tag, dg, id, img.Created, img.Size})
		}
		for _, d := range img.RepoDigests {
			repo, dg, _ := strings.Cut(d, "@")
			if !seen[repo] {
				seen[repo] = true
				rows = append(rows, imageRow{repo, "<none>", dg, id, img.Created, img.Size})
			}
		}
		if len(seen) == 0 {
			rows = append(rows, imageRow{"<none>", "<none>", "<none>", id, img.Created, img.Size})
		}
	}
	return rows
}

// renderTemplate fills docker-style {{.Field}} placeholders; other
// template syntax is refused rather than misread.
func renderTemplate(format string, fields map[string]string) (string, error) {
	format = strings.TrimPrefix(format, "table ")
	var b strings.Builder
	for {
		i := strings.Index(format, "{{")
		if i < 0 {
			b.WriteString(format)
			break
		}
		b.WriteString(format[:i])
		j := strings.Index(format[i:], "}}")
		if j < 0 {
			return "", fmt.Errorf("template: unclosed action in %q", format)
		}
		key := strings.TrimSpace(format[i+2 : i+j])
		v, ok := fields[key]
		if !ok {
			names := make([]string, 0, len(fields))
			for k := range fields {
				names = append(names, k)
			}
			sort.Strings(names)
			return "", fmt.Errorf("template: unknown field %s (use %s)", key, strings.Join(names, " "))
		}
		b.WriteString(v)
		format = format[i+j+2:]
	}
	return strings.ReplaceAll(b.String(), `\t`, "\t"), nil
}

func cmdImages(c *cli, args []string) error {
	var all, quiet, digests, noTrunc bool
	var format string
	var filters []string
	f := newFlags("petrel images [OPTIONS] [REPOSITORY[:TAG]]", true)
	f.Bool(&all, "all", "a", "show all images (there are no intermediate images: the same as without)")
	f.Bool(&quiet, "quiet", "q", "only show image IDs")
	f.Bool(&digests, "digests", "", "show digests")
	f.Bool(&noTrunc, "no-trunc", "", "do not truncate IDs")
	f.String(&format, "format", "", "print each image through a template: {{.Repository}} {{.Tag}} {{.Digest}} {{.ID}} {{.CreatedSince}} {{.CreatedAt}} {{.Size}}")
	f.List(&filters, "filter", "f", "filter: dangling=true|false, reference=PATTERN, label=KEY[=VALUE]")
	rest, err := c.parse(f, args, 0, 1)
	if err != nil {
		return err
	}
	m := map[string][]string{}
	for _, fl := range filters {
		k, v, ok := strings.Cut(fl, "=")
		if !ok {
			return &usageError{err: fmt.Errorf("bad format of filter (expected name=value): %s", fl)}
		}
		m[k] = append(m[k], v)
	}
	if len(rest) == 1 {
		m["reference"] = append(m["reference"], rest[0])
	}
	q := url.Values{}
	if len(m) > 0 {
		data, _ := json.Marshal(m)
		q.Set("filters", string(data))
	}
	fields := func(r imageRow) map[string]string {
		return map[string]string{
			".Repository": r.repo, ".Tag": r.tag, ".Digest": r.digest, ".ID": r.id,
			".CreatedSince": ago(time.Unix(r.created, 0)), ".CreatedAt": time.Unix(r.created, 0).Format("2006-01-02 15:04:05 -0700 MST"),
			".Size": humanBytes(r.size),
		}
	}
	if format != "" {
		if _, err := renderTemplate(format, fields(imageRow{})); err != nil {
			return &usageError{err: err}
		}
	}
	var list []api.ImageSummary
	if err := c.call("GET", "/images/json", q, nil, &list); err != nil {
		return err
	}
	rows := imageRows(list, noTrunc)
	if quiet {
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.id] {
				seen[r.id] = true
				fmt.Fprintln(c.stdout, r.id)
			}
		}
		return nil
	}
	if format != "" {
		for _, r := range rows {
			line, err := renderTemplate(format, fields(r))
			if err != nil {
				return &usageError{err: err}
			}
			fmt.Fprintln(c.stdout, line)
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 3, ' ', 0)
	if digests {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
	} else {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, r := range rows {
		created := ago(time.Unix(r.created, 0))
		if digests {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.repo, r.tag, r.digest, r.id, created, humanBytes(r.size))
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.repo, r.tag, r.id, created, humanBytes(r.size))
		}
	}
	return tw.Flush()
}

func cmdRmi(c *cli, args []string) error {
	var force, noPrune bool
	f := newFlags("petrel rmi [OPTIONS] IMAGE [IMAGE...]", true)
	f.Bool(&force, "force", "f", "remove the image even if a stopped container uses it, and every name of an ID")
	f.Bool(&noPrune, "no-prune", "", "accepted for docker compatibility (untagged parents do not exist here)")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	failed := false
	for _, name := range rest {
		var items []api.ImageDeleteItem
		if err := c.call("DELETE", "/images/"+name, q, nil, &items); err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		for _, it := range items {
			if it.Untagged != "" {
				fmt.Fprintln(c.stdout, "Untagged:", it.Untagged)
			}
			if it.Deleted != "" {
				fmt.Fprintln(c.stdout, "Deleted:", it.Deleted)
			}
		}
	}
	if failed {
		return &statusError{code: 1}
	}
	return nil
}

func cmdTag(c *cli, args []string) error {
	rest, err := c.parse(newFlags("petrel tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", true), args, 2, 2)
	if err != nil {
		return err
	}
	ref, err := parseRef(rest[1])
	if err != nil {
		return err
	}
	if ref.Digest != "" {
		return errors.New("refusing to create a tag with a digest reference")
	}
	q := url.Values{"repo": {ref.Name()}, "tag": {ref.Tag}}
	return c.call("POST", "/images/"+rest[0]+"/tag", q, nil, nil)
}

// writeTo writes a download to file (through a temporary file renamed
// once complete: an interrupted transfer leaves nothing) or to stdout,
// which must not be a terminal.
func (c *cli) writeTo(file string, src io.Reader) error {
	if file == "" || file == "-" {
		if isTerminal(c.stdout) {
			return &usageError{err: errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")}
		}
		if _, err := io.Copy(c.stdout, src); err != nil {
			return fmt.Errorf("transfer broken: %w", err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("failed to save: %w", err)
	}
	_, err = io.Copy(f, src)
	if err != nil {
		err = fmt.Errorf("transfer broken: %w", err)
	} else if err = f.Sync(); err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

func cmdSave(c *cli, args []string) error {
	var output string
	f := newFlags("petrel save [OPTIONS] IMAGE [IMAGE...]", true)
	f.String(&output, "output", "o", "write to a file instead of stdout")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	if (output == "" || output == "-") && isTerminal(c.stdout) {
		return &usageError{err: errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")}
	}
	resp, err := c.do("GET", "/images/get", url.Values{"names": rest}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.writeTo(output, resp.Body)
}

// upload sends a file (or stdin for "" or "-") as a request body.
func (c *cli) upload(method, path string, q url.Values, file string) (*http.Response, error) {
	var body io.Reader = c.stdin
	if file != "" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		body = f
	} else if isTerminal(c.stdin) {
		return nil, &usageError{err: errors.New("requested load from stdin, but stdin is a terminal: use -i FILE or redirect")}
	}
	u := "http://petrel" + apiPrefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(c.ctx, method, u, bufio.NewReaderSize(body, 256<<10))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.connError(err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return resp, nil
}

func cmdLoad(c *cli, args []string) error {
	var input string
	var quiet bool
	f := newFlags("petrel load [OPTIONS]", true)
	f.String(&input, "input", "i", "read from a tar archive file instead of stdin")
	f.Bool(&quiet, "quiet", "q", "suppress the load output")
	if _, err := c.parse(f, args, 0, 0); err != nil {
		return err
	}
	resp, err := c.upload("POST", "/images/load", url.Values{"quiet": {boolString(quiet)}}, input)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = readMessages(resp.Body, newProgressUI(c.stdout), false)
	return err
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func cmdImport(c *cli, args []string) error {
	var changes []string
	var message, platform string
	f := newFlags("petrel import [OPTIONS] file|- [REPOSITORY[:TAG]]", true)
	f.List(&changes, "change", "c", "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, WORKDIR, STOPSIGNAL, VOLUME)")
	f.String(&message, "message", "m", "commit message of the imported image")
	f.String(&platform, "platform", "", "platform of the image (os/arch[/variant]; default the daemon's)")
	rest, err := c.parse(f, args, 1, 2)
	if err != nil {
		return err
	}
	q := url.Values{"fromSrc": {"-"}, "message": {message}}
	if len(changes) > 0 {
		q["changes"] = changes
	}
	if platform != "" {
		q.Set("platform", platform)
	}
	if len(rest) == 2 {
		ref, err := parseRef(rest[1])
		if err != nil {
			return err
		}
		if ref.Digest != "" {
			return errors.New("import: the name cannot carry a digest")
		}
		q.Set("repo", ref.Name())
		q.Set("tag", ref.Tag)
	}
	if strings.Contains(rest[0], "://") {
		return errors.New("import from a URL is not supported: download the file and import it, or pipe it to 'petrel import -'")
	}
	resp, err := c.upload("POST", "/images/create", q, rest[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msgs, err := readMessages(resp.Body, nil, true)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Status != "" {
			fmt.Fprintln(c.stdout, m.Status)
		}
	}
	return nil
}

func cmdExport(c *cli, args []string) error {
	var output string
	f := newFlags("petrel export [OPTIONS] CONTAINER", true)
	f.String(&output, "output", "o", "write to a file instead of stdout")
	rest, err := c.parse(f, args, 1, 1)
	if err != nil {
		return err
	}
	if (output == "" || output == "-") && isTerminal(c.stdout) {
		return &usageError{err: errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")}
	}
	resp, err := c.do("GET", "/containers/"+rest[0]+"/export", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.writeTo(output, resp.Body)
}

// readSecret reads a line from the terminal in without echo.
func readSecret(in *os.File) (string, error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	line, err := bufio.NewReader(in).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func cmdLogin(c *cli, args []string) error {
	var user, pass string
	var passStdin bool
	f := newFlags("petrel login [OPTIONS] [SERVER]", true)
	f.String(&user, "username", "u", "user name")
	f.String(&pass, "password", "p", "password (prefer --password-stdin)")
	f.Bool(&passStdin, "password-stdin", "", "read the password from stdin")
	rest, err := c.parse(f, args, 0, 1)
	if err != nil {
		return err
	}
	server := "docker.io"
	if len(rest) == 1 {
		server = rest[0]
	}
	switch {
	case pass != "" && passStdin:
		return &usageError{err: errors.New("--password and --password-stdin are mutually exclusive")}
	case passStdin && user == "":
		return &usageError{err: errors.New("must provide --username with --password-stdin")}
	case pass != "":
		fmt.Fprintln(c.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	case passStdin:
		data, err := io.ReadAll(io.LimitReader(c.stdin, 64<<10))
		if err != nil {
			return err
		}
		pass = strings.TrimRight(string(data), "\r\n")
	}
	if user == "" || pass == "" {
		in, ok := c.stdin.(*os.File)
		if !ok || !isTerminal(in) {
			return errors.New("cannot perform an interactive login from a non TTY device: use -u and --password-stdin")
		}
		rd := bufio.NewReader(in)
		if user == "" {
			fmt.Fprint(c.stdout, "Username: ")
			line, err := rd.ReadString('\n')
			if err != nil {
				return err
			}
			user = strings.TrimSpace(line)
		}
		fmt.Fprint(c.stdout, "Password: ")
		if pass, err = readSecret(in); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout)
	}
	if user == "" || pass == "" {
		return errors.New("a user name and a password are required")
	}
	var resp api.AuthResponse
	if err := c.call("POST", "/auth", nil, api.AuthConfig{Username: user, Password: pass, ServerAddress: server}, &resp); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, resp.Status)
	return nil
}

func cmdLogout(c *cli, args []string) error {
	rest, err := c.parse(newFlags("petrel logout [SERVER]", true), args, 0, 1)
	if err != nil {
		return err
	}
	server := "docker.io"
	if len(rest) == 1 {
		server = rest[0]
	}
	if err := c.call("POST", "/auth/logout", nil, api.AuthConfig{ServerAddress: server}, nil); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "Removing login credentials for", server)
	return nil
}

// createPulling creates a container, pulling its image first when the
// daemon does not have it (or always, with --pull always), as docker run
// does.
func (c *cli) createPulling(req *api.CreateRequest, name, platform, pullPolicy string) (string, error) {
	external := req.HostConfig != nil && req.HostConfig.ExternalRootfs != ""
	var ref reference.Reference
	if !external {
		var err error
		if ref, err = parseRef(req.Image); err != nil && !isHexID(req.Image) {
			return "", err
		}
	}
	if !external && pullPolicy == "always" {
		if err := c.pull(ref, platform, c.stderr, false); err != nil {
			return "", err
		}
	}
	id, err := c.createOn(req, name, platform)
	var ae *apiError
	if err == nil || external || pullPolicy == "never" || !errors.As(err, &ae) || ae.status != http.StatusNotFound || isHexID(req.Image) {
		return id, err
	}
	fmt.Fprintf(c.stderr, "Unable to find image '%s' locally\n", ref.Familiar())
	if err := c.pull(ref, platform, c.stderr, false); err != nil {
		return "", err
	}
	return c.createOn(req, name, platform)
}

func isHexID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// createOn is create with the --platform query.
func (c *cli) createOn(req *api.CreateRequest, name, platform string) (string, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if platform != "" {
		q.Set("platform", platform)
	}
	var resp api.CreateResponse
	if err := c.call("POST", "/containers/create", q, req, &resp); err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(c.stderr, "WARNING:", w)
	}
	return resp.ID, nil
}

// checkPullPolicy validates --pull.
func checkPullPolicy(p string) error {
	switch p {
	case "", "missing", "always", "never":
		return nil
	}
	return fmt.Errorf("invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", p)
}

// inspectObject fetches a container's description, else (or with
// --type image) an image's, as docker inspect does.
func (c *cli) inspectObject(name, typ string) (*http.Response, error) {
	if typ == "image" {
		return c.do("GET", "/images/"+name+"/json", nil, nil)
	}
	resp, err := c.do("GET", "/containers/"+name+"/json", nil, nil)
	var ae *apiError
	if typ == "" && errors.As(err, &ae) && ae.status == http.StatusNotFound {
		if r, ierr := c.do("GET", "/images/"+name+"/json", nil, nil); ierr == nil {
			return r, nil
		}
	}
	return resp, err
}
