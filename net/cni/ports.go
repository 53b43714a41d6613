package cni

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// Reservation holds published host ports bound, so that no other program
// of the host takes them while the container has them. Traffic never
// reaches these sockets: portmap's rules redirect it first.
type Reservation struct {
	closers []io.Closer
}

// Release closes the sockets.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	for _, c := range r.closers {
		c.Close()
	}
	r.closers = nil
}

// Reserve binds every mapping's host port, picking a free one for a host
// port of 0 (the mapping is updated). A port that is taken is refused
// with an error naming it, and nothing stays bound.
func Reserve(maps []PortMapping) (*Reservation, error) {
	r := &Reservation{}
	for i := range maps {
		pm := &maps[i]
		ip := pm.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		addr := net.JoinHostPort(ip, strconv.Itoa(pm.HostPort))
		var c io.Closer
		var port int
		var err error
		switch pm.Protocol {
		case "tcp", "":
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				c, port = l, l.Addr().(*net.TCPAddr).Port
			}
		case "udp":
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp", addr); err == nil {
				c, port = pc, pc.LocalAddr().(*net.UDPAddr).Port
			}
		default:
			err = fmt.Errorf("protocol %q is not tcp or udp", pm.Protocol)
		}
		if err != nil {
			r.Release()
			if errors.Is(err, unix.EADDRINUSE) {
				return nil, fmt.Errorf("Bind for %s failed: port is already allocated", addr)
			}
			return nil, fmt.Errorf("publish %s/%s: %w", addr, pm.Protocol, err)
		}
		pm.HostPort = port
		r.closers = append(r.closers, c)
	}
	return r, nil
}
