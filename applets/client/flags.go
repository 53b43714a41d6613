package client

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// errHelp asks for the usage to be printed with exit 0.
var errHelp = errors.New("help requested")

// flagSet parses docker-style flags: --long, --long=value, --long value,
// -s value, -svalue and grouped booleans (-it). Unknown flags are errors.
type flagSet struct {
	usage        string
	defs         []*flagDef
	interspersed bool // flags may follow positional arguments
}

type flagDef struct {
	long, short, help string
	isBool            bool
	set               func(string) error
}

func newFlags(usage string, interspersed bool) *flagSet {
	return &flagSet{usage: usage, interspersed: interspersed}
}

func (f *flagSet) add(long, short, help string, isBool bool, set func(string) error) {
	f.defs = append(f.defs, &flagDef{long: long, short: short, help: help, isBool: isBool, set: set})
}

func (f *flagSet) Bool(p *bool, long, short, help string) {
	f.add(long, short, help, true, func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", v)
		}
		*p = b
		return nil
	})
}

func (f *flagSet) String(p *string, long, short, help string) {
	f.add(long, short, help, false, func(v string) error { *p = v; return nil })
}

func (f *flagSet) List(p *[]string, long, short, help string) {
	f.add(long, short, help, false, func(v string) error { *p = append(*p, v); return nil })
}

func (f *flagSet) Int(p *int, long, short, help string) {
	f.add(long, short, help, false, func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		*p = n
		return nil
	})
}

// Func registers a flag with a custom setter.
func (f *flagSet) Func(long, short, help string, set func(string) error) {
	f.add(long, short, help, false, set)
}

func (f *flagSet) lookup(name string, short bool) *flagDef {
	for _, d := range f.defs {
		if short && d.short == name || !short && d.long == name {
			return d
		}
	}
	return nil
}

// Parse returns the positional arguments.
func (f *flagSet) Parse(args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(rest, args[i+1:]...), nil
		case a == "--help" || a == "-h" && f.lookup("h", true) == nil:
			return nil, errHelp
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			d := f.lookup(name, false)
			if d == nil {
				return nil, fmt.Errorf("unknown flag: --%s", name)
			}
			if !hasVal {
				if d.isBool {
					val = "true"
				} else {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("flag needs an argument: --%s", name)
					}
					i++
					val = args[i]
				}
			}
			if err := d.set(val); err != nil {
				return nil, fmt.Errorf("invalid argument %q for \"--%s\" flag: %v", val, name, err)
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				d := f.lookup(a[j:j+1], true)
				if d == nil {
					return nil, fmt.Errorf("unknown shorthand flag: '%c' in %s", a[j], a)
				}
				if d.isBool {
					val := "true"
					if j+1 < len(a) && a[j+1] == '=' {
						val, j = a[j+2:], len(a)
					}
					if err := d.set(val); err != nil {
						return nil, fmt.Errorf("invalid argument %q for \"-%s\" flag: %v", val, d.short, err)
					}
					continue
				}
				val := strings.TrimPrefix(a[j+1:], "=")
				if j+1 >= len(a) {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("flag needs an argument: '%s' in -%s", d.short, d.short)
					}
					i++
					val = args[i]
				}
				if err := d.set(val); err != nil {
					return nil, fmt.Errorf("invalid argument %q for \"-%s, --%s\" flag: %v", val, d.short, d.long, err)
				}
				break
			}
		default:
			if !f.interspersed {
				return append(rest, args[i:]...), nil
			}
			rest = append(rest, a)
		}
	}
	return rest, nil
}

// printUsage writes the usage line and the flags.
func (f *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage:  %s\n", f.usage)
	if len(f.defs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nOptions:")
	defs := append([]*flagDef{}, f.defs...)
	sort.Slice(defs, func(i, j int) bool { return defs[i].long < defs[j].long })
	for _, d := range defs {
		s := "    "
		if d.short != "" {
			s = "-" + d.short + ", "
		}
		fmt.Fprintf(w, "  %s--%-18s %s\n", s, d.long, d.help)
	}
}
