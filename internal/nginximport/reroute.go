package nginximport

import (
	"slices"
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/route"
)

// reportChecks reports, for each imported route, every check nginx made
// before proxying that the route does not: requests it refused or
// challenged now reach the upstream.
func (c *converter) reportChecks(routes map[*routeDef]*config.Route) {
	for _, srv := range c.servers {
		for _, r := range srv.routes {
			rt := routes[r]
			if rt == nil {
				continue
			}
			for _, chk := range r.checks {
				c.reroute(chk.d, "nginx %s; Skjold cannot yet, so requests for %s reach %s without it", chk.what, r.prefix, describeRoute(rt))
			}
		}
	}
}

// reportDropped says where the requests of each location that did not
// become a route go now, by looking them up in the imported routing table
// as the gateway will. Requests that another route catches are a Routing
// warning; those no route matches get Skjold's 404.
func (c *converter) reportDropped(cfg *config.Config, names map[string]string, routes map[*routeDef]*config.Route) {
	tables := map[string]*route.Table[*config.Route]{}
	table := func(listener string) *route.Table[*config.Route] {
		if t, ok := tables[listener]; ok {
			return t
		}
		var es []route.Entry[*config.Route]
		for _, rt := range cfg.Routes {
			if len(rt.Listeners) == 0 || slices.Contains(rt.Listeners, listener) {
				es = append(es, route.Entry[*config.Route]{Hosts: rt.Match.Hosts, Prefix: rt.Match.PathPrefix, Methods: rt.Match.Methods, Value: rt})
			}
		}
		t, err := route.New(es)
		if err != nil {
			t = nil // every imported prefix starts with "/"; nothing to look up otherwise
		}
		tables[listener] = t
		return t
	}
	for _, srv := range c.servers {
		if len(srv.addrs) == 0 || srv.redirected {
			continue // not served at all, or redirected as in nginx: nothing is re-routed
		}
		c.addImplicitRoot(srv)
		for _, dl := range srv.dropped {
			var found []*config.Route
			add := func(rt *config.Route) {
				if !slices.Contains(found, rt) {
					found = append(found, rt)
				}
			}
			hosts := srv.hosts
			if len(hosts) == 0 {
				hosts = []string{""}
			}
			for _, addr := range srv.addrs {
				t := table(names[addr])
				if t == nil {
					continue
				}
				for _, h := range hosts {
					if m, ok := t.Lookup([]byte(h), []byte(dl.path), []byte("GET")); ok {
						add(m.Value)
					}
				}
			}
			if dl.anyPath {
				for _, r := range srv.routes {
					if rt := routes[r]; rt != nil {
						add(rt)
					}
				}
			}
			c.reportDrop(dl, found)
		}
	}
}

// reportDrop writes the warning for one dropped location.
func (c *converter) reportDrop(dl *droppedLocation, found []*config.Route) {
	what := "requests for " + dl.match
	if dl.anyPath && dl.match != "every path" {
		what = "requests matching " + dl.match
	}
	if dl.implicit {
		if len(found) > 0 {
			c.reroute(dl.d, "this server has no location for /, so nginx answers requests outside its locations itself; in Skjold they will match %s", describeRoutes(found))
		}
		return
	}
	if len(found) == 0 {
		c.warn(dl.d, "%s: %s; not imported, and no imported route matches these requests, so Skjold answers them 404", dl.match, dl.why)
		return
	}
	c.reroute(dl.d, "%s: %s; not imported, so %s will match %s", dl.match, dl.why, what, describeRoutes(found))
}

// addImplicitRoot records the requests a server answers itself because no
// location covers them, unless a location for "/" already does.
func (c *converter) addImplicitRoot(srv *serverDef) {
	for _, r := range srv.routes {
		if r.prefix == "/" {
			return
		}
	}
	for _, dl := range srv.dropped {
		if dl.path == "/" && !dl.anyPath {
			return
		}
	}
	srv.dropped = append(srv.dropped, &droppedLocation{d: srv.d, srv: srv, match: "/", path: "/", implicit: true})
}

// describeRoutes names routes as "route "a.com/api/" → upstream api",
// joined with "or".
func describeRoutes(rts []*config.Route) string {
	parts := make([]string, len(rts))
	for i, rt := range rts {
		parts[i] = describeRoute(rt)
	}
	return strings.Join(parts, " or ")
}

// describeRoute names a route the way config.Parse will name it (hosts,
// then path prefix) and says where it goes.
func describeRoute(rt *config.Route) string {
	return `route "` + strings.Join(rt.Match.Hosts, ",") + rt.Match.PathPrefix + `" → upstream ` + rt.Upstream
}
