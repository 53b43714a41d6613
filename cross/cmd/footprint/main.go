// Command footprint prints the size of every target's binary, breaks the
// amd64 binary down by the packages its symbols come from, and checks the
// amd64 size against the budget kept in cross/size-budget. The Makefile's
// size and size-check targets run it; see cross/README.md.
//
//	footprint -bin DIR [-syms FILE]          size table (+ breakdown)
//	footprint -bin DIR -check FILE           fail when over budget
//	footprint -bin DIR -set-budget FILE      write size + margin as budget
package main

import (
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/petrel-edge/petrel/cross"
)

// margin is the growth allowed over the measured size when a budget is set,
// in percent.
const margin = 3

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	bin := fs.String("bin", "bin", "directory of the built binaries petrel-<GOOS>-<target>")
	names := fs.String("targets", "", "space-separated targets to list (default: all of cross/targets)")
	syms := fs.String("syms", "", "unstripped amd64 binary to break down by package")
	check := fs.String("check", "", "budget file: fail when the amd64 binary is larger")
	setBudget := fs.String("set-budget", "", fmt.Sprintf("budget file to write: the amd64 size plus %d%%", margin))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *check != "" || *setBudget != "" {
		amd64, err := cross.Lookup("amd64")
		if err != nil {
			return err
		}
		size, err := fileSize(binPath(*bin, amd64))
		if err != nil {
			return err
		}
		if *setBudget != "" {
			return writeBudget(*setBudget, size)
		}
		return checkBudget(w, *check, binPath(*bin, amd64), size)
	}
	ts, err := selectTargets(*names)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-9s %-16s %10s %8s\n", "target", "platform", "bytes", "MiB")
	for _, t := range ts {
		size, err := fileSize(binPath(*bin, t))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-9s %-16s %10d %8.2f\n", t.Name, t.Platform(), size, float64(size)/(1<<20))
	}
	if *syms == "" {
		return nil
	}
	groups, total, pcln, err := breakdown(*syms)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nlinux/amd64 by package (symbol bytes in the file, as go tool nm -size counts them; bss excluded)\n")
	fmt.Fprintf(w, "%-44s %10s %6s\n", "packages", "bytes", "share")
	for _, g := range groups {
		fmt.Fprintf(w, "%-44s %10d %5.1f%%\n", g.name, g.size, 100*float64(g.size)/float64(total))
	}
	fmt.Fprintf(w, "%-44s %10d\n", "all symbols", total)
	if pcln > 0 {
		fmt.Fprintf(w, "%-44s %10d   (Go's function tables, grow with the code above)\n", ".gopclntab", pcln)
	}
	return nil
}

func binPath(dir string, t cross.Target) string {
	return filepath.Join(dir, "petrel-"+t.GOOS+"-"+t.Name)
}

func selectTargets(names string) ([]cross.Target, error) {
	if strings.TrimSpace(names) == "" {
		return cross.Targets()
	}
	var ts []cross.Target
	for _, n := range strings.Fields(names) {
		t, err := cross.Lookup(n)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("binary not built (make cross): %w", err)
	}
	return fi.Size(), nil
}

// readBudget returns the first number of the budget file; "#" starts a
// comment.
func readBudget(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read budget: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if f := strings.Fields(line); len(f) > 0 {
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("%s: budget %q is not a positive number of bytes", path, f[0])
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no budget in the file", path)
}

func checkBudget(w io.Writer, budgetFile, bin string, size int64) error {
	budget, err := readBudget(budgetFile)
	if err != nil {
		return err
	}
	if size > budget {
		return fmt.Errorf("%s is %d bytes, %d bytes (%.1f%%) over the budget of %d bytes in %s.\n"+
			"Find what grew with `make size` (the per-package table) and `go build -ldflags=-dumpdep`.\n"+
			"If the growth is worth it, raise the budget knowingly in the commit that grows the binary:\n"+
			"  make cross ARCHES=amd64 && go run ./cross/cmd/footprint -set-budget %s\n"+
			"(today's size + %d%%) and say in the commit message what the bytes buy",
			bin, size, size-budget, 100*float64(size-budget)/float64(budget), budget, budgetFile, budgetFile, margin)
	}
	fmt.Fprintf(w, "size-check: %s is %d bytes, budget %d (%d bytes left)\n", bin, size, budget, budget-size)
	return nil
}

func writeBudget(path string, size int64) error {
	budget := size + size*margin/100
	text := fmt.Sprintf("%d\n# Budget in bytes of the stripped static linux/amd64 binary (bin/petrel-linux-amd64),\n"+
		"# checked by make size-check (part of make test): measured %d + %d%%.\n"+
		"# Lower it when the binary slims; raise it only knowingly, see cross/README.md.\n", budget, size, margin)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write budget: %w", err)
	}
	return nil
}

