package iptables

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Every iptables command is a process and, with the nft backend, a netlink
// round trip that loads the whole table: a plugin that reads a table once
// with Snapshot and writes its changes in one Apply (iptables-restore
// --noflush, atomic for the table) runs two commands instead of a dozen.

// A Snapshot is one table as `iptables -S` prints it.
type Snapshot struct {
	chains map[string]bool
	rules  []string // "-A CHAIN …" lines
}

// Snapshot reads the table's chains and rules.
func (t *IPTables) Snapshot(table string) (*Snapshot, error) {
	out, err := t.run("-t", table, "-S")
	if err != nil {
		return nil, err
	}
	s := &Snapshot{chains: map[string]bool{}}
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "-N "), strings.HasPrefix(l, "-P "):
			if f := strings.Fields(l); len(f) >= 2 {
				s.chains[f[1]] = true
			}
		case strings.HasPrefix(l, "-A "):
			s.rules = append(s.rules, l)
		}
	}
	return s, nil
}

// HasChain reports whether the table has the chain.
func (s *Snapshot) HasChain(name string) bool { return s.chains[name] }

// Rules returns the "-A" lines of chain, or of every chain if chain is "".
func (s *Snapshot) Rules(chain string) []string {
	var out []string
	for _, r := range s.rules {
		if f := SplitRule(r); len(f) >= 2 && (chain == "" || f[1] == chain) {
			out = append(out, r)
		}
	}
	return out
}

// Jumps returns the "-A" lines, in any chain, that jump to target.
func (s *Snapshot) Jumps(target string) []string {
	var out []string
	for _, r := range s.rules {
		if hasJump(SplitRule(r), target) {
			out = append(out, r)
		}
	}
	return out
}

// A Batch is a list of changes to one table, applied at once.
type Batch struct {
	table string
	decls []string
	lines []string
	seen  map[string]bool
}

// NewBatch starts an empty batch for table.
func NewBatch(table string) *Batch { return &Batch{table: table, seen: map[string]bool{}} }

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool { return len(b.decls) == 0 && len(b.lines) == 0 }

// NewChain creates a chain; applied to an existing chain it empties it.
func (b *Batch) NewChain(name string) { b.decls = append(b.decls, ":"+name+" - [0:0]") }

// Append appends a rule to chain; the same rule twice in one batch is
// appended once.
func (b *Batch) Append(chain string, rule ...string) { b.add("-A", chain, rule) }

// Insert puts a rule at the head of chain.
func (b *Batch) Insert(chain string, rule ...string) { b.add("-I", chain, rule) }

func (b *Batch) add(op, chain string, rule []string) {
	l := op + " " + chain + " " + joinRule(rule)
	if b.seen[l] {
		return
	}
	b.seen[l] = true
	b.lines = append(b.lines, l)
}

// DeleteLine removes the rule that a Snapshot listed as "-A CHAIN …".
func (b *Batch) DeleteLine(line string) {
	b.lines = append(b.lines, "-D"+strings.TrimPrefix(line, "-A"))
}

// RemoveChain empties and deletes chain; jumps to it must be deleted earlier
// in the batch.
func (b *Batch) RemoveChain(name string) {
	b.lines = append(b.lines, "-F "+name, "-X "+name)
}

// String is the batch in iptables-restore form.
func (b *Batch) String() string {
	var sb strings.Builder
	sb.WriteString("*" + b.table + "\n")
	for _, l := range b.decls {
		sb.WriteString(l + "\n")
	}
	for _, l := range b.lines {
		sb.WriteString(l + "\n")
	}
	sb.WriteString("COMMIT\n")
	return sb.String()
}

// Apply runs the batch through iptables-restore --noflush: all of it or,
// on error, none of it takes effect.
func (t *IPTables) Apply(b *Batch) error {
	if b.Empty() {
		return nil
	}
	restore := t.cmd + "-restore"
	if _, err := exec.LookPath(restore); err != nil {
		return fmt.Errorf("find %s: %w", restore, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(restore, "-w", "5", "--noflush")
	cmd.Stdin = strings.NewReader(b.String())
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if notExist(msg) {
			err = errors.Join(err, ErrNotExist)
		}
		return fmt.Errorf("%s: %s: %w", restore, msg, err)
	}
	return nil
}

// joinRule quotes the arguments that need it for iptables-restore.
func joinRule(rule []string) string {
	out := make([]string, len(rule))
	for i, a := range rule {
		if a == "" || strings.ContainsAny(a, " \t\"'\\") {
			a = `"` + strings.ReplaceAll(strings.ReplaceAll(a, `\`, `\\`), `"`, `\"`) + `"`
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
