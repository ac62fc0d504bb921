// Package residency evaluates a configuration's data-residency policy:
// for every stateful store (and every replica and backup of it) and every
// upstream, where the data is, which data classes it holds, and whether the
// policy allows that, with the rule that decided. The Result is printed by
// `skjold residency check` and rendered as an auditor's report.
package residency

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/residency/geo"
)

// Verdict is the outcome for one store or upstream.
type Verdict string

// Verdicts.
const (
	// Pass means every copy satisfies the policy of every class it holds.
	Pass Verdict = "pass"
	// Violation means at least one copy breaks a rule, or cannot be shown
	// to satisfy it (its location is not known, or it holds no declared
	// data class).
	Violation Verdict = "violation"
)

// Copy is one place a store's data is kept.
type Copy struct {
	// Role is "primary", "replica" or "backup".
	Role string `json:"role"`
	// Index counts replicas and backups from 1; 0 for the primary.
	Index int `json:"index,omitempty"`
	// Location is where the copy is.
	Location geo.Resolved `json:"location"`
}

// Name is "primary", "replica 1" or "backup 2".
func (c Copy) Name() string {
	if c.Index == 0 {
		return c.Role
	}
	return fmt.Sprintf("%s %d", c.Role, c.Index)
}

// Class is one data class a store or upstream holds, and what says so.
type Class struct {
	// Name of the class.
	Name string `json:"name"`
	// From lists the declarations: "declared", "service accounts",
	// "database of service accounts", "route payments".
	From []string `json:"from"`
}

// Finding is one class checked against one copy (or one upstream).
type Finding struct {
	// Class of data checked.
	Class string `json:"class"`
	// Copy is the copy's name ("primary", "backup 1"), or "all" when the
	// class's rule allows any location.
	Copy string `json:"copy"`
	// Rule is the key path of the rule that decided: for a failure the
	// part that failed ("residency.policy.personal.within"), for a pass the
	// class's policy ("residency.policy.personal").
	Rule string `json:"rule"`
	// OK is true when the copy satisfies the rule.
	OK bool `json:"ok"`
	// Reason explains the finding.
	Reason string `json:"reason"`
}

// Store is the evaluation of one stateful store.
type Store struct {
	Name string `json:"name"`
	// Kind is database, object_store, cache, queue or backup.
	Kind string `json:"kind"`
	// Cluster is the databases cluster the store is, if any.
	Cluster     string `json:"cluster,omitempty"`
	Description string `json:"description,omitempty"`
	// Copies are the primary, then the replicas, then the backups.
	Copies  []Copy  `json:"copies"`
	Classes []Class `json:"classes"`
	Verdict Verdict `json:"verdict"`
	// Decision is the finding that decided the verdict: the first failure,
	// or a summary of the rules every copy passed.
	Decision Finding `json:"decision"`
	// Findings are every class checked on every copy.
	Findings []Finding `json:"findings"`
}

// Upstream is the evaluation of one upstream: where it runs and the data
// that reaches it, checked against each class's processing rule.
type Upstream struct {
	Name     string       `json:"name"`
	Location geo.Resolved `json:"location"`
	Classes  []Class      `json:"classes"`
	Verdict  Verdict      `json:"verdict"`
	Decision Finding      `json:"decision"`
	Findings []Finding    `json:"findings"`
}

// Policy is one data class's rules.
type Policy struct {
	Class      string   `json:"class"`
	Store      geo.Rule `json:"store"`
	Processing geo.Rule `json:"processing"`
}

// Result is the evaluation of a whole configuration.
type Result struct {
	// Source and Version identify the configuration.
	Source  string `json:"source"`
	Version string `json:"version"`
	// Policy per data class, sorted by class.
	Policy []Policy `json:"policy"`
	// Stores sorted by name.
	Stores []Store `json:"stores"`
	// Upstreams that run somewhere declared or receive classified data,
	// sorted by name.
	Upstreams []Upstream `json:"upstreams"`
	// Areas are the areas the policy names, with their countries.
	Areas map[string][]string `json:"areas"`
	// Violations counts stores and upstreams whose verdict is Violation.
	Violations int `json:"violations"`

	// table is the provider and country table the result was computed
	// with, for the report.
	table *geo.Table
}

