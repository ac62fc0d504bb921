package nginximport

import (
	"net/netip"
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
)

// serverDef is one server block on its way to becoming routes.
type serverDef struct {
	d       *directive
	listens []listenDef
	// skippedListens counts listen directives Skjold cannot serve (TLS,
	// PROXY protocol, QUIC, unix sockets).
	skippedListens int
	hosts          []string
	// nameDirective is the first server_name line, for warnings.
	nameDirective *directive
	set           settings
	routes        []*routeDef
	prefixes      map[string]bool
	// addrs are the listener addresses after folding, in order; addrOf
	// holds the folded address of each of listens.
	addrs, addrOf []string
}

// listenDef is one usable listen directive.
type listenDef struct {
	d             *directive
	host          string // as written; "" for a wildcard address
	key           string // the host compared for clashes: "" wildcard, IPs canonical, localhost as 127.0.0.1
	port          int
	v6Wildcard    bool // [::]
	defaultServer bool
}

// routeDef is one proxying location.
type routeDef struct {
	d      *directive // the location
	pass   *directive // its proxy_pass
	prefix string
	srv    *serverDef
	set    settings
	// host and port are proxy_pass's address; hasPort is false when it
	// gave none, which is how it names an upstream block.
	host    string
	port    int
	hasPort bool
	strip   bool
}

// server translates a server block; parent holds the http-level settings.
func (c *converter) server(d *directive, parent settings) error {
	if !d.isBlock {
		return c.errorf(d, "directive has no opening \"{\"")
	}
	if len(d.args) != 0 {
		return c.errorf(d, "invalid number of arguments in \"server\" directive")
	}
	srv := &serverDef{d: d, prefixes: map[string]bool{}}
	set := parent
	seen := map[string]bool{}
	var locations []*directive
	listens := 0
	for _, x := range d.block {
		switch x.name {
		case "listen":
			listens++
			if err := c.listen(x, srv); err != nil {
				return err
			}
		case "server_name":
			if err := c.serverName(x, srv); err != nil {
				return err
			}
		case "location":
			locations = append(locations, x)
		case "server", "upstream", "http", "proxy_pass":
			return c.notAllowed(x)
		case "access_log":
			c.warn(x, "not translated per server (Skjold has one access log, configured at the top level)")
		default:
			if err := c.common(x, &set, seen, levelServer); err != nil {
				return err
			}
		}
	}
	if listens == 0 {
		c.note(d, "no listen directive: nginx listens on *:80 (when started as root); imported as :80")
		srv.listens = append(srv.listens, listenDef{d: d, port: 80})
	}
	srv.set = set
	for _, l := range locations {
		if err := c.location(l, srv, set, ""); err != nil {
			return err
		}
	}
	c.servers = append(c.servers, srv)
	return nil
}

// listen parses a listen directive into srv.listens.
func (c *converter) listen(d *directive, srv *serverDef) error {
	if err := c.args(d, 1, -1); err != nil {
		return err
	}
	addr := d.args[0]
	if strings.HasPrefix(addr, "unix:") {
		c.warn(d, "%s: unix sockets are not supported; listener not imported", addr)
		srv.skippedListens++
		return nil
	}
	var l listenDef
	l.d = d
	if p, err := parseCount(addr); err == nil {
		if p < 1 || p > 65535 {
			return c.errorf(d, "invalid port %q", addr)
		}
		l.port = int(p)
	} else {
		h := addr
		if strings.HasPrefix(h, "*:") {
			h = h[1:]
		}
		host, port, err := splitHostPort(h, 80)
		if strings.HasPrefix(h, ":") {
			_, port, err = splitHostPort("0.0.0.0"+h, 80)
			host = ""
		}
		if err != nil {
			return c.errorf(d, "%v", err)
		}
		key := strings.ToLower(host)
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			key = ip.String()
			if ip.IsUnspecified() {
				l.v6Wildcard = ip.Is6()
				key = ""
			}
		} else if key == "localhost" {
			key = "127.0.0.1"
		}
		if key == "" {
			host = ""
		}
		l.host, l.key, l.port = host, key, port
	}
	skip := false
	for _, p := range d.args[1:] {
		switch {
		case p == "default_server" || p == "default":
			l.defaultServer = true
		case p == "ssl":
			c.warn(d, "ssl: TLS is not supported; listener %s not imported (terminate TLS in front of Skjold)", addr)
			skip = true
		case p == "proxy_protocol":
			c.warn(d, "proxy_protocol: the PROXY protocol is not supported; listener %s not imported", addr)
			skip = true
		case p == "quic":
			c.warn(d, "quic: HTTP/3 is not supported; listener %s not imported", addr)
			skip = true
		case p == "http2":
			c.warn(d, "http2: not translated (Skjold serves HTTP/1.1)")
		default:
			c.warn(d, "parameter %q not translated", p)
		}
	}
	if skip {
		srv.skippedListens++
		return nil
	}
	srv.listens = append(srv.listens, l)
	return nil
}

// serverName turns server_name into route hosts.
func (c *converter) serverName(d *directive, srv *serverDef) error {
	if err := c.args(d, 1, -1); err != nil {
		return err
	}
	if srv.nameDirective == nil {
		srv.nameDirective = d
	}
	add := func(h string) {
		for _, have := range srv.hosts {
			if have == h {
				return
			}
		}
		srv.hosts = append(srv.hosts, h)
	}
	for _, a := range d.args {
		name := strings.ToLower(a)
		switch {
		case name == "" || name == "_":
			// No name: the server answers for any host it is chosen for.
		case strings.HasPrefix(name, "~"):
			c.warn(d, "%s: regular-expression names are not supported; name skipped", a)
		case strings.Contains(name, "$"):
			c.warn(d, "%s: variables are not supported; name skipped", a)
		case strings.HasPrefix(name, ".") && config.ValidHostName(name[1:]):
			// ".example.com" is nginx shorthand for the name and all
			// its subdomains.
			add(name[1:])
			add("*" + name)
		case strings.HasPrefix(name, "*.") && config.ValidHostName(name[2:]):
			add(name)
		case config.ValidHostName(name):
			add(name)
		default:
			c.warn(d, "%s: only exact names and leading wildcards (*.example.com) are supported; name skipped", a)
		}
	}
	return nil
}

