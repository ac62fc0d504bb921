package nginximport

import (
	"cmp"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skjold-dev/skjold/internal/config"
)

// converter carries one conversion's state.
type converter struct {
	file     string
	opts     Options
	warnings []Warning
	// declared are the upstream blocks by lower-cased name (nginx compares
	// them without case), and in file order.
	declared      map[string]*upstreamDef
	declaredOrder []*upstreamDef
	// synthesized are upstreams made for proxy_pass addresses, by address.
	synthesized map[string]*upstreamDef
	// upstreamNames are the Skjold upstream names handed out.
	upstreamNames map[string]bool
	servers       []*serverDef
	accessLog     config.AccessLog
	// confDir is nginx's configuration directory, absolute: relative
	// certificate paths are resolved against it.
	confDir string
	// tlsAddrs are the listener addresses that serve TLS.
	tlsAddrs map[string]bool
}

// now is the time certificates are checked at.
func (c *converter) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// convert parses src and translates it.
func (c *converter) convert(src []byte) (*config.Config, error) {
	r := &reader{dir: c.opts.IncludeDir}
	if r.dir == "" && c.opts.File != "" {
		r.dir = filepath.Dir(c.opts.File)
	}
	if c.opts.File != "" {
		if abs, err := filepath.Abs(c.opts.File); err == nil {
			r.stack = []string{abs}
		}
	}
	// nginx resolves certificate paths like include paths; without a
	// directory, from where it runs.
	dir, err := filepath.Abs(cmp.Or(r.dir, "."))
	if err != nil {
		return nil, fmt.Errorf("resolving nginx's configuration directory: %w", err)
	}
	c.confDir = dir
	top, err := r.parse(c.file, src)
	if err != nil {
		return nil, err
	}
	body := top
	var http *directive
	for _, d := range top {
		if d.name != "http" {
			continue
		}
		if http != nil {
			return nil, c.errorf(d, "directive is duplicate")
		}
		if !d.isBlock || len(d.args) != 0 {
			return nil, c.errorf(d, "expected a block with no arguments")
		}
		http = d
	}
	if http != nil {
		// A whole nginx.conf: the top level is nginx's main context.
		for _, d := range top {
			switch d.name {
			case "http":
			case "include":
				c.includeNotFollowed(d)
			case "server", "upstream", "location":
				return nil, c.notAllowed(d)
			default:
				c.untranslated(d)
			}
		}
		body = http.block
	}
	if err := c.httpContext(body); err != nil {
		return nil, err
	}
	return c.build()
}

// httpContext translates the directives of the http block (or of a snippet
// meant to be included in one).
func (c *converter) httpContext(ds []*directive) error {
	var set settings
	var b blockChecks
	seen := map[string]bool{}
	var servers []*directive
	for _, d := range ds {
		switch d.name {
		case "upstream":
			if err := c.upstream(d); err != nil {
				return err
			}
		case "server":
			servers = append(servers, d)
		case "location", "listen", "server_name", "proxy_pass", "http":
			return c.notAllowed(d)
		case "access_log":
			if err := c.accessLogDirective(d); err != nil {
				return err
			}
		case "allow", "deny", "auth_basic", "auth_request", "ssl":
			if _, err := c.check(d, &set, &b, levelHTTP); err != nil {
				return err
			}
		case "return", "if", "rewrite", "limit_except":
			return c.notAllowed(d)
		default:
			if err := c.common(d, &set, seen, levelHTTP); err != nil {
				return err
			}
		}
	}
	c.finishChecks(&b, &set)
	// Servers come last: nginx merges http-level settings into them
	// wherever in the block those settings were written.
	for _, d := range servers {
		if err := c.server(d, set); err != nil {
			return err
		}
	}
	return nil
}

// accessLogDirective translates an http-level access_log.
func (c *converter) accessLogDirective(d *directive) error {
	if err := c.args(d, 1, -1); err != nil {
		return err
	}
	switch path := d.args[0]; {
	case path == "off":
		off := false
		c.accessLog.Enabled = &off
	case strings.Contains(path, ":") || strings.Contains(path, "$") || !plainText(path):
		c.warn(d, "%s: not translated (Skjold logs to a file, stdout or stderr)", path)
	case c.accessLog.Path != "":
		c.warn(d, "%s: not translated (Skjold writes one access log; keeping %s)", path, c.accessLog.Path)
	default:
		c.accessLog.Path = path
		if len(d.args) > 1 {
			c.note(d, "log format %s not translated: Skjold writes one JSON object per request", d.args[1])
		}
	}
	return nil
}

