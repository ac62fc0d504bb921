package config

import (
	"fmt"
	"slices"
)

// DataFlow is one reason an upstream handles a class of data: a route
// that carries it there, a service behind the upstream that handles it,
// or the upstream's own declaration.
type DataFlow struct {
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

// By names the declaration for messages: `route "payments"`.
func (f DataFlow) By() string { return fmt.Sprintf("%s %q", f.Kind, f.Name) }

// DataFlows lists every class of data each upstream handles, in config
// order: routes first, then services, then upstreams' own declarations.
// Upstreams that are not defined are left out.
func (c *Config) DataFlows() []DataFlow {
	var out []DataFlow
	add := func(f DataFlow) {
		if _, ok := c.Upstreams[f.Upstream]; ok && f.Class != "" {
			out = append(out, f)
		}
	}
	for i, rt := range c.Routes {
		for _, class := range uniq(rt.DataClasses) {
			add(DataFlow{Upstream: rt.Upstream, Class: class, Kind: "route", Name: rt.Name, Path: indexPath("routes", i)})
		}
	}
	for _, name := range c.residencyServiceNames() {
		up, path := c.ServiceUpstream(name)
		for _, class := range c.ServiceDataClasses(name) {
			add(DataFlow{Upstream: up, Class: class, Kind: "service", Name: name, Path: path})
		}
	}
	rs := &c.Residency
	for _, name := range sortedKeys(rs.Upstreams) {
		for _, class := range uniq(rs.Upstreams[name].DataClasses) {
			add(DataFlow{Upstream: name, Class: class, Kind: "upstream", Name: name, Path: keyPath("residency.upstreams", name) + ".data_classes"})
		}
	}
	return out
}

// residencyServiceNames lists the services that declare data classes:
// those in residency.services and those with a data_class in databases.
func (c *Config) residencyServiceNames() []string {
	names := sortedKeys(c.Residency.Services)
	for _, name := range sortedKeys(c.Databases.Services) {
		if s := c.Databases.Services[name]; s != nil && s.DataClass != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// ServiceDataClasses returns the classes a service handles: those in
// residency.services and the data_class of its database.
func (c *Config) ServiceDataClasses(name string) []string {
	var classes []string
	if s := c.Residency.Services[name]; s != nil {
		classes = append(classes, s.DataClasses...)
	}
	if d := c.Databases.Services[name]; d != nil && d.DataClass != "" {
		classes = append(classes, d.DataClass)
	}
	return uniq(classes)
}

// ServiceUpstream returns the upstream a service runs behind, from
// residency.services or else from the deploy services section, and the
// key path that says so; "" when neither does.
func (c *Config) ServiceUpstream(name string) (upstream, path string) {
	if s := c.Residency.Services[name]; s != nil && s.Upstream != "" {
		return s.Upstream, keyPath("residency.services", name) + ".upstream"
	}
	if s := c.Services[name]; s != nil && s.Upstream != "" {
		return s.Upstream, keyPath("services", name) + ".upstream"
	}
	return "", ""
}
