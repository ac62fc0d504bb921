package doctor

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Thresholds of the ephemeral-port check: the share of the port range the
// busiest (source, destination, port) tuple uses.
const (
	portsWarn = 0.5 // connect() slows down as it searches a fuller range
	portsFail = 0.8
)

// TCP states as /proc/net/tcp writes them.
const (
	tcpTimeWait = 0x06
	tcpListen   = 0x0A
)

// socket is one line of /proc/net/tcp or /proc/net/tcp6.
type socket struct {
	local, remote netip.AddrPort
	state         int
}

// parseProcNetTCP reads /proc/net/tcp or tcp6: addresses as hex in the
// kernel's byte order, ports as big-endian hex, state as hex.
func parseProcNetTCP(b []byte) ([]socket, error) {
	var out []socket
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		if i == 0 || len(f) < 4 {
			continue // header or blank
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: local address: %w", i+1, err)
		}
		remote, err := parseHexAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: remote address: %w", i+1, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("line %d: state %q: %w", i+1, f[3], err)
		}
		out = append(out, socket{local: local, remote: remote, state: int(st)})
	}
	return out, nil
}

// parseHexAddrPort reads "0100007F:1F90": the address as 32-bit words in
// host (little-endian) order, then the port.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q has no port", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("%q is not a hex IPv4 or IPv6 address", a)
	}
	for w := 0; w < len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	addr, _ := netip.AddrFromSlice(raw)
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", p, err)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// sockets reads every TCP socket of the host, IPv4 and IPv6.
func (h Host) sockets() ([]socket, error) {
	var all []socket
	read := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := h.readFile(f)
		if err != nil {
			continue // no IPv6, for one
		}
		read++
		s, err := parseProcNetTCP(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, s...)
	}
	if read == 0 {
		return nil, errors.New("neither /proc/net/tcp nor /proc/net/tcp6 could be read")
	}
	return all, nil
}

// parsePortList reads ip_local_reserved_ports: "8080,9000-9010".
func parsePortList(s string) (func(int) bool, error) {
	type span struct{ lo, hi int }
	var spans []span
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("reserved ports %q: %w", s, err)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
				return nil, fmt.Errorf("reserved ports %q: %w", s, err)
			}
		}
		spans = append(spans, span{lo, hi})
	}
	return func(p int) bool {
		return slices.ContainsFunc(spans, func(s span) bool { return p >= s.lo && p <= s.hi })
	}, nil
}

// portRange reads the ephemeral range and which ports in it are reserved.
func (h Host) portRange() (lo, hi int, reserved func(int) bool, err error) {
	v, err := h.Sysctl("net.ipv4.ip_local_port_range")
	if err != nil {
		return 0, 0, nil, err
	}
	if lo, hi, err = parsePortRange(v); err != nil {
		return 0, 0, nil, fmt.Errorf("net.ipv4.ip_local_port_range %q: %w", v, err)
	}
	reserved = func(int) bool { return false }
	if r, err := h.Sysctl("net.ipv4.ip_local_reserved_ports"); err == nil {
		if reserved, err = parsePortList(r); err != nil {
			return 0, 0, nil, err
		}
	}
	return lo, hi, reserved, nil
}

// tuple is what an outgoing connection's ephemeral port must be unique
// within: its source address, destination address and destination port.
type tuple struct {
	src netip.Addr
	dst netip.AddrPort
}