// location translates a location block (and those nested in it). outer is
// the enclosing location's prefix, "" at server level.
func (c *converter) location(d *directive, srv *serverDef, parent settings, outer string) error {
	if !d.isBlock {
		return c.errorf(d, "directive has no opening \"{\"")
	}
	var mod, path string
	switch len(d.args) {
	case 1:
		path = d.args[0]
		switch {
		case strings.HasPrefix(path, "@"):
			mod = "@"
		case strings.HasPrefix(path, "~*"):
			mod, path = "~*", path[2:]
		case strings.HasPrefix(path, "~"):
			mod, path = "~", path[1:]
		case strings.HasPrefix(path, "="):
			mod, path = "=", path[1:]
		}
	case 2:
		mod, path = d.args[0], d.args[1]
		switch mod {
		case "=", "~", "~*", "^~":
		default:
			return c.errorf(d, "invalid location modifier %q", mod)
		}
	default:
		return c.errorf(d, "invalid number of arguments in \"location\" directive")
	}
	switch mod {
	case "=":
		c.warn(d, "= %s: exact-match locations are not supported; not imported", path)
		return nil
	case "~", "~*":
		c.warn(d, "%s %s: regular-expression locations are not supported; not imported", mod, path)
		return nil
	case "@":
		c.warn(d, "%s: named locations are not supported; not imported", path)
		return nil
	}
	// "^~" only stops nginx from checking regex locations afterwards;
	// Skjold has none, so it is an ordinary prefix.
	if outer != "" && !strings.HasPrefix(path, outer) {
		return c.errorf(d, "location %q is outside location %q", path, outer)
	}
	if !validPathPrefix(path) {
		c.warn(d, "%s: Skjold needs a plain path prefix (starting with \"/\"; no spaces, \"..\", \"//\", \"%%\", \"?\" or \"#\"); not imported", path)
		return nil
	}
	if srv.prefixes[path] {
		return c.errorf(d, "duplicate location %q", path)
	}
	srv.prefixes[path] = true

	set := parent
	seen := map[string]bool{}
	var pass *directive
	var nested []*directive
	for _, x := range d.block {
		switch x.name {
		case "location":
			nested = append(nested, x)
		case "proxy_pass":
			if pass != nil {
				return c.errorf(x, "%q directive is duplicate", x.name)
			}
			if err := c.args(x, 1, 1); err != nil {
				return err
			}
			pass = x
		case "listen", "server_name", "server", "upstream", "http", "client_header_timeout":
			return c.notAllowed(x)
		case "access_log":
			c.warn(x, "not translated per location (Skjold has one access log, configured at the top level)")
		default:
			if err := c.common(x, &set, seen, levelLocation); err != nil {
				return err
			}
		}
	}
	if pass == nil {
		c.warn(d, "%s: no proxy_pass, so nginx answers these requests itself; not imported", path)
	} else if err := c.route(d, pass, path, srv, set); err != nil {
		return err
	}
	for _, n := range nested {
		if err := c.location(n, srv, set, path); err != nil {
			return err
		}
	}
	return nil
}

// route records a location's proxy_pass as a route.
func (c *converter) route(loc, pass *directive, prefix string, srv *serverDef, set settings) error {
	url := pass.args[0]
	if strings.Contains(url, "$") {
		c.warn(pass, "%s: variables in proxy_pass are not supported; location %s not imported", url, prefix)
		return nil
	}
	scheme, rest, ok := strings.Cut(url, "://")
	switch {
	case ok && strings.EqualFold(scheme, "http"):
	case ok && strings.EqualFold(scheme, "https"):
		c.warn(pass, "%s: TLS to upstreams is not supported; location %s not imported", url, prefix)
		return nil
	default:
		return c.errorf(pass, "invalid URL prefix in %q", url)
	}
	hostport, uri := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, uri = rest[:i], rest[i:]
	}
	if strings.HasPrefix(hostport, "unix:") {
		c.warn(pass, "%s: unix sockets are not supported; location %s not imported", url, prefix)
		return nil
	}
	r := &routeDef{d: loc, pass: pass, prefix: prefix, srv: srv, set: set}
	host, port, err := splitHostPort(hostport, 80)
	if err != nil {
		return c.errorf(pass, "%v", err)
	}
	r.host, r.port = host, port
	if strings.HasPrefix(hostport, "[") {
		r.hasPort = strings.Contains(hostport, "]:")
	} else {
		r.hasPort = strings.Contains(hostport, ":")
	}
	switch uri {
	case "", prefix:
		// No URI, or the location's own prefix: the path is forwarded as is.
	case "/":
		// nginx replaces the matched prefix with "/".
		r.strip = prefix != "/"
	default:
		c.warn(pass, "%s: replacing the location prefix %s with %s is not supported; requests are forwarded with their original path", url, prefix, uri)
	}
	srv.routes = append(srv.routes, r)
	return nil
}

// validPathPrefix reports whether p can be a Skjold path prefix: a plain,
// normalised path that the router compares segment by segment.
func validPathPrefix(p string) bool {
	if !strings.HasPrefix(p, "/") || !plainText(p) {
		return false
	}
	for _, bad := range []string{"..", "//", "%", "?", "#"} {
		if strings.Contains(p, bad) {
			return false
		}
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
