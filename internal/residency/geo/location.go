package geo

import (
	"fmt"
	"strings"
)

// Location is where something runs, as a configuration declares it. Any
// field may be empty; Resolve fills in what the table knows.
type Location struct {
	// Provider is a key of the table ("aws", "hetzner") or any other name.
	Provider string `json:"provider,omitempty"`
	// Region is the provider's name for the region ("eu-north-1").
	Region string `json:"region,omitempty"`
	// Country is an ISO 3166-1 alpha-2 code; needed when the table does not
	// know the provider or region.
	Country string `json:"country,omitempty"`
	// ProviderParent is the country of the provider's parent company;
	// needed when the table does not know the provider.
	ProviderParent string `json:"provider_parent,omitempty"`
}

// IsZero reports whether nothing is declared.
func (l Location) IsZero() bool { return l == Location{} }

// String is "aws eu-north-1", "hetzner", "country NO" or "nowhere".
func (l Location) String() string {
	var parts []string
	if l.Provider != "" {
		parts = append(parts, l.Provider)
	}
	if l.Region != "" {
		parts = append(parts, l.Region)
	}
	if len(parts) == 0 && l.Country != "" {
		parts = append(parts, "country "+strings.ToUpper(l.Country))
	}
	if len(parts) == 0 {
		return "nowhere declared"
	}
	return strings.Join(parts, " ")
}

// Resolved is a declared Location with what the table knows about it.
type Resolved struct {
	// Declared is the location as written.
	Declared Location `json:"declared"`
	// Country is the ISO code of the country the data is in; empty when
	// it is not known (Problem says why).
	Country string `json:"country,omitempty"`
	// City is the region's city, when the table knows it.
	City string `json:"city,omitempty"`
	// ProviderName is the provider's display name, or the declared name.
	ProviderName string `json:"provider_name,omitempty"`
	// Parent is the ISO code of the country of the provider's parent
	// company; empty when not known (ParentProblem says why).
	Parent string `json:"provider_parent,omitempty"`
	// Problem says why Country is empty.
	Problem string `json:"problem,omitempty"`
	// ParentProblem says why Parent is empty.
	ParentProblem string `json:"provider_parent_problem,omitempty"`
}

// Resolve looks a declared location up in the table. A declared country
// must agree with the region's, and a declared parent with the
// provider's; when they disagree the value is unknown and the problem says
// so, because a policy cannot pass on a location nobody can vouch for.
func (t *Table) Resolve(l Location) Resolved {
	res := Resolved{Declared: l, ProviderName: l.Provider}
	if l.IsZero() {
		res.Problem = "no location is declared"
		res.ParentProblem = res.Problem
		return res
	}
	var regionCountry, providerKey string
	knownProvider := false
	if l.Provider != "" {
		key, p, ok := t.Provider(l.Provider)
		if ok {
			knownProvider, providerKey = true, key
			res.ProviderName, res.Parent = p.Name, p.Parent
			if l.Region != "" {
				if _, reg, ok := t.Region(l.Provider, l.Region); ok {
					regionCountry, res.City = reg.Country, reg.City
				}
			}
		}
	}

	switch {
	case l.Country != "":
		c, ok := t.Country(l.Country)
		switch {
		case !ok:
			res.Problem = fmt.Sprintf("%q is not an ISO 3166-1 country code", l.Country)
		case regionCountry != "" && c != regionCountry:
			res.Problem = fmt.Sprintf("country %s is declared, but %s region %s is in %s", c, providerKey, l.Region, regionCountry)
		default:
			res.Country = c
		}
	case regionCountry != "":
		res.Country = regionCountry
	case knownProvider && l.Region != "":
		res.Problem = fmt.Sprintf("%s has no region %q in the table; declare its country", providerKey, l.Region)
	case knownProvider:
		res.Problem = fmt.Sprintf("no region or country is declared for %s, which has regions in several countries", providerKey)
	case l.Provider != "":
		res.Problem = fmt.Sprintf("provider %q is not in the table and no country is declared", l.Provider)
	default:
		res.Problem = "no provider, region or country is declared"
	}

	if l.ProviderParent != "" {
		c, ok := t.Country(l.ProviderParent)
		switch {
		case !ok:
			res.Parent = ""
			res.ParentProblem = fmt.Sprintf("provider_parent %q is not an ISO 3166-1 country code", l.ProviderParent)
		case res.Parent != "" && c != res.Parent:
			res.ParentProblem = fmt.Sprintf("provider_parent %s is declared, but the table has %s's parent company in %s", c, providerKey, res.Parent)
			res.Parent = ""
		default:
			res.Parent = c
		}
	} else if res.Parent == "" {
		switch {
		case l.Provider == "":
			res.ParentProblem = "no provider or provider_parent is declared"
		case knownProvider:
			res.ParentProblem = fmt.Sprintf("the table does not know where %s's parent company is; declare provider_parent", providerKey)
		default:
			res.ParentProblem = fmt.Sprintf("provider %q is not in the table and no provider_parent is declared", l.Provider)
		}
	}
	return res
}

