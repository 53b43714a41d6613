// Package client is the petrel command: isula/docker-style commands on
// petreld's HTTP API (a subset of the Docker Engine API) over its unix
// socket. Exit codes follow docker's: 125 for a usage error or a failed
// run/create, the container's code for run and wait, 1 otherwise.
package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/petrel-edge/petrel/core/api"
)

// DefaultHost is the daemon's socket unless -H or $PETREL_HOST say otherwise.
const DefaultHost = "unix:///run/petrel/petrel.sock"

// Main runs the client with the arguments after the program name.
func Main(args []string) int {
	return run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr)
}

type command struct {
	summary string
	run     func(c *cli, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"create":  {"create a container", cmdCreate},
		"run":     {"create and start a container, attached unless -d", cmdRun},
		"start":   {"start one or more containers", cmdStart},
		"stop":    {"stop one or more running containers", cmdStop},
		"restart": {"restart one or more containers", cmdRestart},
		"kill":    {"send a signal (default KILL) to running containers", cmdKill},
		"rm":      {"remove one or more containers", cmdRm},
		"ps":      {"list containers", cmdPs},
		"logs":    {"show a container's logs", cmdLogs},
		"wait":    {"wait for containers to stop and print their exit codes", cmdWait},
		"inspect": {"show containers in JSON", cmdInspect},
		"pause":   {"freeze every process of containers", cmdPause},
		"unpause": {"thaw paused containers", cmdUnpause},
		"rename":  {"rename a container", cmdRename},
		"attach":  {"attach to a running container's stdio", cmdAttach},
		"events":  {"stream the daemon's events", cmdEvents},
		"exec":    {"run a command in a running container", cmdExec},
		"top":     {"show the processes of a container", cmdTop},
		"cp":      {"copy files between a container and the host", cmdCp},
		"stats":   {"show containers' CPU, memory, I/O and pids use", cmdStats},
		"update":  {"change containers' resource limits and restart policy", cmdUpdate},
		"volume":  {"manage named volumes (ls, create, rm, inspect, prune)", cmdVolume},
		"network": {"manage networks: ls, create, rm, inspect", cmdNetwork},
		"version": {"show the client and daemon versions", cmdVersion},
		"info":    {"show system-wide information", cmdInfo},
		"pull":    {"pull an image from a registry", cmdPull},
		"images":  {"list images", cmdImages},
		"rmi":     {"remove one or more images", cmdRmi},
		"tag":     {"give an image another name", cmdTag},
		"save":    {"save images to a tar archive (stdout by default)", cmdSave},
		"load":    {"load images from a tar archive (stdin by default)", cmdLoad},
		"import":  {"make an image of a root filesystem tar", cmdImport},
		"export":  {"export a container's filesystem as a tar archive", cmdExport},
		"login":   {"log in to a registry (the daemon keeps the login)", cmdLogin},
		"logout":  {"log out from a registry", cmdLogout},
	}
}

// cli is one invocation's context.
type cli struct {
	ctx    context.Context
	socket string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	hc     *http.Client
}

// statusError carries an exit code other than the default.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// unixHTTPClient talks HTTP to the daemon's unix socket.
func unixHTTPClient(socket string) *http.Client {
	return &http.Client{Transport: unixTransport(socket)}
}

// unixTransport sends each request on a connection of its own and reads
// the answer on the calling goroutine. A client process sends a handful
// of requests: http.Transport's pool and its dialing, reading and writing
// goroutines cost it more, in thread wake-ups, than a dial per request.
type unixTransport string