// Evaluate checks every store and upstream of c against c's policy. c must
// be defaulted (config.Parse, config.ApplyDefaults), and is best parsed
// with Check, which refuses what cannot be evaluated (an unknown region,
// say).
func Evaluate(c *config.Config) *Result {
	rs := &c.Residency
	t := table(rs)
	res := &Result{Source: c.Source, Version: c.Version, Areas: map[string][]string{}, table: t}
	for _, class := range slices.Sorted(maps.Keys(rs.Policy)) {
		p := rs.Policy[class]
		pol := Policy{Class: class, Store: geoRule(p), Processing: geoRule(p)}
		if p.Processing != nil {
			pol.Processing = geoRule(p.Processing)
		}
		res.Policy = append(res.Policy, pol)
		for _, place := range slices.Concat(pol.Store.Within, pol.Store.ProviderParentNotIn, pol.Processing.Within, pol.Processing.ProviderParentNotIn) {
			if name, countries, ok := t.Place(place); ok && len(countries) > 1 {
				res.Areas[name] = countries
			}
		}
	}
	e := evaluator{c: c, t: t, policy: res.Policy}
	for _, s := range e.stores() {
		res.Stores = append(res.Stores, e.store(s))
	}
	res.Upstreams = e.upstreams()
	for _, s := range res.Stores {
		if s.Verdict == Violation {
			res.Violations++
		}
	}
	for _, u := range res.Upstreams {
		if u.Verdict == Violation {
			res.Violations++
		}
	}
	return res
}

type evaluator struct {
	c      *config.Config
	t      *geo.Table
	policy []Policy
}

// storeDecl is a store to evaluate, declared or implied by a cluster.
type storeDecl struct {
	name string
	s    *config.ResidencyStore
}

// stores lists the declared stores and, for each database cluster that no
// store declares, an implied store without a location: a cluster holding
// personal data must say where it is.
func (e evaluator) stores() []storeDecl {
	rs := &e.c.Residency
	var out []storeDecl
	declared := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(rs.Stores)) {
		out = append(out, storeDecl{name, rs.Stores[name]})
		if cl := rs.Stores[name].Cluster; cl != "" {
			declared[cl] = true
		}
	}
	for _, cl := range slices.Sorted(maps.Keys(e.c.Databases.Clusters)) {
		if declared[cl] {
			continue
		}
		name := cl
		if _, taken := rs.Stores[name]; taken {
			name = "databases.clusters." + cl
		}
		out = append(out, storeDecl{name, &config.ResidencyStore{
			Kind: config.StoreDatabase, Cluster: cl,
			Description: "database cluster with no entry in residency.stores",
		}})
	}
	slices.SortFunc(out, func(a, b storeDecl) int { return strings.Compare(a.name, b.name) })
	return out
}

