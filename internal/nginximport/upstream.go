package nginximport

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// nginx's per-server defaults in an upstream block.
const (
	nginxMaxFails    = 1
	nginxFailTimeout = 10 * time.Second
	// maxWeight is the largest weight Skjold accepts.
	maxWeight = 1000
	// maxTries is the most tries per request Skjold accepts.
	maxTries = 10
)

// upstreamDef is an upstream being built: declared by an upstream block or
// synthesized from a proxy_pass address.
type upstreamDef struct {
	name string
	d    *directive // the upstream block, or the first proxy_pass naming the address
	up   *config.Upstream
	// unusable is set when no server in the block can be imported; routes to
	// it are dropped.
	unusable bool
	// block is set for an upstream block (not a proxy_pass address).
	block bool
	// tlsFrom is the first route to use the upstream, which decided
	// whether it speaks TLS (up.TLS).
	tlsFrom *routeDef
}

// upstreamServer is one parsed "server" line of an upstream block.
type upstreamServer struct {
	addr        string
	weight      int
	maxFails    int
	failTimeout time.Duration
	maxConns    int
	backup      bool
}

// upstream translates an upstream block.
func (c *converter) upstream(d *directive) error {
	if !d.isBlock {
		return c.errorf(d, "directive has no opening \"{\"")
	}
	if len(d.args) != 1 {
		return c.errorf(d, "invalid number of arguments in \"upstream\" directive")
	}
	name := d.args[0]
	if _, dup := c.declared[strings.ToLower(name)]; dup {
		return c.errorf(d, "duplicate upstream %q", name)
	}
	if !config.ValidHostName(name) {
		return c.errorf(d, "invalid upstream name %q", name)
	}
	def := &upstreamDef{name: c.upstreamName(name), d: d, up: &config.Upstream{}, block: true}
	if def.name != name {
		c.note(d, "upstream %q is named %q in Skjold, whose names use only letters, digits, \"-\" and \"_\"", name, def.name)
	}
	c.declared[strings.ToLower(name)] = def
	c.declaredOrder = append(c.declaredOrder, def)

	var servers []upstreamServer
	explicitHealth, skippedPrimary := false, false
	seen := map[string]bool{}
	for _, x := range d.block {
		if x.name != "server" && x.name != "zone" {
			if seen[x.name] {
				return c.errorf(x, "%q directive is duplicate", x.name)
			}
			seen[x.name] = true
		}
		switch x.name {
		case "server":
			s, ok, explicit, err := c.upstreamServer(x)
			if err != nil {
				return err
			}
			explicitHealth = explicitHealth || explicit
			if ok {
				servers = append(servers, s)
			} else if !s.backup {
				skippedPrimary = true
			}
		case "keepalive":
			n, err := c.countArg(x, 1, 1<<20)
			if err != nil {
				return err
			}
			def.up.Keepalive.Idle = &n
		case "keepalive_timeout":
			if err := c.args(x, 1, 1); err != nil {
				return err
			}
			v, err := parseTime(x.args[0])
			if err != nil {
				return c.errorf(x, "%v", err)
			}
			if v == 0 {
				c.warn(x, "0 not translated; Skjold closes idle upstream connections after its default %s", config.DefaultKeepaliveIdleTimeout)
			}
			def.up.Keepalive.IdleTimeout = config.Duration(v)
		case "keepalive_requests":
			n, err := c.countArg(x, 0, 1<<30)
			if err != nil {
				return err
			}
			def.up.Keepalive.MaxRequests = n
		case "least_conn":
			if err := c.args(x, 0, 0); err != nil {
				return err
			}
			def.up.Balance = config.LeastRequest
		case "random":
			if err := c.args(x, 0, 2); err != nil {
				return err
			}
			// "random two" picks the less loaded of two random servers:
			// power of two choices, which is what least_request does.
			if len(x.args) >= 1 && x.args[0] == "two" && (len(x.args) == 1 || x.args[1] == "least_conn") {
				def.up.Balance = config.LeastRequest
			} else {
				c.warn(x, "not translated (Skjold balances round_robin or least_request; using round_robin)")
			}
		case "zone":
			c.note(x, "not needed: Skjold shares upstream state across all connections")
		case "ip_hash", "hash", "sticky":
			c.warn(x, "not translated (Skjold has no session affinity; using round_robin)")
		default:
			c.untranslated(x)
		}
	}
	if len(servers) == 0 {
		c.warn(d, "upstream %q has no server Skjold can use; locations proxying to it are not imported", name)
		def.unusable = true
		return nil
	}
	if !slices.ContainsFunc(servers, func(s upstreamServer) bool { return !s.backup }) {
		if !skippedPrimary {
			return c.errorf(d, "every server in upstream %q is a backup; nginx needs at least one that is not", name)
		}
		// nginx sends everything to the backups while the primaries are
		// down or unusable, so in Skjold they are the primaries.
		c.warn(d, "no primary server is left after skipping the ones above; the backup servers take all traffic, as in nginx")
		for i := range servers {
			servers[i].backup = false
		}
	}
	c.fillUpstream(def, mergeDuplicates(c, d, servers), explicitHealth)
	return nil
}

