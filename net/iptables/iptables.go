package iptables

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// ErrNotExist is returned when a rule or chain to delete is not there.
var ErrNotExist = errors.New("rule or chain does not exist")

// IPTables runs one of iptables or ip6tables.
type IPTables struct {
	cmd string
}

// New returns the command for IPv6 when v6 is set, else for IPv4. It fails
// when the command is not installed.
func New(v6 bool) (*IPTables, error) {
	name := "iptables"
	if v6 {
		name = "ip6tables"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", name, err)
	}
	return &IPTables{cmd: path}, nil
}

func (t *IPTables) run(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(t.cmd, append([]string{"-w", "5"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		// Exit status 1 with these messages means "not found", for iptables
		// legacy and nft alike.
		if errors.As(err, &ee) && ee.ExitCode() == 1 && notExist(msg) {
			return "", fmt.Errorf("%s %s: %s: %w", t.cmd, strings.Join(args, " "), msg, ErrNotExist)
		}
		return "", fmt.Errorf("%s %s: %s: %w", t.cmd, strings.Join(args, " "), msg, err)
	}
	return stdout.String(), nil
}

func notExist(msg string) bool {
	return strings.Contains(msg, "No chain/target/match by that name") ||
		strings.Contains(msg, "does a matching rule exist") ||
		strings.Contains(msg, "Bad rule") ||
		strings.Contains(msg, "doesn't exist") ||
		strings.Contains(msg, "does not exist")
}

// Exists reports whether the rule is in table/chain.
func (t *IPTables) Exists(table, chain string, rule ...string) (bool, error) {
	_, err := t.run(append([]string{"-t", table, "-C", chain}, rule...)...)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotExist):
		return false, nil
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return false, nil
		}
		return false, err
	}
}

// AppendUnique appends the rule unless it is already in the chain.
func (t *IPTables) AppendUnique(table, chain string, rule ...string) error {
	if ok, err := t.Exists(table, chain, rule...); err != nil || ok {
		return err
	}
	_, err := t.run(append([]string{"-t", table, "-A", chain}, rule...)...)
	return err
}

// InsertUnique inserts the rule at position pos (from 1) unless it is
// already in the chain.
func (t *IPTables) InsertUnique(table, chain string, pos int, rule ...string) error {
	if ok, err := t.Exists(table, chain, rule...); err != nil || ok {
		return err
	}
	_, err := t.run(append([]string{"-t", table, "-I", chain, fmt.Sprint(pos)}, rule...)...)
	return err
}

// ChainExists reports whether table has the chain.
func (t *IPTables) ChainExists(table, chain string) (bool, error) {
	if _, err := t.run("-t", table, "-S", chain, "1"); err == nil {
		return true, nil
	}
	// iptables-nft 1.8.9 calls a missing chain "incompatible", and a
	// listing can fail while another program changes the table: read the
	// whole table to be sure.
	snap, err := t.Snapshot(table)
	if err != nil {
		return false, err
	}
	return snap.HasChain(chain), nil
}

// EnsureChain creates the chain if it does not exist.
func (t *IPTables) EnsureChain(table, chain string) error {
	ok, err := t.ChainExists(table, chain)
	if err != nil || ok {
		return err
	}
	_, err = t.run("-t", table, "-N", chain)
	return err
}

func hasJump(fields []string, target string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && fields[i+1] == target {
			return true
		}
	}
	return false
}

// SplitRule splits an iptables -S line into arguments, honouring the double
// quotes iptables puts around comments.
func SplitRule(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote, escaped, have := false, false, false
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && inQuote:
			escaped = true
		case r == '"':
			inQuote = !inQuote
			have = true
		case r == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// CommentID returns the quoted value that follows prefix in a rule's
// --comment (rules made for one container carry `... id: "<id>"`).
func CommentID(fields []string, prefix string) (string, bool) {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "--comment" && strings.HasPrefix(fields[i+1], prefix) {
			id, err := strconv.Unquote(strings.TrimPrefix(fields[i+1], prefix))
			return id, err == nil
		}
	}
	return "", false
}