// classes collects what a store holds and why.
func (e evaluator) classes(name string, s *config.ResidencyStore) []Class {
	var cs []Class
	add := func(class, from string) {
		if class == "" {
			return
		}
		for i := range cs {
			if cs[i].Name == class {
				if !slices.Contains(cs[i].From, from) {
					cs[i].From = append(cs[i].From, from)
				}
				return
			}
		}
		cs = append(cs, Class{Name: class, From: []string{from}})
	}
	for _, dc := range s.DataClasses {
		add(dc, "declared")
	}
	rs := &e.c.Residency
	for _, svc := range slices.Sorted(maps.Keys(rs.Services)) {
		if slices.Contains(rs.Services[svc].Stores, name) {
			for _, dc := range serviceDataClasses(e.c, svc) {
				add(dc, "service "+svc)
			}
		}
	}
	if s.Cluster != "" {
		for _, svc := range slices.Sorted(maps.Keys(e.c.Databases.Services)) {
			d := e.c.Databases.Services[svc]
			if d == nil || d.Cluster != s.Cluster {
				continue
			}
			// The database holds its declared class; without one, assume
			// it holds whatever the service handles.
			if d.DataClass != "" {
				add(d.DataClass, "database of service "+svc)
				continue
			}
			for _, dc := range serviceDataClasses(e.c, svc) {
				add(dc, "database of service "+svc)
			}
		}
	}
	slices.SortFunc(cs, func(a, b Class) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

func (e evaluator) store(d storeDecl) Store {
	s := d.s
	st := Store{Name: d.name, Kind: s.Kind, Cluster: s.Cluster, Description: s.Description}
	st.Copies = append(st.Copies, Copy{Role: "primary", Location: e.t.Resolve(geoLocation(s.Location))})
	for i, l := range s.Replicas {
		st.Copies = append(st.Copies, Copy{Role: "replica", Index: i + 1, Location: e.t.Resolve(geoLocation(l))})
	}
	for i, l := range s.Backups {
		st.Copies = append(st.Copies, Copy{Role: "backup", Index: i + 1, Location: e.t.Resolve(geoLocation(l))})
	}
	st.Classes = e.classes(d.name, s)
	if len(st.Classes) == 0 {
		f := Finding{Copy: "all", Rule: "residency.stores." + d.name + ".data_classes",
			Reason: "the store holds no declared data class, so nothing shows it holds no restricted data; declare its data_classes (public: {} for data that may be anywhere)"}
		st.Verdict, st.Decision, st.Findings = Violation, f, []Finding{f}
		return st
	}
	var locs []namedLocation
	for _, c := range st.Copies {
		locs = append(locs, namedLocation{c.Name(), c.Location})
	}
	st.Findings = e.check(st.Classes, locs, false)
	st.Verdict, st.Decision = decide(st.Findings)
	return st
}

type namedLocation struct {
	name string
	loc  geo.Resolved
}

// check checks every class on every location. processing selects the
// classes' processing rules instead of their storing rules.
func (e evaluator) check(classes []Class, locs []namedLocation, processing bool) []Finding {
	var fs []Finding
	for _, cl := range classes {
		i := slices.IndexFunc(e.policy, func(p Policy) bool { return p.Class == cl.Name })
		base := "residency.policy." + cl.Name
		if i < 0 {
			reason := fmt.Sprintf("data class %q has no policy; add it under residency.policy", cl.Name)
			if len(e.policy) == 0 {
				reason = "no residency.policy is declared, so no data class can be shown to be where it may be"
			}
			fs = append(fs, Finding{Class: cl.Name, Copy: "all", Rule: base, Reason: reason})
			continue
		}
		p := e.policy[i]
		rule, rulePath := p.Store, base
		if processing {
			rule = p.Processing
			if !sameRule(p.Processing, p.Store) {
				rulePath += ".processing"
			}
		}
		if !rule.Restricts() {
			fs = append(fs, Finding{Class: cl.Name, Copy: "all", Rule: rulePath, OK: true, Reason: "the policy allows any location"})
			continue
		}
		for _, l := range locs {
			out := e.t.Check(rule, l.loc)
			f := Finding{Class: cl.Name, Copy: l.name, Rule: rulePath, OK: out.OK, Reason: out.Reason}
			if !out.OK {
				f.Rule += "." + out.Key
			}
			fs = append(fs, f)
		}
	}
	return fs
}

func sameRule(a, b geo.Rule) bool {
	return slices.Equal(a.Within, b.Within) && slices.Equal(a.ProviderParentNotIn, b.ProviderParentNotIn)
}

// decide returns the verdict and the finding that decided it: the first
// failure; else the most restrictive rule passed, for every copy; else the
// first finding.
func decide(fs []Finding) (Verdict, Finding) {
	for _, f := range fs {
		if !f.OK {
			return Violation, f
		}
	}
	var restricted []Finding
	for _, f := range fs {
		if f.Copy != "all" {
			restricted = append(restricted, f)
		}
	}
	if len(restricted) == 0 {
		if len(fs) == 0 {
			return Pass, Finding{OK: true, Copy: "all", Reason: "holds no declared data class"}
		}
		return Pass, fs[0]
	}
	// One line for the auditor: which rules, and that every copy passed.
	var rules []string
	for _, f := range restricted {
		if !slices.Contains(rules, f.Rule) {
			rules = append(rules, f.Rule)
		}
	}
	d := restricted[0]
	copies := 0
	for _, f := range restricted {
		if f.Class == d.Class {
			copies++
		}
	}
	switch {
	case copies == 2:
		d.Reason = fmt.Sprintf("both copies pass (%s: %s)", d.Copy, d.Reason)
	case copies > 2:
		d.Reason = fmt.Sprintf("all %d copies pass (%s: %s)", copies, d.Copy, d.Reason)
	}
	d.Copy = "all"
	d.Rule = strings.Join(rules, ", ")
	return Pass, d
}

// upstreams evaluates every upstream that receives classified data or
// declares a location.
func (e evaluator) upstreams() []Upstream {
	flows := dataFlows(e.c)
	var out []Upstream
	for _, name := range slices.Sorted(maps.Keys(e.c.Upstreams)) {
		var loc *config.Location
		if u := e.c.Residency.Upstreams[name]; u != nil {
			loc = u.Location
		}
		var classes []Class
		for _, f := range flows {
			if f.Upstream != name {
				continue
			}
			from := f.Kind + " " + f.Name
			if f.Kind == "upstream" {
				from = "declared"
			}
			i := slices.IndexFunc(classes, func(c Class) bool { return c.Name == f.Class })
			if i < 0 {
				classes = append(classes, Class{Name: f.Class, From: []string{from}})
			} else if !slices.Contains(classes[i].From, from) {
				classes[i].From = append(classes[i].From, from)
			}
		}
		if loc == nil && len(classes) == 0 {
			continue
		}
		slices.SortFunc(classes, func(a, b Class) int { return strings.Compare(a.Name, b.Name) })
		u := Upstream{Name: name, Location: e.t.Resolve(geoLocation(loc)), Classes: classes}
		u.Findings = e.check(classes, []namedLocation{{"targets", u.Location}}, true)
		u.Verdict, u.Decision = decide(u.Findings)
		out = append(out, u)
	}
	return out
}
