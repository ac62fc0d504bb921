package nginximport

import (
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
)

// droppedLocation is a location that did not become a route. Its requests
// do not vanish in Skjold: they match whatever route is left, which
// reportDropped looks up once the routing table is complete.
type droppedLocation struct {
	d   *directive
	srv *serverDef
	// match is the location as written ("/logs/", "= /x", "~ \.php$").
	match string
	// path is a request path the location matched, to look up.
	path string
	// anyPath is set for regular expressions, which may match requests
	// under any route of the server.
	anyPath bool
	// why says what nginx did with these requests that Skjold cannot.
	why string
	// implicit marks the "/" entry of a server that has no location for
	// it: nginx answers those requests itself, and only a route of another
	// server catching them is worth a warning.
	implicit bool
}

// drop records a location that does not become a route.
func (c *converter) drop(d *directive, srv *serverDef, match, path string, anyPath bool, why string) {
	srv.dropped = append(srv.dropped, &droppedLocation{d: d, srv: srv, match: match, path: path, anyPath: anyPath, why: why})
}

// locationMatch splits a location's arguments into its modifier ("", "=",
// "~", "~*", "^~", "@") and path.
func (c *converter) locationMatch(d *directive) (mod, path string, err error) {
	if !d.isBlock {
		return "", "", c.errorf(d, "directive has no opening \"{\"")
	}
	switch len(d.args) {
	case 1:
		path = d.args[0]
		switch {
		case strings.HasPrefix(path, "@"):
			return "@", path, nil
		case strings.HasPrefix(path, "~*"):
			return "~*", path[2:], nil
		case strings.HasPrefix(path, "~"):
			return "~", path[1:], nil
		case strings.HasPrefix(path, "="):
			return "=", path[1:], nil
		}
		return "", path, nil
	case 2:
		switch d.args[0] {
		case "=", "~", "~*", "^~":
			return d.args[0], d.args[1], nil
		}
		return "", "", c.errorf(d, "invalid location modifier %q", d.args[0])
	}
	return "", "", c.errorf(d, "invalid number of arguments in \"location\" directive")
}

// location translates a location block (and those nested in it). outer is
// the enclosing location's prefix, "" at server level.
func (c *converter) location(d *directive, srv *serverDef, parent settings, outer string) error {
	mod, path, err := c.locationMatch(d)
	if err != nil {
		return err
	}
	switch mod {
	case "@":
		// Reached only through try_files or error_page; translated where
		// it is used.
		return nil
	case "=":
		c.drop(d, srv, "= "+path, path, false, "exact-match locations are not supported yet")
		return nil
	case "~", "~*":
		c.drop(d, srv, mod+" "+path, regexPrefix(path), !strings.HasPrefix(path, "^/"), "regular-expression locations are not supported yet")
		return nil
	}
	// "^~" only stops nginx from checking regex locations afterwards;
	// Skjold has none, so it is an ordinary prefix.
	if outer != "" && !strings.HasPrefix(path, outer) {
		return c.errorf(d, "location %q is outside location %q", path, outer)
	}
	if !validPathPrefix(path) {
		c.drop(d, srv, path, outer+"/", false, `Skjold needs a plain path prefix (starting with "/"; no spaces, "..", "//", "%", "?" or "#")`)
		return nil
	}
	if srv.prefixes[path] {
		return c.errorf(d, "duplicate location %q", path)
	}
	srv.prefixes[path] = true

	set := parent
	b, err := c.locationBody(d, srv, &set)
	if err != nil {
		return err
	}
	switch {
	case b.answer != nil:
		c.drop(d, srv, path, path, false, "nginx "+b.answer.what)
	case b.pass == nil:
		c.drop(d, srv, path, path, false, "no proxy_pass, so nginx answers these requests itself (files, another protocol, or an error)")
	default:
		if err := c.route(d, b.pass, path, srv, b.passSet, append(set.inheritedChecks(), b.local...)); err != nil {
			return err
		}
	}
	for _, n := range b.nested {
		if err := c.location(n, srv, set, path); err != nil {
			return err
		}
	}
	return nil
}

// locationContent is what a location's block says about where its
// requests go.
type locationContent struct {
	pass *directive
	// passSet are the settings proxying uses: the location's own, or those
	// of the named location try_files hands the request to.
	passSet settings
	nested  []*directive
	blockChecks
}

