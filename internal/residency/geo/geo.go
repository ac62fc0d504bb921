// Package geo knows where data sits: the country of each common cloud
// provider's regions, the country of each provider's parent company, the
// EU and EEA members and the countries with an EU adequacy decision, and
// whether a location satisfies a residency rule.
package geo

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Region is one region of a provider.
type Region struct {
	// Country is the ISO 3166-1 alpha-2 code of the country the region's
	// data centres are in.
	Country string `json:"country"`
	// City (or area) the region is in, for people.
	City string `json:"city,omitempty"`
}

// Provider is a company that runs infrastructure.
type Provider struct {
	// Name is the provider's display name ("Amazon Web Services").
	Name string `json:"name"`
	// ParentCompany is the ultimate parent company, when known.
	ParentCompany string `json:"parent_company,omitempty"`
	// Parent is the country the parent company is headquartered in, the
	// one whose laws (such as the US CLOUD Act) can compel it to hand over
	// data wherever it is stored. Empty when unknown.
	Parent string `json:"parent,omitempty"`
	// Regions by the provider's own region names, lower case.
	Regions map[string]Region `json:"regions,omitempty"`
}

// Table answers where things are. Builtin returns the built-in one; Extend
// adds to a copy. A Table is not modified after it is built, so it may be
// shared between goroutines.
type Table struct {
	countries map[string]string // code → name
	providers map[string]Provider
	areas     map[string][]string // name → sorted country codes
	builtin   map[string]bool     // built-in area names
	adequacy  []Adequacy
}

// Builtin returns the built-in table: the providers in the documentation,
// the ISO 3166-1 countries, and the areas EU, EEA, ADEQUATE and NORDICS.
func Builtin() *Table {
	t := &Table{
		countries: countryNames(),
		providers: builtinProviders(),
		adequacy:  adequacyDecisions(),
	}
	eea := append(euMembers(), eeaOnly()...)
	slices.Sort(eea)
	var adequate []string
	for _, a := range t.adequacy {
		if a.Scope == "" {
			adequate = append(adequate, a.Country)
		}
	}
	slices.Sort(adequate)
	eu := euMembers()
	slices.Sort(eu)
	t.areas = map[string][]string{
		AreaEU:       eu,
		AreaEEA:      eea,
		AreaAdequate: adequate,
		AreaNordics:  {"DK", "FI", "IS", "NO", "SE"},
	}
	t.builtin = map[string]bool{}
	for name := range t.areas {
		t.builtin[name] = true
	}
	return t
}

// Extension is what a configuration adds to the table.
type Extension struct {
	// Providers to add, or to add regions to; keys are provider names. For
	// a known provider, a non-empty Name or Parent replaces the built-in one
	// and Regions are added to (and override) the built-in regions.
	Providers map[string]Provider
	// Areas to add: name → countries or other areas.
	Areas map[string][]string
}

// Extend returns a copy of t with ext added. It does not check the
// extension; invalid country codes simply never match (the config package
// reports them with their file position). Areas may name countries, areas
// of t, and each other; a cycle contributes nothing more.
func (t *Table) Extend(ext Extension) *Table {
	n := &Table{
		countries: t.countries,
		providers: maps.Clone(t.providers),
		areas:     maps.Clone(t.areas),
		builtin:   t.builtin,
		adequacy:  t.adequacy,
	}
	for key, p := range ext.Providers {
		key = strings.ToLower(key)
		old, ok := n.providers[key]
		if !ok {
			old = Provider{Name: key}
		}
		merged := old
		if p.Name != "" {
			merged.Name = p.Name
		}
		if p.ParentCompany != "" {
			merged.ParentCompany = p.ParentCompany
		}
		if p.Parent != "" {
			merged.Parent, _ = t.Country(p.Parent)
			if merged.Parent == "" {
				merged.Parent = strings.ToUpper(p.Parent)
			}
		}
		merged.Regions = maps.Clone(old.Regions)
		if merged.Regions == nil {
			merged.Regions = map[string]Region{}
		}
		for name, reg := range p.Regions {
			if c, ok := t.Country(reg.Country); ok {
				reg.Country = c
			}
			merged.Regions[strings.ToLower(name)] = reg
		}
		n.providers[key] = merged
	}
	areas := map[string][]string{}
	for name, members := range ext.Areas {
		areas[strings.ToUpper(strings.TrimSpace(name))] = members
	}
	var expand func(name string, seen map[string]bool) []string
	expand = func(name string, seen map[string]bool) []string {
		if seen[name] {
			return nil
		}
		seen[name] = true
		if members, ok := areas[name]; ok && !t.builtin[name] {
			var out []string
			for _, m := range members {
				m = strings.ToUpper(strings.TrimSpace(m))
				if c, ok := t.Country(m); ok {
					out = append(out, c)
				} else {
					out = append(out, expand(m, seen)...)
				}
			}
			return out
		}
		return t.areas[name]
	}
	for name := range areas {
		if t.builtin[name] {
			continue // built-in areas cannot be redefined
		}
		members := expand(name, map[string]bool{})
		slices.Sort(members)
		n.areas[name] = slices.Compact(members)
	}
	return n
}

