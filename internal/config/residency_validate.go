package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/skjold-dev/skjold/internal/residency/geo"
)

// residency checks the residency section, then refuses routes, upstreams
// and services that send a class of data to an upstream whose declared
// location breaks the class's policy (issue 8): such a config must not be
// served, and hot reload must not accept it either.
func (v validator) residency() {
	rs := &v.c.Residency
	t := rs.Table()
	v.residencyAreas(t)
	v.residencyProviders(t)
	for _, class := range sortedKeys(rs.Policy) {
		p := keyPath("residency.policy", class)
		if strings.TrimSpace(class) == "" {
			v.problemf(p, "a data class needs a name")
		}
		v.residencyRule(p, rs.Policy[class], t)
	}
	clusters := map[string]string{}
	for _, name := range sortedKeys(rs.Stores) {
		p := keyPath("residency.stores", name)
		s := rs.Stores[name]
		v.residencyStore(p, name, s, t)
		if s.Cluster == "" {
			continue
		}
		if _, ok := v.c.Databases.Clusters[s.Cluster]; !ok {
			v.problemf(p+".cluster", "cluster %q is not defined in databases.clusters; %s", s.Cluster, defined("clusters", s.Cluster, sortedKeys(v.c.Databases.Clusters)))
		} else if prev, dup := clusters[s.Cluster]; dup {
			v.problemf(p+".cluster", "cluster %q is already store %s (line %d); declare each cluster once", s.Cluster, prev, v.r.lineOf(keyPath("residency.stores", prev)))
		} else {
			clusters[s.Cluster] = name
		}
	}
	for _, name := range sortedKeys(rs.Services) {
		p := keyPath("residency.services", name)
		s := rs.Services[name]
		v.name(p, "service", name)
		v.dataClasses(p+".data_classes", s.DataClasses)
		for i, st := range s.Stores {
			if _, ok := rs.Stores[st]; !ok {
				v.problemf(indexPath(p+".stores", i), "store %q is not defined; %s", st, defined("stores", st, sortedKeys(rs.Stores)))
			}
		}
		if s.Upstream != "" {
			if _, ok := v.c.Upstreams[s.Upstream]; !ok {
				v.problemf(p+".upstream", "upstream %q is not defined; %s", s.Upstream, defined("upstreams", s.Upstream, sortedKeys(v.c.Upstreams)))
			}
		}
	}
	for _, name := range sortedKeys(rs.Upstreams) {
		p := keyPath("residency.upstreams", name)
		if _, ok := v.c.Upstreams[name]; !ok {
			v.problemf(p, "upstream %q is not defined in upstreams; %s", name, defined("upstreams", name, sortedKeys(v.c.Upstreams)))
			continue
		}
		u := rs.Upstreams[name]
		if u.Location != nil {
			v.location(p+".location", u.Location, t)
		}
		v.dataClasses(p+".data_classes", u.DataClasses)
	}
	for i, rt := range v.c.Routes {
		v.dataClasses(indexPath("routes", i)+".data_classes", rt.DataClasses)
	}
	for _, name := range sortedKeys(v.c.Databases.Services) {
		if s := v.c.Databases.Services[name]; s != nil && s.DataClass != "" {
			v.dataClass(keyPath("databases.services", name)+".data_class", s.DataClass)
		}
	}
	v.processing(t)
}

// dataClasses checks that each class has a policy, once any policy is
// given: a class without one is usually a typo that would otherwise pass
// every check unnoticed.
func (v validator) dataClasses(p string, classes []string) {
	policy := v.c.Residency.Policy
	if len(policy) == 0 {
		return
	}
	for i, dc := range classes {
		if strings.TrimSpace(dc) == "" {
			if !strings.HasPrefix(p, "routes[") { // reported by route()
				v.problemf(indexPath(p, i), "must not be empty")
			}
			continue
		}
		v.dataClass(indexPath(p, i), dc)
	}
}

// dataClass checks that one class has a policy, when any is given.
func (v validator) dataClass(p, class string) {
	policy := v.c.Residency.Policy
	if _, ok := policy[class]; !ok && len(policy) > 0 {
		v.problemf(p, "data class %q has no policy; %s, or add %s: {} under residency.policy to allow it anywhere",
			class, defined("data classes in residency.policy", class, sortedKeys(policy)), class)
	}
}

