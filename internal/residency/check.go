package residency

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/residency/geo"
)

var _ config.Check = Check

// Check applies the residency rules to a parsed config, for config.Parse,
// config.LoadFile and config.FileSource: every area, country, provider and
// region named must be in the table (as residency.areas and
// residency.providers extend it), declared locations must agree with it,
// and no route, service or upstream may send a class of data to an
// upstream whose location breaks the class's processing rule (issue 8):
// such a config must not be served, and a reload must not accept it.
// config has already checked the section's shape and references.
func Check(c *config.Config) []config.Problem {
	ch := checker{c: c, t: table(&c.Residency)}
	ch.areas()
	ch.providers()
	rs := &c.Residency
	for _, class := range slices.Sorted(maps.Keys(rs.Policy)) {
		ch.rule(config.KeyPath("residency.policy", class), rs.Policy[class])
	}
	for _, name := range slices.Sorted(maps.Keys(rs.Stores)) {
		ch.store(config.KeyPath("residency.stores", name), rs.Stores[name])
	}
	for _, name := range slices.Sorted(maps.Keys(rs.Upstreams)) {
		if _, ok := c.Upstreams[name]; ok && rs.Upstreams[name].Location != nil {
			ch.location(config.KeyPath("residency.upstreams", name)+".location", rs.Upstreams[name].Location)
		}
	}
	ch.processing()
	return ch.problems
}

// checker collects the problems of one config.
type checker struct {
	c        *config.Config
	t        *geo.Table
	problems []config.Problem
}