// mergeDuplicates folds servers listed more than once into one target with
// their weights added, which is how nginx balances them and what Skjold
// asks for instead of repeats.
func mergeDuplicates(c *converter, d *directive, servers []upstreamServer) []upstreamServer {
	var out []upstreamServer
	for _, s := range servers {
		i := slices.IndexFunc(out, func(o upstreamServer) bool { return o.addr == s.addr })
		if i < 0 {
			out = append(out, s)
			continue
		}
		c.warn(d, "server %s is listed more than once; merged into one target with the weights added", s.addr)
		o := &out[i]
		o.weight = min(o.weight+s.weight, maxWeight)
		o.backup = o.backup && s.backup
		if s.maxFails > 0 && (o.maxFails == 0 || s.maxFails < o.maxFails) {
			o.maxFails = s.maxFails
		}
		o.failTimeout = max(o.failTimeout, s.failTimeout)
		if s.maxConns > 0 && (o.maxConns == 0 || s.maxConns < o.maxConns) {
			o.maxConns = s.maxConns
		}
	}
	return out
}

// upstreamName picks the Skjold name for an nginx upstream name or address,
// unique among the upstreams named so far.
func (c *converter) upstreamName(s string) string {
	base := safeName(s)
	if base == "" {
		base = "upstream"
	}
	name := base
	for i := 2; c.upstreamNames[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	c.upstreamNames[name] = true
	return name
}

// fillUpstream sets targets and the per-upstream settings that nginx keeps
// per server, choosing the strictest when the servers disagree.
func (c *converter) fillUpstream(def *upstreamDef, servers []upstreamServer, explicitHealth bool) {
	up := def.up
	first := servers[0]
	maxFails, failTimeout, maxConns := first.maxFails, first.failTimeout, first.maxConns
	healthDiffers, connsDiffer := false, false
	for _, s := range servers {
		up.Targets = append(up.Targets, &config.Target{Address: s.addr, Weight: s.weight, Backup: s.backup})
		if s.maxFails != first.maxFails || s.failTimeout != first.failTimeout {
			healthDiffers = true
		}
		if s.maxConns != first.maxConns {
			connsDiffer = true
		}
		// Strictest: the fewest failures (0 disables, so it is the
		// loosest), the longest window, the lowest connection cap.
		if s.maxFails > 0 && (maxFails == 0 || s.maxFails < maxFails) {
			maxFails = s.maxFails
		}
		failTimeout = max(failTimeout, s.failTimeout)
		if s.maxConns > 0 && (maxConns == 0 || s.maxConns < maxConns) {
			maxConns = s.maxConns
		}
	}
	for _, t := range up.Targets {
		if t.Weight == 1 {
			t.Weight = 0 // the default; left out of the YAML
		}
	}
	if healthDiffers {
		c.warn(def.d, "servers differ in max_fails/fail_timeout; Skjold applies one setting per upstream, using the strictest: max_fails=%d fail_timeout=%s", maxFails, failTimeout)
	}
	if connsDiffer {
		c.warn(def.d, "servers differ in max_conns; Skjold applies one cap per upstream, using the strictest: %d per target", maxConns)
	}
	if len(servers) == 1 && !explicitHealth {
		// nginx never marks the only server of a group unavailable;
		// Skjold's passive health would, so it is turned off to match.
		maxFails = 0
	}
	up.PassiveHealth.MaxFails = &maxFails
	if maxFails > 0 {
		up.PassiveHealth.FailTimeout = config.Duration(failTimeout)
	}
	up.MaxConcurrent = maxConns
}

// upstreamServer parses "server ADDR [params]" in an upstream block. ok is
// false when the server is skipped (down, or a unix socket); explicit
// reports whether max_fails or fail_timeout was given.
func (c *converter) upstreamServer(d *directive) (s upstreamServer, ok, explicit bool, err error) {
	if err := c.args(d, 1, -1); err != nil {
		return s, false, false, err
	}
	s = upstreamServer{weight: 1, maxFails: nginxMaxFails, failTimeout: nginxFailTimeout}
	if strings.HasPrefix(d.args[0], "unix:") {
		c.warn(d, "%s: Skjold dials upstreams over TCP only, not unix sockets; server not imported", d.args[0])
		return s, false, false, nil
	}
	host, port, err := splitHostPort(d.args[0], 80)
	if err != nil {
		return s, false, false, c.errorf(d, "%v", err)
	}
	s.addr = joinHostPort(host, port)
	ok = true
	for _, p := range d.args[1:] {
		key, val, hasVal := strings.Cut(p, "=")
		switch {
		case key == "weight" && hasVal:
			n, err := parseCount(val)
			if err != nil || n == 0 {
				return s, false, false, c.errorf(d, "invalid parameter %q", p)
			}
			if n > maxWeight {
				c.warn(d, "weight=%d is above Skjold's maximum; using %d", n, maxWeight)
				n = maxWeight
			}
			s.weight = int(n)
		case key == "max_fails" && hasVal:
			n, err := parseCount(val)
			if err != nil || n > 1<<20 {
				return s, false, false, c.errorf(d, "invalid parameter %q", p)
			}
			s.maxFails, explicit = int(n), true
		case key == "fail_timeout" && hasVal:
			v, err := parseTime(val)
			if err != nil {
				return s, false, false, c.errorf(d, "invalid parameter %q: %v", p, err)
			}
			if v == 0 {
				c.warn(d, "fail_timeout=0 not translated; Skjold uses its default %s", config.DefaultFailTimeout)
				v = nginxFailTimeout
			}
			s.failTimeout, explicit = v, true
		case key == "max_conns" && hasVal:
			n, err := parseCount(val)
			if err != nil || n > 1<<20 {
				return s, false, false, c.errorf(d, "invalid parameter %q", p)
			}
			s.maxConns = int(n)
		case p == "backup":
			s.backup = true
		case p == "down":
			c.note(d, "%s is marked down; server not imported", s.addr)
			ok = false
		default:
			c.warn(d, "parameter %q not translated", p)
		}
	}
	return s, ok, explicit, nil
}

// countArg parses a directive's single integer argument in [lo, hi].
func (c *converter) countArg(d *directive, lo, hi int64) (int, error) {
	if err := c.args(d, 1, 1); err != nil {
		return 0, err
	}
	n, err := parseCount(d.args[0])
	if err != nil || n < lo || n > hi {
		return 0, c.errorf(d, "invalid value %q", d.args[0])
	}
	return int(n), nil
}

// splitHostPort parses "host", "host:port", "[v6]" or "[v6]:port", using
// defPort when no port is given. The host must be an IP address or a DNS
// name, as Skjold requires of every address.
func splitHostPort(s string, defPort int) (host string, port int, err error) {
	invalid := fmt.Errorf("invalid address %q: expected host:port with an IP address or a host name", s)
	rest := ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, invalid
		}
		host, rest = s[1:end], s[end+1:]
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", 0, invalid
		}
	} else {
		host = s
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, rest = s[:i], s[i:]
		}
		if !config.ValidHostName(host) {
			return "", 0, invalid
		}
	}
	if rest == "" {
		return host, defPort, nil
	}
	if rest[0] != ':' {
		return "", 0, invalid
	}
	p, err := parseCount(rest[1:])
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("invalid port in %q: expected 1..65535", s)
	}
	return host, int(p), nil
}

// joinHostPort formats host and port, bracketing IPv6 addresses.
func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