// portsCheck measures ephemeral-port headroom: for every (source,
// destination, port) tuple, how many sockets — TIME_WAIT included — hold a
// port of the ephemeral range, against the size of that range.
func portsCheck(h Host) Check {
	const name = "ports.ephemeral"
	return Check{Name: name, Run: func(context.Context) Result {
		r := Result{Check: name,
			Expected: fmt.Sprintf("busiest tuple below %.0f%% of the range (fail at %.0f%%)", portsWarn*100, portsFail*100),
			Why: "an outgoing connection needs a free port per (source, destination, port); when the busiest " +
				"tuple runs out, connect() fails with EADDRNOTAVAIL and requests to that upstream fail"}
		lo, hi, reserved, err := h.portRange()
		if err != nil {
			r.Status, r.Found = Skip, "unknown: "+unreadable(err)
			return r
		}
		size := 0
		for p := lo; p <= hi; p++ {
			if !reserved(p) {
				size++
			}
		}
		socks, err := h.sockets()
		if err != nil {
			r.Status, r.Found = Skip, "unknown: "+err.Error()
			return r
		}
		out := outgoing(socks, lo, hi)
		type count struct{ all, timeWait int }
		counts := map[tuple]*count{}
		for _, s := range out {
			k := tuple{s.local.Addr(), s.remote}
			c := counts[k]
			if c == nil {
				c = &count{}
				counts[k] = c
			}
			c.all++
			if s.state == tcpTimeWait {
				c.timeWait++
			}
		}
		if len(counts) == 0 || size == 0 {
			r.Status = OK
			r.Found = fmt.Sprintf("no outgoing connections now; %d ports per tuple", size)
			if size == 0 {
				r.Status, r.Found = Fail, "every port of the ephemeral range is reserved"
			}
			return r
		}
		var busiest tuple
		var most *count
		for k, c := range counts {
			if most == nil || c.all > most.all || c.all == most.all && tupleLess(k, busiest) {
				busiest, most = k, c
			}
		}
		use := float64(most.all) / float64(size)
		r.Found = fmt.Sprintf("%d sockets (%d in TIME_WAIT) from %s to %s use %s of %d ports; %d tuples, %d outgoing sockets",
			most.all, most.timeWait, busiest.src, busiest.dst, percent(use), size, len(counts), len(out))
		switch {
		case use >= portsFail:
			r.Status = Fail
		case use >= portsWarn:
			r.Status = Warn
		default:
			r.Status = OK
		}
		return r
	}}
}

func tupleLess(a, b tuple) bool {
	if c := a.src.Compare(b.src); c != 0 {
		return c < 0
	}
	return a.dst.Compare(b.dst) < 0
}

// outgoing picks the sockets that hold an ephemeral port for an outgoing
// connection: not listening, local port in the range, and not a port
// something listens on (those are accepted connections).
func outgoing(socks []socket, lo, hi int) []socket {
	listening := map[uint16]bool{}
	for _, s := range socks {
		if s.state == tcpListen {
			listening[s.local.Port()] = true
		}
	}
	var out []socket
	for _, s := range socks {
		p := int(s.local.Port())
		if s.state == tcpListen || p < lo || p > hi || listening[s.local.Port()] || !s.remote.Addr().IsValid() || s.remote.Port() == 0 {
			continue
		}
		out = append(out, s)
	}
	return out
}

// listenRangeCheck flags listeners whose port lies in the ephemeral range
// without being reserved: while such a service restarts, an outgoing
// connection can take its port and the service cannot bind it again.
func listenRangeCheck(h Host) Check {
	const name = "ports.listeners"
	return Check{Name: name, Run: func(context.Context) Result {
		r := Result{Check: name,
			Expected: "no listener inside the ephemeral range unless in net.ipv4.ip_local_reserved_ports",
			Why: "while the service restarts, an outgoing connection may take its port, " +
				"and it then fails to bind with EADDRINUSE"}
		lo, hi, reserved, err := h.portRange()
		if err != nil {
			r.Status, r.Found = Skip, "unknown: "+unreadable(err)
			return r
		}
		socks, err := h.sockets()
		if err != nil {
			r.Status, r.Found = Skip, "unknown: "+err.Error()
			return r
		}
		var bad []int
		for _, s := range socks {
			p := int(s.local.Port())
			if s.state == tcpListen && p >= lo && p <= hi && !reserved(p) && !slices.Contains(bad, p) {
				bad = append(bad, p)
			}
		}
		slices.Sort(bad)
		if len(bad) == 0 {
			r.Status, r.Found = OK, fmt.Sprintf("no listener in %d-%d", lo, hi)
			return r
		}
		ports := make([]string, len(bad))
		for i, p := range bad {
			ports[i] = strconv.Itoa(p)
		}
		r.Status = Warn
		r.Found = fmt.Sprintf("listening on %s inside %d-%d; reserve with net.ipv4.ip_local_reserved_ports = %s",
			strings.Join(ports, ", "), lo, hi, strings.Join(ports, ","))
		return r
	}}
}