func (ch *checker) problemf(path, format string, args ...any) {
	ch.problems = append(ch.problems, config.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// line is the line path is on, for messages that point at a second place.
func (ch *checker) line(path string) int {
	l, _ := ch.c.Position(path)
	return l
}

// hint is `did you mean "x"? ` when s is close to one of candidates.
func hint(s string, candidates []string) string {
	if c, ok := config.Closest(s, candidates); ok {
		return fmt.Sprintf("did you mean %q? ", c)
	}
	return ""
}

func (ch *checker) rule(p string, r *config.ResidencyRule) {
	ch.places(p+".within", r.Within)
	ch.places(p+".provider_parent_not_in", r.ProviderParentNotIn)
	if pr := r.Processing; pr != nil && ch.c.Given(p+".processing") {
		ch.places(p+".processing.within", pr.Within)
		ch.places(p+".processing.provider_parent_not_in", pr.ProviderParentNotIn)
	}
}

// places checks that each entry names an area or a country.
func (ch *checker) places(p string, places []string) {
	for i, s := range places {
		if _, _, ok := ch.t.Place(s); ok {
			continue
		}
		var lower []string
		for _, a := range ch.t.AreaNames() {
			lower = append(lower, strings.ToLower(a))
		}
		h := ""
		if c, ok := config.Closest(s, lower); ok {
			h = fmt.Sprintf("did you mean %q? ", strings.ToUpper(c))
		}
		ch.problemf(config.IndexPath(p, i), "%q is neither an area nor an ISO 3166-1 country code; %sexpected one of the areas %s, or a code such as NO",
			s, h, strings.Join(ch.t.AreaNames(), ", "))
	}
}

func (ch *checker) areas() {
	base := geo.Builtin()
	for _, name := range slices.Sorted(maps.Keys(ch.c.Residency.Areas)) {
		p := config.KeyPath("residency.areas", name)
		switch {
		case base.IsBuiltinArea(name):
			ch.problemf(p, "%s is a built-in area and cannot be redefined; choose another name", strings.ToUpper(name))
			continue
		case len(name) == 2:
			ch.problemf(p, "an area name needs at least three letters, so it cannot be mistaken for a country code")
			continue
		}
		members := ch.c.Residency.Areas[name]
		if len(members) == 0 {
			ch.problemf(p, "lists no countries")
		}
		for i, m := range members {
			if _, _, ok := ch.t.Place(m); !ok {
				ch.problemf(config.IndexPath(p, i), "%q is neither an ISO 3166-1 country code nor an area", m)
			}
		}
	}
}

func (ch *checker) providers() {
	base := geo.Builtin()
	for _, name := range slices.Sorted(maps.Keys(ch.c.Residency.Providers)) {
		p := config.KeyPath("residency.providers", name)
		pr := ch.c.Residency.Providers[name]
		_, _, known := base.Provider(name)
		switch {
		case pr.Parent != "":
			if !ch.isCountry(pr.Parent) {
				ch.problemf(p+".parent", "%q is not an ISO 3166-1 country code; write the country of the provider's parent company, such as NO", pr.Parent)
			}
		case !known:
			ch.problemf(p, "parent is required for a provider the built-in table does not know: the ISO country code of its parent company, such as parent: NO")
		}
		for _, region := range slices.Sorted(maps.Keys(pr.Regions)) {
			if c := pr.Regions[region]; !ch.isCountry(c) {
				ch.problemf(config.KeyPath(p+".regions", region), "%q is not an ISO 3166-1 country code; write the country the region is in, such as NO", c)
			}
		}
	}
}

func (ch *checker) isCountry(s string) bool {
	_, ok := ch.t.Country(s)
	return ok
}

func (ch *checker) store(p string, s *config.ResidencyStore) {
	if s.Location != nil {
		ch.location(p+".location", s.Location)
	}
	for i, l := range s.Replicas {
		ch.location(config.IndexPath(p+".replicas", i), l)
	}
	for i, l := range s.Backups {
		ch.location(config.IndexPath(p+".backups", i), l)
	}
}

// location checks that a location can be placed, a provider and region the
// table knows or a country, and that what it declares agrees with the
// table. config has refused an empty location and a region without its
// provider.
func (ch *checker) location(p string, l *config.Location) {
	if l.IsZero() {
		return
	}
	regionCountry := ch.region(p, l)
	key, prov, knownProvider := ch.t.Provider(l.Provider)
	if l.Country != "" {
		c, ok := ch.t.Country(l.Country)
		switch {
		case !ok:
			ch.problemf(p+".country", "%q is not an ISO 3166-1 country code; write one such as NO or DE", l.Country)
		case regionCountry != "" && c != regionCountry:
			ch.problemf(p+".country", "is %s, but %s region %s is in %s (%s); remove country, or correct the region", c, key, l.Region, regionCountry, ch.t.CountryName(regionCountry))
		}
	}
	if l.ProviderParent != "" {
		c, ok := ch.t.Country(l.ProviderParent)
		switch {
		case !ok:
			ch.problemf(p+".provider_parent", "%q is not an ISO 3166-1 country code; write the country of the provider's parent company, such as US", l.ProviderParent)
		case knownProvider && prov.Parent != "" && c != prov.Parent && ch.c.Given(p+".provider_parent"):
			// Only a parent the file declares: a replica's is copied
			// from its store by the defaults.
			ch.problemf(p+".provider_parent", "is %s, but the table has %s's parent company in %s; remove provider_parent, or correct the table with residency.providers.%s.parent", c, key, prov.Parent, key)
		}
	}
}

// region checks the provider and region of l against the table and
// returns the region's country, "" when the table does not place it.
func (ch *checker) region(p string, l *config.Location) string {
	key, _, knownProvider := ch.t.Provider(l.Provider)
	switch {
	case l.Provider == "" && l.Region != "":
		// Reported by config: a region needs its provider.
	case l.Provider != "" && !knownProvider && l.Country == "":
		ch.problemf(p+".provider", "provider %q is not in the table; %sdeclare country and provider_parent for it, or add it under residency.providers (known: %s)",
			l.Provider, hint(key, ch.t.ProviderNames()), strings.Join(ch.t.ProviderNames(), ", "))
	case knownProvider && l.Region != "":
		if _, reg, ok := ch.t.Region(l.Provider, l.Region); ok {
			return reg.Country
		}
		if l.Country == "" {
			ch.problemf(p+".region", "%s has no region %q in the table; %sfor a region the table lacks, declare its country or add it under residency.providers.%s.regions",
				key, l.Region, hint(strings.ToLower(l.Region), ch.t.RegionNames(l.Provider)), key)
		}
	case knownProvider && l.Country == "":
		ch.problemf(p, "declare the region (or country) of %s, which has regions in several countries", key)
	}
	return ""
}

// processing refuses every place the gateway sends a class of data to an
// upstream whose location breaks the class's processing rule: the routes
// that carry it, the services behind an upstream, and the upstreams' own
// declarations.
func (ch *checker) processing() {
	if len(ch.c.Residency.Policy) == 0 {
		return
	}
	for _, f := range dataFlows(ch.c) {
		msg := ch.processingProblem(f.Class, f.Upstream)
		if msg == "" {
			continue
		}
		switch f.Kind {
		case "route":
			ch.problemf(f.Path, "route %q sends %q data to upstream %q, which breaks %s", f.Name, f.Class, f.Upstream, msg)
		case "service":
			ch.problemf(f.Path, "service %q handles %q data behind upstream %q, which breaks %s", f.Name, f.Class, f.Upstream, msg)
		default:
			ch.problemf(f.Path, "upstream %q handles %q data, which breaks %s", f.Name, f.Class, msg)
		}
	}
}

// processingProblem checks one class at one upstream and returns "" or the
// rule broken and why: `residency.policy.personal.within (line 12): US
// (United States) is not in EEA`.
func (ch *checker) processingProblem(class, upstream string) string {
	rule := ch.c.Residency.Policy[class]
	if rule == nil || rule.Processing == nil {
		return "" // no policy: reported by config
	}
	for _, place := range slices.Concat(rule.Processing.Within, rule.Processing.ProviderParentNotIn) {
		if _, _, ok := ch.t.Place(place); !ok {
			return "" // reported by rule; the rule cannot be applied
		}
	}
	var loc *config.Location
	if u := ch.c.Residency.Upstreams[upstream]; u != nil {
		loc = u.Location
	}
	out := ch.t.Check(geoRule(rule.Processing), ch.t.Resolve(geoLocation(loc)))
	if out.OK {
		return ""
	}
	p := config.KeyPath("residency.policy", class)
	if ch.c.Given(p + ".processing") {
		p += ".processing"
	}
	p += "." + out.Key
	msg := fmt.Sprintf("%s (line %d): %s", p, ch.line(p), out.Reason)
	if loc == nil {
		msg += fmt.Sprintf("; declare where the upstream runs in residency.upstreams.%s.location", upstream)
	}
	return msg
}
