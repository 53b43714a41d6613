package cgroups

import (
	"fmt"
	"strings"
	"time"
)

// freezeDir returns the dir to freeze and whether it is a v2 cgroup. A hybrid
// host without a v1 freezer uses the v2 hierarchy's cgroup.freeze.
func (m *Manager) freezeDir() (string, bool, error) {
	if d, ok := m.paths[keyUnified]; ok {
		return d, true, nil
	}
	if d, ok := m.paths["freezer"]; ok {
		return d, false, nil
	}
	if d, ok := m.paths[keyHybrid]; ok {
		return d, true, nil
	}
	return "", false, fmt.Errorf("no freezer: neither a v1 freezer hierarchy nor cgroup v2 is mounted")
}

// Freeze stops every process of the cgroup and waits until the kernel says
// they are all frozen.
func (m *Manager) Freeze() error { return m.setFrozen(true) }

// Thaw resumes a frozen cgroup and waits until it is thawed.
func (m *Manager) Thaw() error { return m.setFrozen(false) }

func (m *Manager) setFrozen(freeze bool) error {
	dir, v2, err := m.freezeDir()
	if err != nil {
		return err
	}
	if v2 {
		v := "0"
		if freeze {
			v = "1"
		}
		if err := m.write(dir, "cgroup.freeze", v); err != nil {
			return err
		}
		return waitFor(func() (bool, error) {
			f, err := frozenV2(dir)
			return f == freeze, err
		}, dir)
	}
	want := "THAWED"
	if freeze {
		want = "FROZEN"
	}
	for round := 0; ; round++ {
		if err := m.write(dir, "freezer.state", want); err != nil {
			return err
		}
		// A freeze racing with forks can stay FREEZING; write again now
		// and then, and give up after a while.
		for i := 0; i < 100; i++ {
			s, err := readString(dir, "freezer.state")
			if err != nil {
				return err
			}
			if s == want {
				return nil
			}
			time.Sleep(time.Duration(min(i+1, 10)) * time.Millisecond)
		}
		if round == 10 {
			if freeze {
				_ = m.write(dir, "freezer.state", "THAWED")
			}
			return fmt.Errorf("%s: freezer.state did not become %s", dir, want)
		}
	}
}

// waitFor polls done until it is true, for at most about ten seconds.
func waitFor(done func() (bool, error), dir string) error {
	for i := 0; i < 1100; i++ {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		time.Sleep(time.Duration(min(i+1, 10)) * time.Millisecond)
	}
	return fmt.Errorf("%s: cgroup.events did not settle", dir)
}

func frozenV2(dir string) (bool, error) {
	s, err := readString(dir, "cgroup.events")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "frozen "); ok {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("%s/cgroup.events has no frozen line", dir)
}

// Frozen reports whether the cgroup is frozen.
func (m *Manager) Frozen() (bool, error) {
	dir, v2, err := m.freezeDir()
	if err != nil {
		return false, err
	}
	if v2 {
		return frozenV2(dir)
	}
	s, err := readString(dir, "freezer.state")
	if err != nil {
		return false, err
	}
	return s == "FROZEN", nil
}
