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
	// named are the server's named locations (@name), which only
	// try_files and error_page reach.
	named map[string]*directive
	// dropped are the locations that could not become routes; their
	// requests are looked up in the finished routing table.
	dropped []*droppedLocation
	// addrs are the listener addresses after folding, in order; addrOf
	// holds the folded address of each of listens.
	addrs, addrOf []string
	// tls is what the server's TLS listens serve; nil without any.
	tls *serverTLS
	// redirect is a server-level return that sends every request to
	// https:// on the same host and path, which may become the
	// redirect_http_from of a TLS listener.
	redirect *directive
	// redirected is set once redirect became a redirect_http_from: the
	// server's requests are answered as nginx answered them.
	redirected bool
}

// listenDef is one usable listen directive.
type listenDef struct {
	d             *directive
	host          string // as written; "" for a wildcard address
	key           string // the host compared for clashes: "" wildcard, IPs canonical, localhost as 127.0.0.1
	port          int
	v6Wildcard    bool // [::]
	defaultServer bool
	// tls is set by "listen ... ssl" or by "ssl on" in the server.
	tls bool
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
	// tls is set for proxy_pass https://: the upstream's tls section.
	tls *config.UpstreamTLS
	// checks are what nginx tests before proxying that the route lacks.
	checks []*check
}

// server translates a server block; parent holds the http-level settings.
func (c *converter) server(d *directive, parent settings) error {
	if !d.isBlock {
		return c.errorf(d, "directive has no opening \"{\"")
	}
	if len(d.args) != 0 {
		return c.errorf(d, "invalid number of arguments in \"server\" directive")
	}
	srv := &serverDef{d: d, prefixes: map[string]bool{}, named: map[string]*directive{}}
	set := parent
	seen := map[string]bool{}
	var b blockChecks
	var try *directive // server level: for requests no location matches
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
			if len(x.args) == 1 && strings.HasPrefix(x.args[0], "@") {
				srv.named[x.args[0]] = x
			}
			locations = append(locations, x)
		case "server", "upstream", "http", "proxy_pass":
			return c.notAllowed(x)
		case "access_log":
			c.warn(x, "not translated per server (Skjold has one access log, configured at the top level)")
		case "try_files":
			try = x
		default:
			if ok, err := c.check(x, &set, &b, levelServer); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			if err := c.common(x, &set, seen, levelServer); err != nil {
				return err
			}
		}
	}
	if listens == 0 {
		c.note(d, "no listen directive: nginx listens on *:80 (when started as root); imported as :80")
		srv.listens = append(srv.listens, listenDef{d: d, port: 80})
	}
	c.finishChecks(&b, &set)
	srv.set = set
	if err := c.translateTLS(srv); err != nil {
		return err
	}
	c.servers = append(c.servers, srv)
	if b.answer != nil {
		if httpsRedirect(b.answer.d) {
			srv.redirect = b.answer.d
		}
		// The server's rewrite phase answers before any location is chosen.
		c.drop(b.answer.d, srv, "every path", "/", true, "nginx "+b.answer.what+" for this whole server")
		return nil
	}
	for _, chk := range b.local {
		c.reroute(chk.d, "nginx %s for every location of this server; Skjold forwards those requests unchanged", chk.what)
	}
	for _, l := range locations {
		if err := c.location(l, srv, set, ""); err != nil {
			return err
		}
	}
	if try != nil && !srv.prefixes["/"] {
		return c.serverTryFiles(try, srv)
	}
	return nil
}

// serverTryFiles translates a server-level try_files, which nginx applies
// to requests no location matches: ending in a named location that
// proxies, it is a route for "/".
func (c *converter) serverTryFiles(try *directive, srv *serverDef) error {
	b := &locationContent{passSet: srv.set}
	if err := c.tryFiles(try, srv, b); err != nil {
		return err
	}
	if b.pass == nil {
		return nil
	}
	srv.prefixes["/"] = true
	return c.route(try, b.pass, "/", srv, b.passSet, append(srv.set.inheritedChecks(), b.local...))
}

// listen parses a listen directive into srv.listens.
func (c *converter) listen(d *directive, srv *serverDef) error {
	if err := c.args(d, 1, -1); err != nil {
		return err
	}
	addr := d.args[0]
	if strings.HasPrefix(addr, "unix:") {
		c.warn(d, "%s: Skjold listens on TCP only; listener not imported, so clients of this socket are not served", addr)
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
			l.tls = true
		case p == "proxy_protocol":
			c.warn(d, "proxy_protocol: the PROXY protocol is not supported; listener %s not imported", addr)
			skip = true
		case p == "quic":
			c.warn(d, "quic: HTTP/3 is not supported; listener %s not imported", addr)
			skip = true
		case p == "http2":
			c.warn(d, "http2: not translated (Skjold serves HTTP/1.1; clients fall back to it)")
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
			c.reroute(d, "%s: regular-expression names are not supported; name skipped, so requests for the hosts it matched go to the routes of other servers", a)
		case strings.Contains(name, "$"):
			c.reroute(d, "%s: variables are not supported; name skipped, so requests for the hosts it matched go to the routes of other servers", a)
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
			c.reroute(d, "%s: only exact names and leading wildcards (*.example.com) are supported; name skipped, so requests for the hosts it matched go to the routes of other servers", a)
		}
	}
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
