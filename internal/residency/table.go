package residency

import (
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/residency/geo"
)

// table returns the built-in table of providers, regions and areas,
// extended with rs's providers and areas.
func table(rs *config.Residency) *geo.Table {
	ext := geo.Extension{Providers: map[string]geo.Provider{}, Areas: map[string][]string{}}
	for name, p := range rs.Providers {
		if p == nil {
			continue
		}
		gp := geo.Provider{Name: p.Name, Parent: p.Parent, Regions: map[string]geo.Region{}}
		for region, country := range p.Regions {
			gp.Regions[region] = geo.Region{Country: country}
		}
		ext.Providers[name] = gp
	}
	for name, members := range rs.Areas {
		ext.Areas[name] = members
	}
	return geo.Builtin().Extend(ext)
}

// geoRule is a policy rule as the table checks it; a nil rule allows
// anything.
func geoRule(r *config.ResidencyRule) geo.Rule {
	if r == nil {
		return geo.Rule{}
	}
	return geo.Rule{Within: r.Within, ProviderParentNotIn: r.ProviderParentNotIn}
}

// geoLocation is a declared location as the table resolves it; a nil
// location is the zero one (nothing declared).
func geoLocation(l *config.Location) geo.Location {
	if l == nil {
		return geo.Location{}
	}
	return geo.Location{Provider: l.Provider, Region: l.Region, Country: l.Country, ProviderParent: l.ProviderParent}
}
