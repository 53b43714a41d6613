// Package imagetool is the image-tool applet: a debug entry point to the
// image package (pull, images, inspect, tag, rmi, load, save, import,
// export, rootfs, mount, gc, df, login, logout) working on an image store
// directly, without the daemon. The store is locked while it runs.
package imagetool

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/registry"
	"github.com/petrel-edge/petrel/image/snapshot"
)

const (
	defaultRoot     = "/var/lib/petrel/image"
	defaultAuthFile = "/etc/petrel/auth.json"
	defaultCertsDir = "/etc/petrel/certs.d"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type env struct {
	opt    image.Options
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	usage string
	run   func(ctx context.Context, e *env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"pull":    {"pull [--platform os/arch[/variant]] [-q] NAME", cmdPull},
		"images":  {"images [-q]: list images", cmdImages},
		"inspect": {"inspect NAME|ID: print the image record and config as JSON", cmdInspect},
		"tag":     {"tag SOURCE TARGET", cmdTag},
		"rmi":     {"rmi [-f] NAME|ID…", cmdRmi},
		"load":    {"load [-i FILE] [--name NAME]: docker-archive or OCI layout tar (stdin by default)", cmdLoad},
		"save":    {"save [-o FILE] NAME|ID…: OCI layout + docker-archive tar (stdout by default)", cmdSave},
		"import":  {"import [--name NAME] [--cmd CMD] FILE|-: one-layer image of a rootfs tar", cmdImport},
		"rootfs":  {"rootfs KEY NAME|ID: make a container rootfs, print its mount as JSON", cmdRootfs},
		"mount":   {"mount KEY DIR: mount a rootfs made by rootfs", cmdMount},
		"umount":  {"umount DIR", cmdUmount},
		"rm":      {"rm KEY: remove a container rootfs (unmounted)", cmdRm},
		"export":  {"export [-o FILE] KEY: tar of a container rootfs", cmdExport},
		"gc":      {"gc: delete content no image or rootfs uses", cmdGC},
		"df":      {"df: disk use of images, layers and container rootfs", cmdDF},
		"login":   {"login -u USER [-p PASS | --password-stdin] REGISTRY", cmdLogin},
		"logout":  {"logout REGISTRY", cmdLogout},
	}
}

// Main runs image-tool with the arguments after its name.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, args, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "image-tool: %v\n", err)
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: petrel image-tool [global flags] COMMAND [args]")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n", cmds[n].usage)
	}
	fmt.Fprintln(w, "global flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image-tool", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", defaultRoot, "image store directory")
	driver := fs.String("driver", "", "snapshot driver: overlay or copy (default: overlay where available)")
	authFile := fs.String("auth-file", defaultAuthFile, "registry credentials file (mode 0600)")
	certsDir := fs.String("certs-dir", defaultCertsDir, "per-registry certificates: DIR/<host[:port]>/*.crt")
	platform := fs.String("platform", "", "default platform of pulls (os/arch[/variant])")
	maxDL := fs.Int("max-concurrent-downloads", 3, "layers downloaded at once")
	var mirrors, insecure listFlag
	fs.Var(&mirrors, "registry-mirror", "docker.io mirror URL (repeatable)")
	fs.Var(&insecure, "insecure-registry", "registry host[:port] or CIDR reachable without verified TLS (repeatable)")
	if err := fs.Parse(args); err != nil {
		usage(stderr, fs)
		return err
	}
	if fs.NArg() == 0 {
		usage(stderr, fs)
		return flag.ErrHelp
	}
	cmd, ok := commands()[fs.Arg(0)]
	if !ok {
		usage(stderr, fs)
		return fmt.Errorf("unknown command %q", fs.Arg(0))
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, opt: image.Options{
		Root: *root, Driver: *driver, MaxConcurrentDownloads: *maxDL,
		Registry: registry.Config{Mirrors: map[string][]string{"docker.io": mirrors}, Insecure: insecure,
			CertsDir: *certsDir, Credentials: registry.NewCredentials(*authFile), UserAgent: "petrel-image-tool"},
	}}
	if *platform != "" {
		p, err := manifest.ParsePlatform(*platform)
		if err != nil {
			return err
		}
		e.opt.Platform = &p
	}
	return cmd.run(ctx, e, fs.Args()[1:])
}

func (e *env) open() (*image.Store, error) { return image.Open(e.opt) }

