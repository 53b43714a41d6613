package hostlocal

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	current "github.com/containernetworking/cni/pkg/types/100"
)

// store is what the allocator needs of the on-disk store.
type store interface {
	Lock() error
	Unlock() error
	Reserve(id, ifname string, ip net.IP, rangeID string) (bool, error)
	LastReservedIP(rangeID string) (net.IP, error)
	ReleaseByID(id, ifname string) error
	GetByID(id, ifname string) []net.IP
}

// allocator hands out addresses of one range set, round robin from the last
// address it reserved.
type allocator struct {
	set     RangeSet
	store   store
	rangeID string
}

func newAllocator(set RangeSet, s store, idx int) *allocator {
	return &allocator{set: set, store: s, rangeID: strconv.Itoa(idx)}
}

// ErrExhausted is returned when a range set has no free address left.
var ErrExhausted = errors.New("no IP addresses available")

// get reserves an address for (id, ifname): requested if not nil, else the
// next free one.
func (a *allocator) get(id, ifname string, requested net.IP) (*current.IPConfig, error) {
	if err := a.store.Lock(); err != nil {
		return nil, fmt.Errorf("lock IPAM store: %w", err)
	}
	defer a.store.Unlock()

	if requested != nil {
		requested = canonical(requested)
		r, err := a.set.rangeFor(requested)
		if err != nil {
			return nil, err
		}
		if requested.Equal(r.Gateway) {
			return nil, fmt.Errorf("requested ip %s is subnet's gateway", requested)
		}
		ok, err := a.store.Reserve(id, ifname, requested, a.rangeID)
		if err != nil {
			return nil, fmt.Errorf("reserve %s: %w", requested, err)
		}
		if !ok {
			return nil, fmt.Errorf("requested IP address %s is not available in range set %s", requested, a.set)
		}
		return &current.IPConfig{Address: net.IPNet{IP: requested, Mask: r.Subnet.Mask}, Gateway: r.Gateway}, nil
	}

	for _, ip := range a.store.GetByID(id, ifname) {
		if a.set.Contains(ip) {
			return nil, fmt.Errorf("%s has been allocated to %s, duplicate allocation is not allowed", ip, id)
		}
	}
	it := a.iter()
	for {
		ip, r := it.next()
		if ip == nil {
			return nil, fmt.Errorf("%w in range set: %s", ErrExhausted, a.set)
		}
		ok, err := a.store.Reserve(id, ifname, ip, a.rangeID)
		if err != nil {
			return nil, fmt.Errorf("reserve %s: %w", ip, err)
		}
		if ok {
			return &current.IPConfig{Address: net.IPNet{IP: ip, Mask: r.Subnet.Mask}, Gateway: r.Gateway}, nil
		}
	}
}

// release frees every address of (id, ifname).
func (a *allocator) release(id, ifname string) error {
	if err := a.store.Lock(); err != nil {
		return fmt.Errorf("lock IPAM store: %w", err)
	}
	defer a.store.Unlock()
	return a.store.ReleaseByID(id, ifname)
}

// rangeIter walks the addresses of a range set once, starting after the
// last reserved one and skipping gateways.
type rangeIter struct {
	set   RangeSet
	idx   int
	cur   net.IP
	start net.IP
}

func (a *allocator) iter() *rangeIter {
	it := &rangeIter{set: a.set}
	// A missing or unreadable record of the last address starts the walk
	// at the first range's start.
	if last, err := a.store.LastReservedIP(a.rangeID); err == nil && last != nil {
		last := last
		for i := range a.set {
			if a.set[i].Contains(last) {
				it.idx, it.cur = i, canonical(last)
				return it
			}
		}
	}
	return it
}

func (it *rangeIter) next() (net.IP, *Range) {
	for {
		r := &it.set[it.idx]
		switch {
		case it.cur == nil:
			it.cur, it.start = r.RangeStart, r.RangeStart
			if !it.cur.Equal(r.Gateway) {
				return it.cur, r
			}
			continue
		case it.cur.Equal(r.RangeEnd):
			it.idx = (it.idx + 1) % len(it.set)
			r = &it.set[it.idx]
			it.cur = r.RangeStart
		default:
			it.cur = NextIP(it.cur)
		}
		if it.start == nil {
			it.start = it.cur
		} else if it.cur.Equal(it.start) {
			return nil, nil
		}
		if !it.cur.Equal(r.Gateway) {
			return it.cur, r
		}
	}
}