func (t unixTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(req.Context(), "unix", string(t))
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	stop := context.AfterFunc(req.Context(), func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

// connBody is an answer's body that closes its connection.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

func (b *connBody) Close() error {
	b.stop()
	b.ReadCloser.Close()
	return b.conn.Close()
}

// usageError is a bad command line: exit 125.
type usageError struct {
	err   error
	usage string
}

func (e *usageError) Error() string { return e.err.Error() }

// apiError is an error answer of the daemon.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return "Error response from daemon: " + e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	host := os.Getenv("PETREL_HOST")
	if host == "" {
		host = DefaultHost
	}
	g := newFlags("petrel [OPTIONS] COMMAND", false)
	g.String(&host, "host", "H", "daemon socket (unix:///path)")
	rest, err := g.Parse(args)
	if errors.Is(err, errHelp) || err == nil && len(rest) == 0 {
		w := stdout
		if err == nil {
			w = stderr
		}
		printCommands(w, g)
		if err == nil {
			return 125
		}
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "petrel: %v\nSee 'petrel --help'.\n", err)
		return 125
	}
	cmd, ok := commands()[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "petrel: '%s' is not a petrel command.\nSee 'petrel --help'.\n", rest[0])
		return 125
	}
	if !strings.HasPrefix(host, "unix://") {
		fmt.Fprintf(stderr, "petrel: host %q: only unix:///path sockets are supported\n", host)
		return 125
	}
	socket := strings.TrimPrefix(host, "unix://")
	c := &cli{ctx: ctx, socket: socket, stdin: stdin, stdout: stdout, stderr: stderr}
	c.hc = unixHTTPClient(socket)
	err = cmd.run(c, rest[1:])
	var se *statusError
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &se):
		if se.msg != "" {
			fmt.Fprintln(stderr, se.msg)
		}
		return se.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "petrel: %v\nSee 'petrel %s --help'.\n", ue.err, rest[0])
		return 125
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

func printCommands(w io.Writer, g *flagSet) {
	fmt.Fprintln(w, "Usage:  petrel [OPTIONS] COMMAND\n\nA light container engine for edge devices.\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nGlobal options:\n  -H, --host string   daemon socket (default "+DefaultHost+", or $PETREL_HOST)")
}

// parse parses a command's flags; bad flags become usage errors and
// --help prints the usage.
func (c *cli) parse(f *flagSet, args []string, min, max int) ([]string, error) {
	rest, err := f.Parse(args)
	if errors.Is(err, errHelp) {
		f.printUsage(c.stdout)
		return nil, errHelp
	}
	if err != nil {
		return nil, &usageError{err: err, usage: f.usage}
	}
	if len(rest) < min {
		return nil, &usageError{err: fmt.Errorf("\"%s\" requires at least %d argument(s)", strings.Fields(f.usage)[1], min), usage: f.usage}
	}
	if max >= 0 && len(rest) > max {
		return nil, &usageError{err: fmt.Errorf("\"%s\" accepts at most %d argument(s)", strings.Fields(f.usage)[1], max), usage: f.usage}
	}
	return rest, nil
}

const apiPrefix = "/v" + api.Version

// do sends a request and turns error answers into apiErrors.
func (c *cli) do(method, path string, q url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = strings.NewReader(string(data))
	}
	u := "http://petrel" + apiPrefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(c.ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
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

func (c *cli) connError(err error) error {
	var ne *net.OpError
	if errors.As(err, &ne) {
		return fmt.Errorf("Cannot connect to the Petrel daemon at unix://%s. Is petreld running?", c.socket)
	}
	return err
}

func readAPIError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.ErrorResponse
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return &apiError{status: resp.StatusCode, msg: e.Message}
}

// call sends a request and decodes a JSON answer into out (if not nil).
func (c *cli) call(method, path string, q url.Values, body, out any) error {
	resp, err := c.do(method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// hijack opens a raw stream (attach): the request is written by hand,
// the answer read, and the connection handed back.
func (c *cli) hijack(path string, q url.Values) (net.Conn, *bufio.Reader, error) {
	return c.hijackBody(path, q, nil)
}

// hijackBody is hijack with a JSON request body.
func (c *cli) hijackBody(path string, q url.Values, body any) (net.Conn, *bufio.Reader, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, nil, err
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(c.ctx, "unix", c.socket)
	if err != nil {
		return nil, nil, c.connError(err)
	}
	u := apiPrefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: petrel\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u, len(data), data)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("attach: %w", err)
	}
	if resp.StatusCode >= 400 {
		err := readAPIError(resp)
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, nil, fmt.Errorf("attach: unexpected answer %s", resp.Status)
	}
	return conn, br, nil
}

// forEach runs fn on every argument, printing errors and going on, as
// docker does for stop, rm, kill …
func (c *cli) forEach(ids []string, fn func(string) error) error {
	failed := false
	for _, id := range ids {
		if err := fn(id); err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		fmt.Fprintln(c.stdout, id)
	}
	if failed {
		return &statusError{code: 1}
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}