func parse(name string, args []string, setup func(*flag.FlagSet), min, max int) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if setup != nil {
		setup(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if fs.NArg() < min || max >= 0 && fs.NArg() > max {
		return nil, fmt.Errorf("%s: usage: %s", name, commands()[name].usage)
	}
	return fs, nil
}

func cmdPull(ctx context.Context, e *env, args []string) error {
	var platform string
	var quiet bool
	fs, err := parse("pull", args, func(fs *flag.FlagSet) {
		fs.StringVar(&platform, "platform", "", "os/arch[/variant]")
		fs.BoolVar(&quiet, "q", false, "print only the image ID")
	}, 1, 1)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	opt := image.PullOptions{}
	if platform != "" {
		p, err := manifest.ParsePlatform(platform)
		if err != nil {
			return err
		}
		opt.Platform = &p
	}
	start := time.Now()
	if !quiet {
		var mu sync.Mutex
		last := map[string]string{}
		opt.Progress = func(p image.Progress) {
			mu.Lock()
			defer mu.Unlock()
			line := p.ID + ": " + p.Status
			if p.Total > 0 && (p.Status == image.StatusDownload || p.Status == image.StatusExtract) {
				pct := p.Current * 100 / p.Total
				line = fmt.Sprintf("%s %d%%", line, pct-pct%10)
			}
			if last[p.ID] != line {
				last[p.ID] = line
				fmt.Fprintln(e.stderr, line)
			}
		}
	}
	img, err := s.Pull(ctx, fs.Arg(0), opt)
	if err != nil {
		return err
	}
	if quiet {
		fmt.Fprintln(e.stdout, img.ID)
		return nil
	}
	fmt.Fprintf(e.stdout, "%s %s %s (%s, %d layers, %s)\n", strings.Join(img.Names, " "), img.Platform, img.ID.Short(),
		humanSize(img.Size), len(img.Layers), time.Since(start).Round(time.Millisecond))
	return nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fkB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func cmdImages(ctx context.Context, e *env, args []string) error {
	var quiet bool
	if _, err := parse("images", args, func(fs *flag.FlagSet) { fs.BoolVar(&quiet, "q", false, "IDs only") }, 0, 0); err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	imgs, err := s.List()
	if err != nil {
		return err
	}
	if quiet {
		for _, img := range imgs {
			fmt.Fprintln(e.stdout, img.ID.Short())
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tPLATFORM\tCREATED\tSIZE")
	for _, img := range imgs {
		names := img.Names
		if len(names) == 0 {
			names = []string{"<none>:<none>"}
		}
		for _, n := range names {
			repo, tag := n, "<none>"
			if i := strings.LastIndexByte(n, ':'); i > strings.LastIndexByte(n, '/') {
				repo, tag = n[:i], n[i+1:]
			}
			repo = strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "library/")
			created := "-"
			if !img.Created.IsZero() {
				created = img.Created.Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", repo, tag, img.ID.Short(), img.Platform, created, humanSize(img.Size))
		}
	}
	return tw.Flush()
}

func cmdInspect(ctx context.Context, e *env, args []string) error {
	fs, err := parse("inspect", args, nil, 1, 1)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	img, err := s.Get(fs.Arg(0))
	if err != nil {
		return err
	}
	out := struct {
		*image.Image
		Names   []string        `json:"names"`
		Digests []string        `json:"digests"`
		Config  *manifest.Image `json:"config"`
	}{img, img.Names, img.Digests, img.Config}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func cmdTag(ctx context.Context, e *env, args []string) error {
	fs, err := parse("tag", args, nil, 2, 2)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Tag(fs.Arg(0), fs.Arg(1))
}

func cmdRmi(ctx context.Context, e *env, args []string) error {
	var force bool
	fs, err := parse("rmi", args, func(fs *flag.FlagSet) { fs.BoolVar(&force, "f", false, "remove even if in use") }, 1, -1)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	var errs []error
	for _, n := range fs.Args() {
		r, err := s.Remove(n, force)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, u := range r.Untagged {
			fmt.Fprintln(e.stdout, "Untagged:", u)
		}
		for _, d := range r.Deleted {
			fmt.Fprintln(e.stdout, "Deleted:", d)
		}
		if r.GC.Blobs+r.GC.Layers > 0 {
			fmt.Fprintf(e.stdout, "Freed: %d blobs (%s), %d layers\n", r.GC.Blobs, humanSize(r.GC.Bytes), r.GC.Layers)
		}
	}
	return errors.Join(errs...)
}

func cmdLoad(ctx context.Context, e *env, args []string) error {
	var input, name string
	if _, err := parse("load", args, func(fs *flag.FlagSet) {
		fs.StringVar(&input, "i", "", "archive file (default stdin)")
		fs.StringVar(&name, "name", "", "name for images the archive leaves unnamed")
	}, 0, 0); err != nil {
		return err
	}
	r := e.stdin
	if input != "" && input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	imgs, err := s.Load(ctx, bufio.NewReaderSize(r, 256<<10), image.LoadOptions{Name: name})
	for _, img := range imgs {
		if len(img.Names) == 0 {
			fmt.Fprintln(e.stdout, "Loaded image ID:", img.ID)
		}
		for _, n := range img.Names {
			fmt.Fprintln(e.stdout, "Loaded image:", n)
		}
	}
	return err
}

func cmdSave(ctx context.Context, e *env, args []string) error {
	var output string
	fs, err := parse("save", args, func(fs *flag.FlagSet) { fs.StringVar(&output, "o", "", "output file (default stdout)") }, 1, -1)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	return writeOut(e, output, func(w io.Writer) error { return s.Save(w, fs.Args()) })
}

// writeOut writes to file (atomically enough: a temporary name, renamed
// when complete) or to stdout.
func writeOut(e *env, file string, fn func(io.Writer) error) error {
	if file == "" || file == "-" {
		bw := bufio.NewWriterSize(e.stdout, 256<<10)
		if err := fn(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := os.CreateTemp(dirOf(file), ".image-tool-*")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Close()
	} else {
		f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return "."
}

func cmdImport(ctx context.Context, e *env, args []string) error {
	var name, cmd string
	fs, err := parse("import", args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "image name")
		fs.StringVar(&cmd, "cmd", "", "default command (split on spaces)")
	}, 1, 1)
	if err != nil {
		return err
	}
	r := e.stdin
	if fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	opt := image.ImportOptions{Name: name}
	if cmd != "" {
		opt.Config.Cmd = strings.Fields(cmd)
	}
	img, err := s.Import(ctx, r, opt)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, img.ID)
	return nil
}

func cmdRootfs(ctx context.Context, e *env, args []string) error {
	fs, err := parse("rootfs", args, nil, 2, 2)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := s.PrepareRootfs(fs.Arg(0), fs.Arg(1))
	if err != nil {
		return err
	}
	return json.NewEncoder(e.stdout).Encode(m)
}

func cmdMount(ctx context.Context, e *env, args []string) error {
	fs, err := parse("mount", args, nil, 2, 2)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := s.RootfsMount(fs.Arg(0))
	if err != nil {
		return err
	}
	return snapshot.MountAt(m, fs.Arg(1))
}

func cmdUmount(ctx context.Context, e *env, args []string) error {
	fs, err := parse("umount", args, nil, 1, 1)
	if err != nil {
		return err
	}
	return snapshot.Unmount(fs.Arg(0))
}

func cmdRm(ctx context.Context, e *env, args []string) error {
	fs, err := parse("rm", args, nil, 1, 1)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	return s.RemoveRootfs(fs.Arg(0))
}

func cmdExport(ctx context.Context, e *env, args []string) error {
	var output string
	fs, err := parse("export", args, func(fs *flag.FlagSet) { fs.StringVar(&output, "o", "", "output file (default stdout)") }, 1, 1)
	if err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	return writeOut(e, output, func(w io.Writer) error { return s.Export(fs.Arg(0), w) })
}

func cmdGC(ctx context.Context, e *env, args []string) error {
	if _, err := parse("gc", args, nil, 0, 0); err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.GC()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted %d blobs (%s), %d layers\n", st.Blobs, humanSize(st.Bytes), st.Layers)
	return nil
}

func cmdDF(ctx context.Context, e *env, args []string) error {
	if _, err := parse("df", args, nil, 0, 0); err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.DiskUsage()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE ID\tSIZE\tSHARED\tCONTAINERS")
	for _, i := range u.Images {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", i.ID.Short(), humanSize(i.Size), humanSize(i.SharedSize), i.Containers)
	}
	for _, r := range u.Rootfs {
		fmt.Fprintf(tw, "rootfs %s (%s)\t%s\t\t\n", r.Key, r.Image.Short(), humanSize(r.Size))
	}
	fmt.Fprintf(tw, "layers (each once)\t%s\t\t\n", humanSize(u.LayersSize))
	fmt.Fprintf(tw, "blobs\t%s\t\t\n", humanSize(u.BlobsSize))
	return tw.Flush()
}

func cmdLogin(ctx context.Context, e *env, args []string) error {
	var user, pass string
	var passStdin bool
	fs, err := parse("login", args, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "u", "", "user name")
		fs.StringVar(&pass, "p", "", "password (prefer --password-stdin)")
		fs.BoolVar(&passStdin, "password-stdin", false, "read the password from stdin")
	}, 1, 1)
	if err != nil {
		return err
	}
	if passStdin {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
		if err != nil {
			return err
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if user == "" || pass == "" {
		return errors.New("login: -u and a password are required")
	}
	c := registry.New(e.opt.Registry)
	if err := c.Login(ctx, fs.Arg(0), user, pass); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Login Succeeded")
	return nil
}

func cmdLogout(ctx context.Context, e *env, args []string) error {
	fs, err := parse("logout", args, nil, 1, 1)
	if err != nil {
		return err
	}
	if err := registry.New(e.opt.Registry).Logout(fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Removing login credentials for", fs.Arg(0))
	return nil
}