// build assembles the Skjold configuration from the parsed servers and
// upstreams.
func (c *converter) build() (*config.Config, error) {
	cfg := &config.Config{
		Listeners: map[string]*config.Listener{},
		Upstreams: map[string]*config.Upstream{},
		AccessLog: c.accessLog,
	}
	for _, u := range c.declaredOrder {
		if !u.unusable {
			cfg.Upstreams[u.name] = u.up
		}
	}

	// Resolve proxy_pass targets; drop routes whose upstream is unusable.
	upstreamOf := map[*routeDef]*upstreamDef{}
	for _, srv := range c.servers {
		srv.routes = slices.DeleteFunc(srv.routes, func(r *routeDef) bool {
			u := c.resolve(r, cfg)
			if u.unusable {
				c.drop(r.d, srv, r.prefix, r.prefix, false, fmt.Sprintf("upstream %q has no server Skjold can use", r.host))
				return true
			}
			if why := c.upstreamTLSConflict(r, u); why != "" {
				c.drop(r.d, srv, r.prefix, r.prefix, false, why)
				return true
			}
			upstreamOf[r] = u
			return false
		})
	}

	names, first := c.assignListeners()
	defaults := c.defaultServers()
	if err := c.checkDefaultCertificates(defaults); err != nil {
		return nil, err
	}
	c.dropUnservable()
	c.dropShadowed(upstreamOf)

	used := map[string]bool{} // listener addresses with routes
	for _, srv := range c.servers {
		for _, a := range srv.addrs {
			used[a] = used[a] || len(srv.routes) > 0
		}
	}
	var all []string // emitted listener names
	routes := map[*routeDef]*config.Route{}
	for addr, ok := range used {
		if !ok {
			continue
		}
		name := names[addr]
		all = append(all, name)
		l := &config.Listener{Address: addr}
		c.listenerTimeouts(l, addr, defaults[addr])
		if c.tlsAddrs[addr] {
			c.listenerTLS(l, defaults[addr])
		}
		cfg.Listeners[name] = l
	}
	slices.Sort(all)
	c.translateRedirects(cfg, names, used)
	c.moveAdmin(cfg, first)

	for _, srv := range c.servers {
		if len(srv.routes) == 0 {
			continue
		}
		c.warnDefaultServer(srv, defaults)
		var ls []string
		for _, a := range srv.addrs {
			ls = append(ls, names[a])
		}
		sorted := slices.Clone(ls)
		slices.Sort(sorted)
		if slices.Equal(sorted, all) {
			ls = nil // every listener: the default
		}
		for _, r := range srv.routes {
			rt := c.buildRoute(r, upstreamOf[r], ls)
			routes[r] = rt
			cfg.Routes = append(cfg.Routes, rt)
		}
	}
	c.reportChecks(routes)
	c.reportDropped(cfg, names, routes)
	if len(cfg.Routes) == 0 {
		return nil, fmt.Errorf("%s: %w", c.file, ErrNothingToImport)
	}
	c.settleConnectTimeouts(cfg)
	return cfg, nil
}

// dropUnservable drops the routes of servers left without a listener, and
// reports servers with nothing to import.
func (c *converter) dropUnservable() {
	for _, srv := range c.servers {
		switch {
		case len(srv.routes) == 0:
			if len(srv.addrs) > 0 && srv.redirect == nil { // a redirect is reported by translateRedirects
				c.warn(srv.d, "nothing to import from this server (no location with a usable proxy_pass)")
			}
		case len(srv.addrs) == 0:
			c.warn(srv.d, "no listener Skjold can serve; its %d proxying location(s) are not imported", len(srv.routes))
			srv.routes = nil
			srv.dropped = nil // not served at all: nothing goes elsewhere
		}
	}
}

