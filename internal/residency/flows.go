package residency

import (
	"maps"
	"slices"

	"github.com/skjold-dev/skjold/internal/config"
)

// dataFlow is one reason an upstream handles a class of data: a route
// that carries it there, a service behind the upstream that handles it,
// or the upstream's own declaration.
type dataFlow struct {
	// Upstream receives the data.
	Upstream string
	// Class of the data.
	Class string
	// Kind of declaration: "route", "service" or "upstream".
	Kind string
	// Name of the route, service or upstream that declares it.
	Name string
	// Path is the key path of the declaration, such as "routes[2]".
	Path string
}

// dataFlows lists every class of data each upstream handles, in config
// order: routes first, then services, then upstreams' own declarations.
// Upstreams that are not defined are left out.
func dataFlows(c *config.Config) []dataFlow {
	var out []dataFlow
	add := func(f dataFlow) {
		if _, ok := c.Upstreams[f.Upstream]; ok && f.Class != "" {
			out = append(out, f)
		}
	}
	for i, rt := range c.Routes {
		for _, class := range uniq(rt.DataClasses) {
			add(dataFlow{Upstream: rt.Upstream, Class: class, Kind: "route", Name: rt.Name, Path: config.IndexPath("routes", i)})
		}
	}
	for _, name := range serviceNames(c) {
		up, path := serviceUpstream(c, name)
		for _, class := range serviceDataClasses(c, name) {
			add(dataFlow{Upstream: up, Class: class, Kind: "service", Name: name, Path: path})
		}
	}
	rs := &c.Residency
	for _, name := range slices.Sorted(maps.Keys(rs.Upstreams)) {
		for _, class := range uniq(rs.Upstreams[name].DataClasses) {
			add(dataFlow{Upstream: name, Class: class, Kind: "upstream", Name: name, Path: config.KeyPath("residency.upstreams", name) + ".data_classes"})
		}
	}
	return out
}

// serviceNames lists the services that declare data classes: those in
// residency.services and those with a data_class in databases.
func serviceNames(c *config.Config) []string {
	names := slices.Sorted(maps.Keys(c.Residency.Services))
	for _, name := range slices.Sorted(maps.Keys(c.Databases.Services)) {
		if s := c.Databases.Services[name]; s != nil && s.DataClass != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// serviceDataClasses returns the classes a service handles: those in
// residency.services and the data_class of its database.
func serviceDataClasses(c *config.Config, name string) []string {
	var classes []string
	if s := c.Residency.Services[name]; s != nil {
		classes = append(classes, s.DataClasses...)
	}
	if d := c.Databases.Services[name]; d != nil && d.DataClass != "" {
		classes = append(classes, d.DataClass)
	}
	return uniq(classes)
}

// serviceUpstream returns the upstream a service runs behind, from
// residency.services or else from the deploy services section, and the
// key path that says so; "" when neither does.
func serviceUpstream(c *config.Config, name string) (upstream, path string) {
	if s := c.Residency.Services[name]; s != nil && s.Upstream != "" {
		return s.Upstream, config.KeyPath("residency.services", name) + ".upstream"
	}
	if s := c.Services[name]; s != nil && s.Upstream != "" {
		return s.Upstream, config.KeyPath("services", name) + ".upstream"
	}
	return "", ""
}

// uniq returns the distinct non-empty strings of s, in order.
func uniq(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
