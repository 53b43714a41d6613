package hostlocal

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
)

// canonical returns ip in its 4-byte form for IPv4, 16-byte for IPv6, or nil.
func canonical(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip.To16()
}

// NextIP returns the address after ip, wrapping around at the top.
func NextIP(ip net.IP) net.IP {
	ip = canonical(ip)
	out := make(net.IP, len(ip))
	copy(out, ip)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			break
		}
	}
	return out
}

// lastIP is the last usable address of subnet: the broadcast address's
// predecessor for IPv4, the last address for IPv6.
func lastIP(subnet net.IPNet) net.IP {
	end := make(net.IP, len(subnet.IP))
	for i := range subnet.IP {
		end[i] = subnet.IP[i] | ^subnet.Mask[i]
	}
	if subnet.IP.To4() != nil {
		end[3]--
	}
	return end
}

// Canonicalize checks r and fills in the defaults: the gateway is the
// subnet's first address, the range its whole usable span.
func (r *Range) Canonicalize() error {
	if r.Subnet.IP == nil {
		return errors.New("missing subnet")
	}
	r.Subnet.IP = canonical(r.Subnet.IP)
	for _, ip := range []*net.IP{&r.RangeStart, &r.RangeEnd, &r.Gateway} {
		if *ip != nil {
			if *ip = canonical(*ip); *ip == nil {
				return errors.New("invalid address in range")
			}
		}
	}
	ones, bits := r.Subnet.Mask.Size()
	if ones > bits-2 {
		return fmt.Errorf("network %s too small to allocate from", (*net.IPNet)(&r.Subnet))
	}
	if len(r.Subnet.IP) != len(r.Subnet.Mask) {
		return errors.New("IPNet IP and Mask version mismatch")
	}
	if network := r.Subnet.IP.Mask(r.Subnet.Mask); !r.Subnet.IP.Equal(network) {
		return fmt.Errorf("network has host bits set: for a subnet mask of length %d the network address is %s", ones, network)
	}
	if r.Gateway == nil {
		r.Gateway = NextIP(r.Subnet.IP)
	}
	if r.RangeStart != nil {
		if !r.Contains(r.RangeStart) {
			return fmt.Errorf("rangeStart %s not in network %s", r.RangeStart, (*net.IPNet)(&r.Subnet))
		}
	} else {
		r.RangeStart = NextIP(r.Subnet.IP)
	}
	if r.RangeEnd != nil {
		if !r.Contains(r.RangeEnd) {
			return fmt.Errorf("rangeEnd %s not in network %s", r.RangeEnd, (*net.IPNet)(&r.Subnet))
		}
	} else {
		r.RangeEnd = lastIP(net.IPNet(r.Subnet))
	}
	return nil
}

// Contains reports whether addr lies in r's subnet and between its first and
// last address.
func (r *Range) Contains(addr net.IP) bool {
	addr = canonical(addr)
	if addr == nil || len(addr) != len(r.Subnet.IP) {
		return false
	}
	if !(*net.IPNet)(&r.Subnet).Contains(addr) {
		return false
	}
	if r.RangeStart != nil && bytes.Compare(addr, r.RangeStart) < 0 {
		return false
	}
	if r.RangeEnd != nil && bytes.Compare(addr, r.RangeEnd) > 0 {
		return false
	}
	return true
}

func (r *Range) overlaps(o *Range) bool {
	if len(r.RangeStart) != len(o.RangeStart) {
		return false
	}
	return r.Contains(o.RangeStart) || r.Contains(o.RangeEnd) || o.Contains(r.RangeStart) || o.Contains(r.RangeEnd)
}

func (r *Range) String() string { return r.RangeStart.String() + "-" + r.RangeEnd.String() }

// Canonicalize checks every range of s, that they share an address family
// and do not overlap.
func (s RangeSet) Canonicalize() error {
	if len(s) == 0 {
		return errors.New("empty range set")
	}
	for i := range s {
		if err := s[i].Canonicalize(); err != nil {
			return err
		}
		if len(s[i].RangeStart) != len(s[0].RangeStart) {
			return errors.New("mixed address families")
		}
	}
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[i].overlaps(&s[j]) {
				return fmt.Errorf("subnets %s and %s overlap", s[i].String(), s[j].String())
			}
		}
	}
	return nil
}

// Contains reports whether one of the ranges of s contains addr.
func (s RangeSet) Contains(addr net.IP) bool {
	_, err := s.rangeFor(addr)
	return err == nil
}

func (s RangeSet) rangeFor(addr net.IP) (*Range, error) {
	for i := range s {
		if s[i].Contains(addr) {
			return &s[i], nil
		}
	}
	return nil, fmt.Errorf("%s not in range set %s", addr, s.String())
}

// Overlaps reports whether a range of s overlaps a range of o.
func (s RangeSet) Overlaps(o RangeSet) bool {
	for i := range s {
		for j := range o {
			if s[i].overlaps(&o[j]) {
				return true
			}
		}
	}
	return false
}

func (s RangeSet) String() string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].String()
	}
	return strings.Join(out, ",")
}