// dropShadowed drops routes that would match exactly the requests of an
// earlier one on a shared listener, which Skjold rejects: nginx's "/api"
// and "/api/" are one prefix in Skjold, and of two servers with the same
// name on one address nginx uses only the first.
func (c *converter) dropShadowed(upstreamOf map[*routeDef]*upstreamDef) {
	type seen struct {
		r     *routeDef
		addrs []string
	}
	byKey := map[string][]seen{}
	for _, srv := range c.servers {
		hosts := slices.Clone(srv.hosts)
		slices.Sort(hosts)
		srv.routes = slices.DeleteFunc(srv.routes, func(r *routeDef) bool {
			key := strings.Join(hosts, ",") + "\x00" + strings.TrimSuffix(r.prefix, "/")
			for _, s := range byKey[key] {
				if slices.ContainsFunc(s.addrs, func(a string) bool { return slices.Contains(srv.addrs, a) }) {
					sev := Behaviour // the same upstream and path: only settings differ
					if upstreamOf[r] != upstreamOf[s.r] || r.strip != s.r.strip {
						sev = Routing
					}
					c.warnAt(sev, r.d, "%s matches the same requests as the location on line %d in Skjold, which treats %q and %q as one prefix and matches hosts, not servers; not imported, so its requests go to upstream %s",
						r.prefix, s.r.d.line, strings.TrimSuffix(r.prefix, "/"), strings.TrimSuffix(r.prefix, "/")+"/", upstreamOf[s.r].name)
					return true
				}
			}
			byKey[key] = append(byKey[key], seen{r, srv.addrs})
			return false
		})
	}
}

// moveAdmin moves the admin API off its default address when an imported
// listener needs that port.
func (c *converter) moveAdmin(cfg *config.Config, first map[string]*directive) {
	clash := func(port string) *directive {
		for _, l := range cfg.Listeners {
			host, p, err := net.SplitHostPort(l.Address)
			if err == nil && p == port && (host == "" || host == "127.0.0.1" || strings.EqualFold(host, "localhost")) {
				return first[l.Address]
			}
		}
		return nil
	}
	host, port, _ := net.SplitHostPort(config.DefaultAdminListen)
	d := clash(port)
	if d == nil {
		return
	}
	n, _ := strconv.Atoi(port)
	for p := n + 1; p <= 65535; p++ {
		if clash(strconv.Itoa(p)) == nil {
			cfg.Admin.Listen = net.JoinHostPort(host, strconv.Itoa(p))
			c.warn(d, "Skjold's admin API listens on %s by default; moved to %s", config.DefaultAdminListen, cfg.Admin.Listen)
			return
		}
	}
}

// resolve finds or makes the upstream a route's proxy_pass names. As in
// nginx, a name without a port refers to an upstream block if one has that
// name; anything else is an address.
func (c *converter) resolve(r *routeDef, cfg *config.Config) *upstreamDef {
	if !r.hasPort {
		if u, ok := c.declared[strings.ToLower(r.host)]; ok {
			return u
		}
	}
	addr := joinHostPort(r.host, r.port)
	// One upstream per address and protocol: the same address over
	// http:// and https:// (or with other TLS settings) is two upstreams.
	key := addr
	if r.tls != nil {
		key = fmt.Sprintf("https://%s %+v", addr, *r.tls)
	}
	if u, ok := c.synthesized[key]; ok {
		return u
	}
	u := &upstreamDef{name: c.upstreamName(addr), d: r.pass, up: &config.Upstream{}}
	c.fillUpstream(u, []upstreamServer{{addr: addr, weight: 1, maxFails: nginxMaxFails, failTimeout: nginxFailTimeout}}, false)
	c.synthesized[key] = u
	cfg.Upstreams[u.name] = u.up
	return u
}

// assignListeners folds the servers' listen addresses into listener
// addresses and names them. It returns the names by address and each
// address's first listen directive.
func (c *converter) assignListeners() (names map[string]string, first map[string]*directive) {
	wildPorts, v4WildPorts := map[int]bool{}, map[int]bool{}
	for _, srv := range c.servers {
		for _, l := range srv.listens {
			if l.key == "" {
				wildPorts[l.port] = true
				if !l.v6Wildcard {
					v4WildPorts[l.port] = true
				}
			}
		}
	}
	c.foldAddresses(wildPorts, v4WildPorts)
	return c.nameListeners()
}