type group struct {
	name string
	size int64
}

// breakdown sums the sizes of the symbols of an unstripped ELF binary that
// take room in the file (bss left out) by package group, largest first.
// It reads the symbol table that go tool nm -size prints.
// pcln is the size of the function tables, which no symbol covers.
func breakdown(path string) (groups []group, total, pcln int64, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("symbols of %s (built with -s?): %w", path, err)
	}
	if s := f.Section(".gopclntab"); s != nil {
		pcln = int64(s.Size)
	}
	sums := map[string]int64{}
	for _, s := range syms {
		if s.Size == 0 || s.Section == elf.SHN_UNDEF || int(s.Section) >= len(f.Sections) {
			continue
		}
		if f.Sections[s.Section].Type != elf.SHT_PROGBITS {
			continue
		}
		sums[groupOf(packageOf(s.Name))] += int64(s.Size)
		total += int64(s.Size)
	}
	return sortGroups(sums), total, pcln, nil
}

func sortGroups(sums map[string]int64) []group {
	gs := make([]group, 0, len(sums))
	for n, s := range sums {
		gs = append(gs, group{n, s})
	}
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].size != gs[j].size {
			return gs[i].size > gs[j].size
		}
		return gs[i].name < gs[j].name
	})
	return gs
}

// packageOf returns the import path a symbol name belongs to, or "" for
// symbols of no package (string data, float constants, go:* tables).
func packageOf(sym string) string {
	for _, p := range []string{"type:.eq.", "type:.hash.", "type:.namedata.", "type:", "go:itab.", "go:info."} {
		if strings.HasPrefix(sym, p) {
			sym = sym[len(p):]
			break
		}
	}
	sym = strings.TrimLeft(sym, "*[]0123456789")
	if strings.HasPrefix(sym, "go:") || strings.HasPrefix(sym, "$") || strings.HasPrefix(sym, "gclocals") ||
		strings.HasPrefix(sym, "struct ") || strings.HasPrefix(sym, "func(") || strings.HasPrefix(sym, "map[") ||
		strings.HasPrefix(sym, "interface ") {
		return ""
	}
	if i := strings.IndexAny(sym, "([,; "); i >= 0 {
		sym = sym[:i]
	}
	slash := strings.LastIndexByte(sym, '/')
	dot := strings.IndexByte(sym[slash+1:], '.')
	if dot < 0 {
		return ""
	}
	return sym[:slash+1+dot]
}

// groupOf names the row of the breakdown a package is counted in.
func groupOf(pkg string) string {
	const self = "github.com/petrel-edge/petrel"
	first, _, _ := strings.Cut(pkg, "/")
	switch {
	case pkg == "":
		return "(no package: strings, constants, tables)"
	case pkg == self || pkg == "main":
		return "petrel: main"
	case strings.HasPrefix(pkg, self+"/"):
		top, _, _ := strings.Cut(strings.TrimPrefix(pkg, self+"/"), "/")
		return "petrel: " + top + "/"
	case !strings.Contains(first, "."):
		return "std: " + stdGroup(pkg)
	}
	// A module path: host/owner/repo (golang.org/x/sys, github.com/a/b).
	parts := strings.SplitN(pkg, "/", 4)
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return strings.Join(parts, "/")
}

func stdGroup(pkg string) string {
	top, _, _ := strings.Cut(pkg, "/")
	switch top {
	case "runtime", "internal", "sync", "unsafe", "syscall", "reflect":
		return "runtime, reflect, syscall, internal"
	case "crypto":
		return "crypto"
	case "net":
		return "net, net/http"
	case "vendor":
		if strings.HasPrefix(pkg, "vendor/golang.org/x/crypto") {
			return "crypto"
		}
		return "net, net/http"
	case "encoding", "compress", "archive", "hash":
		return "encoding, compress, archive"
	}
	return "os, fmt, time, slices, strings, ..."
}