// locationBody reads a location's directives into set and the returned
// content.
func (c *converter) locationBody(d *directive, srv *serverDef, set *settings) (*locationContent, error) {
	b := &locationContent{}
	seen := map[string]bool{}
	var try *directive
	for _, x := range d.block {
		switch x.name {
		case "location":
			b.nested = append(b.nested, x)
		case "proxy_pass":
			if b.pass != nil {
				return nil, c.errorf(x, "%q directive is duplicate", x.name)
			}
			if err := c.args(x, 1, 1); err != nil {
				return nil, err
			}
			b.pass = x
		case "listen", "server_name", "server", "upstream", "http", "client_header_timeout":
			return nil, c.notAllowed(x)
		case "access_log":
			c.warn(x, "not translated per location (Skjold has one access log, configured at the top level)")
		case "try_files":
			try = x
		default:
			if ok, err := c.check(x, set, &b.blockChecks, levelLocation); ok || err != nil {
				if err != nil {
					return nil, err
				}
				continue
			}
			if err := c.common(x, set, seen, levelLocation); err != nil {
				return nil, err
			}
		}
	}
	c.finishChecks(&b.blockChecks, set)
	b.passSet = *set
	if try != nil {
		if err := c.tryFiles(try, srv, b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// tryFiles translates try_files. With proxy_pass in the same location it
// only changes behaviour (nginx serves existing files first). Ending in
// @name without a proxy_pass of its own, it is the Rails and Django
// pattern: files from disk, everything else proxied by the named location,
// which becomes this location's proxy.
func (c *converter) tryFiles(d *directive, srv *serverDef, b *locationContent) error {
	if err := c.args(d, 2, -1); err != nil {
		return err
	}
	last := d.args[len(d.args)-1]
	named := srv.named[last]
	if b.pass != nil || named == nil {
		c.warn(d, "not translated: nginx serves the files it finds from disk before anything else; Skjold does not serve files")
		return nil
	}
	set := srv.set
	nb, err := c.locationBody(named, srv, &set)
	if err != nil {
		return err
	}
	if nb.pass == nil || nb.answer != nil {
		return nil // the location stays without a proxy and is dropped
	}
	b.pass, b.passSet = nb.pass, set
	b.local = append(b.local, nb.local...)
	c.warn(d, "nginx serves the files it finds under root from disk and hands the rest to %s, which proxies; Skjold does not serve files, so every request here is proxied as %s does", last, last)
	return nil
}

// regexPrefix is the literal path a regular expression anchored with "^/"
// starts with ("^/api/(v1|v2)/" → "/api/"), or "/" when it has none.
func regexPrefix(re string) string {
	if !strings.HasPrefix(re, "^/") {
		return "/"
	}
	p := re[1:]
	if i := strings.IndexAny(p, `\.+*?()[]{}|$^`); i >= 0 {
		p = p[:i]
	}
	if j := strings.LastIndexByte(p, '/'); j >= 0 {
		p = p[:j+1]
	}
	return p
}

// route records a location's proxy_pass as a route, or drops the location
// when Skjold cannot proxy the way proxy_pass asks. checks are what nginx
// tests before proxying; they are reported once the route's upstream is
// known.
func (c *converter) route(loc, pass *directive, prefix string, srv *serverDef, set settings, checks []*check) error {
	url := pass.args[0]
	if strings.Contains(url, "$") {
		c.drop(loc, srv, prefix, prefix, false, "proxy_pass "+url+": variables in proxy_pass are not supported")
		return nil
	}
	scheme, rest, ok := strings.Cut(url, "://")
	defPort := 80
	var tls *config.UpstreamTLS
	switch {
	case ok && strings.EqualFold(scheme, "http"):
	case ok && strings.EqualFold(scheme, "https"):
		t, why, err := c.upstreamTLS(pass, set)
		if err != nil {
			return err
		}
		if why != "" {
			c.drop(loc, srv, prefix, prefix, false, why)
			return nil
		}
		tls, defPort = t, 443
	default:
		return c.errorf(pass, "invalid URL prefix in %q", url)
	}
	hostport, uri := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, uri = rest[:i], rest[i:]
	}
	if strings.HasPrefix(hostport, "unix:") {
		c.drop(loc, srv, prefix, prefix, false, "proxy_pass "+url+": Skjold dials upstreams over TCP only, not unix sockets")
		return nil
	}
	r := &routeDef{d: loc, pass: pass, prefix: prefix, srv: srv, set: set, checks: checks, tls: tls}
	host, port, err := splitHostPort(hostport, defPort)
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
		// The upstream would see another path than nginx sent it, which
		// can be another resource or application behind it.
		c.reroute(pass, "%s: replacing the location prefix %s with %s is not supported; requests are forwarded with their original path, so the upstream sees other paths than nginx sent", url, prefix, uri)
	}
	srv.routes = append(srv.routes, r)
	return nil
}