// Country returns the ISO code for s ("no", "NO", and the aliases "UK" and
// "EL"), and whether it is a known country.
func (t *Table) Country(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if a, ok := countryAliases()[s]; ok {
		s = a
	}
	_, ok := t.countries[s]
	return s, ok
}

// CountryName returns the English name of a country code, or the code when
// it is not known.
func (t *Table) CountryName(code string) string {
	if n, ok := t.countries[code]; ok {
		return n
	}
	return code
}

// Provider returns the provider known by name (case-insensitive, with
// aliases such as "amazon" for "aws") and its canonical key.
func (t *Table) Provider(name string) (key string, p Provider, ok bool) {
	key = strings.ToLower(strings.TrimSpace(name))
	if a, isAlias := providerAliases()[key]; isAlias {
		if _, extended := t.providers[key]; !extended {
			key = a
		}
	}
	p, ok = t.providers[key]
	return key, p, ok
}

// ProviderNames lists the known providers' keys, sorted.
func (t *Table) ProviderNames() []string {
	return slices.Sorted(maps.Keys(t.providers))
}

// Region finds a provider's region by name. A zone within a region is
// accepted too: "eu-north-1a" (AWS), "europe-north1-b" (GCP), "fr-par-2"
// (Scaleway), "GRA11" (OVHcloud) and "hel1-dc2" (Hetzner) all find their
// region.
func (t *Table) Region(provider, region string) (name string, r Region, ok bool) {
	_, p, ok := t.Provider(provider)
	if !ok {
		return "", Region{}, false
	}
	for _, c := range regionCandidates(strings.ToLower(strings.TrimSpace(region))) {
		if r, ok := p.Regions[c]; ok {
			return c, r, true
		}
	}
	return "", Region{}, false
}

// regionCandidates returns s and the region names a zone name s may belong
// to, most specific first.
func regionCandidates(s string) []string {
	out := []string{s}
	add := func(c string) {
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	// "hel1-dc2" → "hel1"
	if i := strings.Index(s, "-dc"); i > 0 {
		add(s[:i])
	}
	// "eu-north-1a" → "eu-north-1"; "europe-north1-b" → "europe-north1"
	if n := len(s); n >= 2 && s[n-1] >= 'a' && s[n-1] <= 'z' {
		if prev := s[n-2]; prev >= '0' && prev <= '9' {
			add(s[:n-1])
		} else if prev == '-' {
			add(s[:n-2])
		}
	}
	// "fr-par-2" → "fr-par"; "gra11" → "gra"
	trimmed := strings.TrimRight(s, "0123456789")
	add(strings.TrimSuffix(trimmed, "-"))
	return out
}

// RegionNames lists a provider's region names, sorted.
func (t *Table) RegionNames(provider string) []string {
	_, p, ok := t.Provider(provider)
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(p.Regions))
}

// Area returns the countries of a named area (case-insensitive), sorted.
func (t *Table) Area(name string) ([]string, bool) {
	c, ok := t.areas[strings.ToUpper(strings.TrimSpace(name))]
	return c, ok
}

// AreaNames lists the known areas, sorted.
func (t *Table) AreaNames() []string {
	return slices.Sorted(maps.Keys(t.areas))
}

// IsBuiltinArea reports whether name is one of the built-in areas, which
// an extension cannot redefine.
func (t *Table) IsBuiltinArea(name string) bool {
	return t.builtin[strings.ToUpper(strings.TrimSpace(name))]
}

// Adequacy returns the EU adequacy decision for a country, if there is one.
func (t *Table) Adequacy(country string) (Adequacy, bool) {
	for _, a := range t.adequacy {
		if a.Country == country {
			return a, true
		}
	}
	return Adequacy{}, false
}

// AdequacyDecisions lists every EU adequacy decision in the table, oldest
// first.
func (t *Table) AdequacyDecisions() []Adequacy { return slices.Clone(t.adequacy) }

// Place resolves one entry of a rule: an area name or a country code. It
// returns the countries it stands for and its canonical spelling.
func (t *Table) Place(s string) (name string, countries []string, ok bool) {
	if c, ok := t.Area(s); ok {
		return strings.ToUpper(strings.TrimSpace(s)), c, true
	}
	if code, ok := t.Country(s); ok {
		return code, []string{code}, true
	}
	return s, nil, false
}

// in reports whether country is in any of places.
func (t *Table) in(country string, places []string) bool {
	for _, p := range places {
		if _, cs, ok := t.Place(p); ok && slices.Contains(cs, country) {
			return true
		}
	}
	return false
}

// Describe names a country with what it is relative to the GDPR:
// "NO (Norway, EEA)", "CH (Switzerland, adequacy decision 2000-07-26)",
// "US (United States)".
func (t *Table) Describe(country string) string {
	if country == "" {
		return "unknown country"
	}
	var tags []string
	switch {
	case slices.Contains(t.areas[AreaEU], country):
		tags = append(tags, "EU")
	case slices.Contains(t.areas[AreaEEA], country):
		tags = append(tags, "EEA")
	}
	if a, ok := t.Adequacy(country); ok {
		s := "adequacy decision " + a.Date
		if a.Scope != "" {
			s += ", partial"
		}
		tags = append(tags, s)
	}
	return fmt.Sprintf("%s (%s)", country, strings.Join(append([]string{t.CountryName(country)}, tags...), ", "))
}