func (v validator) residencyRule(p string, r *ResidencyRule, t *geo.Table) {
	v.places(p+".within", r.Within, t)
	v.places(p+".provider_parent_not_in", r.ProviderParentNotIn, t)
	if pr := r.Processing; pr != nil && v.r.isGiven(p+".processing") {
		v.places(p+".processing.within", pr.Within, t)
		v.places(p+".processing.provider_parent_not_in", pr.ProviderParentNotIn, t)
		if pr.Processing != nil {
			v.problemf(p+".processing.processing", "a processing rule takes within and provider_parent_not_in only")
		}
	}
}

// places checks that each entry names an area or a country.
func (v validator) places(p string, places []string, t *geo.Table) {
	for i, s := range places {
		if _, _, ok := t.Place(s); ok {
			continue
		}
		hint := ""
		var lower []string
		for _, a := range t.AreaNames() {
			lower = append(lower, strings.ToLower(a))
		}
		if c, ok := closest(s, lower); ok {
			hint = fmt.Sprintf("did you mean %q? ", strings.ToUpper(c))
		}
		v.problemf(indexPath(p, i), "%q is neither an area nor an ISO 3166-1 country code; %sexpected one of the areas %s, or a code such as NO",
			s, hint, strings.Join(t.AreaNames(), ", "))
	}
}

func (v validator) residencyAreas(t *geo.Table) {
	base := geo.Builtin()
	for _, name := range sortedKeys(v.c.Residency.Areas) {
		p := keyPath("residency.areas", name)
		switch {
		case base.IsBuiltinArea(name):
			v.problemf(p, "%s is a built-in area and cannot be redefined; choose another name", strings.ToUpper(name))
			continue
		case len(name) == 2:
			v.problemf(p, "an area name needs at least three letters, so it cannot be mistaken for a country code")
			continue
		}
		members := v.c.Residency.Areas[name]
		if len(members) == 0 {
			v.problemf(p, "lists no countries")
		}
		for i, m := range members {
			if _, _, ok := t.Place(m); !ok {
				v.problemf(indexPath(p, i), "%q is neither an ISO 3166-1 country code nor an area", m)
			}
		}
	}
}

func (v validator) residencyProviders(t *geo.Table) {
	base := geo.Builtin()
	for _, name := range sortedKeys(v.c.Residency.Providers) {
		p := keyPath("residency.providers", name)
		pr := v.c.Residency.Providers[name]
		v.name(p, "provider", name)
		_, _, known := base.Provider(name)
		switch {
		case pr.Parent != "":
			if _, ok := t.Country(pr.Parent); !ok {
				v.problemf(p+".parent", "%q is not an ISO 3166-1 country code; write the country of the provider's parent company, such as NO", pr.Parent)
			}
		case !known:
			v.problemf(p, "parent is required for a provider the built-in table does not know: the ISO country code of its parent company, such as parent: NO")
		}
		for _, region := range sortedKeys(pr.Regions) {
			if c := pr.Regions[region]; !validCountry(t, c) {
				v.problemf(keyPath(p+".regions", region), "%q is not an ISO 3166-1 country code; write the country the region is in, such as NO", c)
			}
		}
	}
}

func validCountry(t *geo.Table, s string) bool {
	_, ok := t.Country(s)
	return ok
}

func (v validator) residencyStore(p, name string, s *ResidencyStore, t *geo.Table) {
	v.name(p, "store", name)
	switch {
	case s.Kind == "":
		v.problemf(p+".kind", "is required: one of %s", strings.Join(storeKinds(), ", "))
	case !slices.Contains(storeKinds(), s.Kind):
		hint := ""
		if c, ok := closest(s.Kind, storeKinds()); ok {
			hint = fmt.Sprintf("did you mean %q? ", c)
		}
		v.problemf(p+".kind", "unknown store kind %q; %sexpected one of %s", s.Kind, hint, strings.Join(storeKinds(), ", "))
	}
	if s.Cluster != "" && s.Kind != StoreDatabase {
		v.problemf(p+".cluster", "only a database store can be a database cluster; this one is a %s", s.Kind)
	}
	if s.Location != nil {
		v.location(p+".location", s.Location, t)
	}
	for i, l := range s.Replicas {
		v.location(indexPath(p+".replicas", i), l, t)
	}
	for i, l := range s.Backups {
		v.location(indexPath(p+".backups", i), l, t)
	}
	v.dataClasses(p+".data_classes", s.DataClasses)
}