// foldAddresses sets each server's listener addresses (addrs, addrOf):
// a specific address on a port some server listens on for every
// interface is folded into the wildcard, which Skjold cannot bind beside
// it. It also marks the addresses that serve TLS.
func (c *converter) foldAddresses(wildPorts, v4WildPorts map[int]bool) {
	type sock struct {
		key  string
		port int
	}
	c.tlsAddrs = map[string]bool{}
	spelled := map[sock]string{}
	for _, srv := range c.servers {
		for _, l := range srv.listens {
			wild := ":" + strconv.Itoa(l.port)
			var addr string
			switch {
			case l.key == "":
				addr = wild
				if l.v6Wildcard && !v4WildPorts[l.port] && len(srv.routes) > 0 {
					c.note(l.d, "Skjold's listener %s accepts IPv4 as well as IPv6 connections", addr)
				}
			case wildPorts[l.port]:
				if len(srv.routes) > 0 {
					// An internal-only address becomes reachable on
					// every interface: an access change.
					c.reroute(l.d, "%s shares port %d with a wildcard listen; Skjold cannot bind both, so this server's routes are served on %s, to clients on every interface", joinHostPort(l.host, l.port), l.port, wild)
				}
				addr = wild
			default:
				k := sock{l.key, l.port}
				if spelled[k] == "" {
					spelled[k] = joinHostPort(l.host, l.port)
				}
				addr = spelled[k]
			}
			srv.addrOf = append(srv.addrOf, addr)
			if !slices.Contains(srv.addrs, addr) {
				srv.addrs = append(srv.addrs, addr)
			}
			// As in nginx, one "ssl" makes the socket TLS for every
			// server on it.
			c.tlsAddrs[addr] = c.tlsAddrs[addr] || l.tls
		}
	}
}

// nameListeners names each listener address after its first listen
// (http_80, https_443, http_127_0_0_1_8080). It returns the names by
// address and each address's first listen directive.
func (c *converter) nameListeners() (names map[string]string, first map[string]*directive) {
	names, first = map[string]string{}, map[string]*directive{}
	taken := map[string]bool{}
	for _, srv := range c.servers {
		for i, l := range srv.listens {
			addr := srv.addrOf[i]
			if _, ok := names[addr]; ok {
				continue
			}
			base := "http_"
			if c.tlsAddrs[addr] {
				base = "https_"
			}
			if addr != ":"+strconv.Itoa(l.port) {
				base += safeName(l.host) + "_"
			}
			base += strconv.Itoa(l.port)
			name := base
			for i := 2; taken[name]; i++ {
				name = base + "_" + strconv.Itoa(i)
			}
			taken[name] = true
			names[addr] = name
			first[addr] = l.d
		}
	}
	return names, first
}

// defaultServers finds each listener address's default server: the one
// marked default_server, else the first one listening there.
func (c *converter) defaultServers() map[string]*serverDef {
	defaults := map[string]*serverDef{}
	explicit := map[string]bool{}
	for _, srv := range c.servers {
		for i, l := range srv.listens {
			addr := srv.addrOf[i]
			if l.defaultServer && !explicit[addr] {
				defaults[addr], explicit[addr] = srv, true
			} else if defaults[addr] == nil {
				defaults[addr] = srv
			}
		}
	}
	return defaults
}

// listenerTimeouts takes the client-side timeouts from the listener's
// default server, which is whose settings nginx applies before it knows the
// request's host.
func (c *converter) listenerTimeouts(l *config.Listener, addr string, def *serverDef) {
	if def == nil {
		return
	}
	if v := def.set.keepaliveTimeout; v != nil {
		l.IdleTimeout = config.Duration(*v)
	}
	if v := def.set.headerTimeout; v != nil {
		l.ReadHeaderTimeout = config.Duration(*v)
	}
	for _, srv := range c.servers {
		if srv == def || len(srv.routes) == 0 || !slices.Contains(srv.addrs, addr) {
			continue
		}
		if !sameDuration(srv.set.keepaliveTimeout, def.set.keepaliveTimeout) ||
			!sameDuration(srv.set.headerTimeout, def.set.headerTimeout) {
			c.warn(srv.d, "keepalive_timeout/client_header_timeout differ from the default server's for %s; Skjold sets them per listener and uses the default server's", addr)
		}
	}
}

