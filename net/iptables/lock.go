package iptables

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// LockPath is the file whose lock serialises the plugins' table updates.
const LockPath = "/run/petrel-cni-iptables.lock"

// Lock takes an exclusive lock that the built-in plugins hold from a
// Snapshot to the Apply that depends on it, so that two plugins starting
// containers at once do not both add the shared rules. (The xtables lock
// that iptables itself takes covers one command only.) The returned
// function releases it.
func Lock() (unlock func(), err error) {
	f, err := os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open iptables lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", LockPath, err)
	}
	return func() { f.Close() }, nil
}

// CreateChain creates a chain that other programs may create as well; one
// that exists already is not an error. Unlike Batch.NewChain it never
// empties an existing chain.
func (t *IPTables) CreateChain(table, chain string) error {
	_, err := t.run("-t", table, "-N", chain)
	if err != nil {
		if ok, e := t.ChainExists(table, chain); e == nil && ok {
			return nil
		}
	}
	return err
}
