package config

import (
	"fmt"
	"slices"
	"strings"
)

// residency checks the residency section's shape and references: names,
// store kinds, the clusters, stores and upstreams it names, and a policy
// for every data class. Whether the data is where its policy allows, and
// whether a provider, region, area or country exists (areas included),
// is decided by internal/residency (residency.Check), which knows the
// provider table.
func (v validator) residency() {
	rs := &v.c.Residency
	for _, name := range sortedKeys(rs.Providers) {
		v.name(keyPath("residency.providers", name), "provider", name)
	}
	for _, class := range sortedKeys(rs.Policy) {
		p := keyPath("residency.policy", class)
		if strings.TrimSpace(class) == "" {
			v.problemf(p, "a data class needs a name")
		}
		if pr := rs.Policy[class].Processing; pr != nil && pr.Processing != nil && v.r.isGiven(p+".processing") {
			v.problemf(p+".processing.processing", "a processing rule takes within and provider_parent_not_in only")
		}
	}
	v.residencyStores()
	v.residencyServices()
	for _, name := range sortedKeys(rs.Upstreams) {
		p := keyPath("residency.upstreams", name)
		if _, ok := v.c.Upstreams[name]; !ok {
			v.problemf(p, "upstream %q is not defined in upstreams; %s", name, defined("upstreams", name, sortedKeys(v.c.Upstreams)))
			continue
		}
		u := rs.Upstreams[name]
		if u.Location != nil {
			v.location(p+".location", u.Location)
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
}

func (v validator) residencyStores() {
	rs := &v.c.Residency
	clusters := map[string]string{}
	for _, name := range sortedKeys(rs.Stores) {
		p := keyPath("residency.stores", name)
		s := rs.Stores[name]
		v.residencyStore(p, name, s)
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
}

func (v validator) residencyServices() {
	rs := &v.c.Residency
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

func (v validator) residencyStore(p, name string, s *ResidencyStore) {
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
		v.location(p+".location", s.Location)
	}
	for i, l := range s.Replicas {
		v.location(indexPath(p+".replicas", i), l)
	}
	for i, l := range s.Backups {
		v.location(indexPath(p+".backups", i), l)
	}
	v.dataClasses(p+".data_classes", s.DataClasses)
}

// location checks that a location declares something, and a region with
// its provider; residency.Check places it in the provider table.
func (v validator) location(p string, l *Location) {
	if l.IsZero() {
		v.problemf(p, "is empty; declare provider and region (such as {provider: aws, region: eu-north-1}), or country")
		return
	}
	if l.Provider == "" && l.Region != "" {
		v.problemf(p+".region", "region %q needs its provider (provider: aws, gcp, azure, ...)", l.Region)
	}
}