// warnDefaultServer warns when a server with names is the default for a
// listener: nginx sends it requests for every host no server lists, while
// the imported routes answer only for its names.
func (c *converter) warnDefaultServer(srv *serverDef, defaults map[string]*serverDef) {
	if len(srv.hosts) == 0 {
		if srv.nameDirective != nil && hasRealName(srv.nameDirective) {
			c.warn(srv.nameDirective, "no name Skjold can match; this server's routes answer for any host")
		}
		return
	}
	var on []string
	for _, a := range srv.addrs {
		if defaults[a] == srv {
			on = append(on, a)
		}
	}
	if len(on) > 0 {
		c.warn(srv.nameDirective, "this is the default server for %s, so nginx also sends it requests for hosts no server_name lists; the imported routes answer only for %s (add a route without hosts to keep that)",
			strings.Join(on, ", "), strings.Join(srv.hosts, ", "))
	}
}

// hasRealName reports whether server_name listed anything besides "" and "_".
func hasRealName(d *directive) bool {
	for _, a := range d.args {
		if a != "" && a != "_" {
			return true
		}
	}
	return false
}

// buildRoute writes one route with nginx's effective settings.
func (c *converter) buildRoute(r *routeDef, u *upstreamDef, listeners []string) *config.Route {
	rt := &config.Route{
		Match:       config.Match{PathPrefix: r.prefix, Hosts: slices.Clone(r.srv.hosts)},
		Upstream:    u.name,
		StripPrefix: r.strip,
		Listeners:   listeners,
		Line:        r.d.line,
	}
	read := orDefault(r.set.read, nginxReadTimeout)
	connect := orDefault(r.set.connect, nginxConnectTimeout)
	rt.Timeouts.Response = config.Duration(read)
	rt.Timeouts.Send = config.Duration(orDefault(r.set.send, nginxSendTimeout))
	// Connect is settled per upstream later; kept here meanwhile.
	rt.Timeouts.Connect = config.Duration(connect)

	targets := len(u.up.Targets)
	next := r.set.next
	if next == nil {
		next = &nextUpstream{on: []string{"error", "timeout"}}
	}
	tries := targets // nginx tries each server at most once
	if r.set.tries != nil && *r.set.tries > 0 {
		tries = min(tries, *r.set.tries)
	}
	if next.off {
		tries = 1
	} else {
		rt.Retry.On = slices.Clone(next.on)
		rt.Retry.NonIdempotent = next.nonIdempotent
	}
	if tries > maxTries {
		c.warn(r.d, "nginx would try each of the %d servers of upstream %q; Skjold allows at most %d tries", tries, u.name, maxTries)
		tries = maxTries
	}
	rt.Retry.Tries = max(tries, 1)
	if r.set.nextTimeout != nil {
		rt.Retry.Timeout = config.Duration(*r.set.nextTimeout)
	}
	// nginx has no overall deadline; Skjold's default total would cut a
	// request nginx still waits for, so it is raised to cover every try.
	if worst := time.Duration(rt.Retry.Tries) * (connect + read); worst > config.DefaultTotalTimeout {
		rt.Timeouts.Total = config.Duration(min(worst, maxTime))
	}
	maxBody := config.ByteSize(nginxMaxBodyBytes)
	if r.set.maxBody != nil {
		maxBody = config.ByteSize(*r.set.maxBody) // 0 is "no limit" in both
	}
	rt.MaxBodyBytes = &maxBody
	return rt
}

// settleConnectTimeouts moves the connect timeout to the upstream when all
// its routes agree, as they do unless locations set different ones.
func (c *converter) settleConnectTimeouts(cfg *config.Config) {
	byUpstream := map[string][]*config.Route{}
	for _, rt := range cfg.Routes {
		byUpstream[rt.Upstream] = append(byUpstream[rt.Upstream], rt)
	}
	for name, rts := range byUpstream {
		agree := true
		for _, rt := range rts {
			agree = agree && rt.Timeouts.Connect == rts[0].Timeouts.Connect
		}
		if !agree {
			continue
		}
		cfg.Upstreams[name].ConnectTimeout = rts[0].Timeouts.Connect
		for _, rt := range rts {
			rt.Timeouts.Connect = 0
		}
	}
}

func orDefault(v *time.Duration, def time.Duration) time.Duration {
	if v == nil {
		return def
	}
	return *v
}

func sameDuration(a, b *time.Duration) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// safeName turns an nginx name or an address into a Skjold name: letters,
// digits, "-" and "_".
func safeName(s string) string {
	var b strings.Builder
	under := false
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// plainText reports whether s is valid UTF-8 without control characters,
// which is what can be written to YAML as a plain string.
func plainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