// location checks that a location can be placed: a provider and region the
// table knows, or a country; and that what it declares agrees with the
// table.
func (v validator) location(p string, l *Location, t *geo.Table) {
	if l == nil || l.Geo().IsZero() {
		v.problemf(p, "is empty; declare provider and region (such as {provider: aws, region: eu-north-1}), or country")
		return
	}
	var regionCountry string
	key, prov, knownProvider := t.Provider(l.Provider)
	switch {
	case l.Provider == "" && l.Region != "":
		v.problemf(p+".region", "region %q needs its provider (provider: aws, gcp, azure, ...)", l.Region)
	case l.Provider != "" && !knownProvider && l.Country == "":
		hint := ""
		if c, ok := closest(key, t.ProviderNames()); ok {
			hint = fmt.Sprintf("did you mean %q? ", c)
		}
		v.problemf(p+".provider", "provider %q is not in the table; %sdeclare country and provider_parent for it, or add it under residency.providers (known: %s)",
			l.Provider, hint, strings.Join(t.ProviderNames(), ", "))
	case knownProvider && l.Region != "":
		if _, reg, ok := t.Region(l.Provider, l.Region); ok {
			regionCountry = reg.Country
		} else if l.Country == "" {
			hint := ""
			if c, ok := closest(strings.ToLower(l.Region), t.RegionNames(l.Provider)); ok {
				hint = fmt.Sprintf("did you mean %q? ", c)
			}
			v.problemf(p+".region", "%s has no region %q in the table; %sfor a region the table lacks, declare its country or add it under residency.providers.%s.regions", key, l.Region, hint, key)
		}
	case knownProvider && l.Country == "":
		v.problemf(p, "declare the region (or country) of %s, which has regions in several countries", key)
	}
	if l.Country != "" {
		c, ok := t.Country(l.Country)
		switch {
		case !ok:
			v.problemf(p+".country", "%q is not an ISO 3166-1 country code; write one such as NO or DE", l.Country)
		case regionCountry != "" && c != regionCountry:
			v.problemf(p+".country", "is %s, but %s region %s is in %s (%s); remove country, or correct the region", c, key, l.Region, regionCountry, t.CountryName(regionCountry))
		}
	}
	if l.ProviderParent != "" {
		c, ok := t.Country(l.ProviderParent)
		switch {
		case !ok:
			v.problemf(p+".provider_parent", "%q is not an ISO 3166-1 country code; write the country of the provider's parent company, such as US", l.ProviderParent)
		case knownProvider && prov.Parent != "" && c != prov.Parent && v.r.isGiven(p+".provider_parent"):
			v.problemf(p+".provider_parent", "is %s, but the table has %s's parent company in %s; remove provider_parent, or correct the table with residency.providers.%s.parent", c, key, prov.Parent, key)
		}
	}
}

// processing refuses every place the gateway sends a class of data to an
// upstream whose location breaks the class's processing rule: the routes
// that carry it, the services behind an upstream, and the upstreams'
// own declarations.
func (v validator) processing(t *geo.Table) {
	rs := &v.c.Residency
	if len(rs.Policy) == 0 {
		return
	}
	for _, f := range v.c.DataFlows() {
		msg := v.processingProblem(t, f.Class, f.Upstream)
		if msg == "" {
			continue
		}
		switch f.Kind {
		case "route":
			v.problemf(f.Path, "route %q sends %q data to upstream %q, which breaks %s", f.Name, f.Class, f.Upstream, msg)
		case "service":
			v.problemf(f.Path, "service %q handles %q data behind upstream %q, which breaks %s", f.Name, f.Class, f.Upstream, msg)
		default:
			v.problemf(f.Path, "upstream %q handles %q data, which breaks %s", f.Name, f.Class, msg)
		}
	}
}

// processingProblem checks one class at one upstream and returns "" or the
// rule broken and why: `residency.policy.personal.within (line 12): US
// (United States) is not in EEA`.
func (v validator) processingProblem(t *geo.Table, class, upstream string) string {
	rule := v.c.Residency.Policy[class]
	if rule == nil || rule.Processing == nil {
		return "" // no policy: reported by dataClasses
	}
	for _, place := range slices.Concat(rule.Processing.Within, rule.Processing.ProviderParentNotIn) {
		if _, _, ok := t.Place(place); !ok {
			return "" // reported by residencyRule; the rule cannot be applied
		}
	}
	var loc *Location
	if u := v.c.Residency.Upstreams[upstream]; u != nil {
		loc = u.Location
	}
	res := t.Resolve(loc.Geo())
	out := t.Check(rule.Processing.Geo(), res)
	if out.OK {
		return ""
	}
	p := keyPath("residency.policy", class)
	if v.r.isGiven(p + ".processing") {
		p += ".processing"
	}
	p += "." + out.Key
	msg := fmt.Sprintf("%s (line %d): %s", p, v.r.lineOf(p), out.Reason)
	if loc == nil {
		msg += fmt.Sprintf("; declare where the upstream runs in residency.upstreams.%s.location", upstream)
	}
	return msg
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