// String describes the location for people: "aws eu-north-1 (Stockholm,
// SE; parent US)", "no location is declared".
func (r Resolved) String() string {
	if r.Declared.IsZero() {
		return r.Problem
	}
	var in []string
	switch {
	case r.Country != "" && r.City != "":
		in = append(in, r.City+", "+r.Country)
	case r.Country != "":
		in = append(in, r.Country)
	default:
		in = append(in, "country unknown")
	}
	if r.Parent != "" {
		in = append(in, "parent "+r.Parent)
	} else {
		in = append(in, "parent unknown")
	}
	return fmt.Sprintf("%s (%s)", r.Declared, strings.Join(in, "; "))
}

// Rule restricts where one class of data may be.
type Rule struct {
	// Within lists areas and countries the data must be in. Empty means
	// anywhere.
	Within []string `json:"within,omitempty"`
	// ProviderParentNotIn lists areas and countries the provider's parent
	// company must not be in.
	ProviderParentNotIn []string `json:"provider_parent_not_in,omitempty"`
}

// Restricts reports whether the rule limits location at all; "public: {}"
// does not.
func (r Rule) Restricts() bool { return len(r.Within) > 0 || len(r.ProviderParentNotIn) > 0 }

// String is "within EEA; provider_parent_not_in US", or "anywhere".
func (r Rule) String() string {
	var parts []string
	if len(r.Within) > 0 {
		parts = append(parts, "within "+strings.Join(r.Within, ", "))
	}
	if len(r.ProviderParentNotIn) > 0 {
		parts = append(parts, "provider_parent_not_in "+strings.Join(r.ProviderParentNotIn, ", "))
	}
	if len(parts) == 0 {
		return "anywhere"
	}
	return strings.Join(parts, "; ")
}

// Keys of a Rule, as Outcome.Key names them.
const (
	KeyWithin              = "within"
	KeyProviderParentNotIn = "provider_parent_not_in"
)

// Outcome is the result of checking one location against one rule.
type Outcome struct {
	// OK is true when the location satisfies the rule.
	OK bool `json:"ok"`
	// Key is the part of the rule that decided: KeyWithin or
	// KeyProviderParentNotIn for a failure, empty when the location passed
	// (every part decided) or the rule restricts nothing.
	Key string `json:"key,omitempty"`
	// Reason explains the outcome in a sentence fragment:
	// "US (United States) is not in EEA".
	Reason string `json:"reason"`
}

// Check decides whether a resolved location satisfies r. A location whose
// country (or parent company's country) is unknown fails every rule that
// needs it: not knowing where personal data is cannot pass a policy.
func (t *Table) Check(r Rule, loc Resolved) Outcome {
	if !r.Restricts() {
		return Outcome{OK: true, Reason: "the policy allows any location"}
	}
	var ok []string
	if len(r.Within) > 0 {
		within := strings.Join(r.Within, ", ")
		switch {
		case loc.Country == "":
			return Outcome{Key: KeyWithin, Reason: fmt.Sprintf("the country is not known (%s), so it cannot be shown to be in %s", loc.Problem, within)}
		case !t.in(loc.Country, r.Within):
			return Outcome{Key: KeyWithin, Reason: fmt.Sprintf("%s is not in %s", t.Describe(loc.Country), within)}
		}
		ok = append(ok, fmt.Sprintf("%s is in %s", t.Describe(loc.Country), within))
	}
	if len(r.ProviderParentNotIn) > 0 {
		excluded := strings.Join(r.ProviderParentNotIn, ", ")
		who := loc.ProviderName
		if who == "" {
			who = "the provider"
		}
		switch {
		case loc.Parent == "":
			return Outcome{Key: KeyProviderParentNotIn, Reason: fmt.Sprintf("the country of %s's parent company is not known (%s), so it cannot be shown to be outside %s", who, loc.ParentProblem, excluded)}
		case t.in(loc.Parent, r.ProviderParentNotIn):
			return Outcome{Key: KeyProviderParentNotIn, Reason: fmt.Sprintf("%s's parent company is in %s, and the policy excludes %s", who, t.Describe(loc.Parent), excluded)}
		}
		ok = append(ok, fmt.Sprintf("%s's parent company is in %s, outside %s", who, loc.Parent, excluded))
	}
	return Outcome{OK: true, Reason: strings.Join(ok, "; ")}
}
