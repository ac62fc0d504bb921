package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Residency declares where data lives and where it may live: the location
// of every stateful store and upstream, the data classes each holds or
// handles, and a policy per data class. config decodes it and checks its
// shape and references; internal/residency evaluates the policy
// (`skjold residency check`), and its Check makes check and serve refuse a
// route that sends a class of data to an upstream outside the class's
// policy. docs/residency.md explains the model.
type Residency struct {
	// Policy maps each data class to where its data may be. An empty rule
	// ("public: {}") allows any location. Once any policy is given, every
	// data class used in the config (routes, stores, services, upstreams)
	// must have one. Default: none, and nothing is checked.
	Policy map[string]*ResidencyRule `yaml:"policy,omitempty"`
	// Stores are the stateful stores (databases, object stores, caches,
	// queues, backups), keyed by a name of your choosing. Default: none.
	Stores map[string]*ResidencyStore `yaml:"stores,omitempty"`
	// Services say which data classes each service handles and which
	// stores it keeps them in, keyed by service name. Default: none.
	Services map[string]*ResidencyService `yaml:"services,omitempty"`
	// Upstreams say where the gateway's upstreams run, keyed by the
	// upstream's name in the upstreams section. Default: none.
	Upstreams map[string]*ResidencyUpstream `yaml:"upstreams,omitempty"`
	// Providers extends the built-in table of providers and their regions,
	// keyed by provider name (lower case). Default: none.
	Providers map[string]*ResidencyProvider `yaml:"providers,omitempty"`
	// Areas names groups of countries for policies, keyed by area name, in
	// addition to the built-in EU, EEA, ADEQUATE and NORDICS. Members are
	// ISO 3166-1 alpha-2 country codes or other areas. Default: none.
	Areas map[string][]string `yaml:"areas,omitempty"`
}

// ResidencyRule limits where one class of data may be.
type ResidencyRule struct {
	// Within lists the areas (EU, EEA, ADEQUATE, NORDICS, or one of
	// residency.areas) and countries (ISO 3166-1 alpha-2 codes such as NO)
	// that every copy of the data must be in: primary, replicas and
	// backups. One entry may be written without brackets ("within: EEA").
	// Default: anywhere.
	Within Places `yaml:"within,omitempty"`
	// ProviderParentNotIn lists areas and countries where the parent company
	// of the provider running a copy must not be: "[US]" keeps the data away
	// from providers the US CLOUD Act reaches, wherever their data centre
	// is. Default: none.
	ProviderParentNotIn Places `yaml:"provider_parent_not_in,omitempty"`
	// Processing is the rule for upstreams that handle the data without
	// storing it: the places the gateway's routes send it. It takes within
	// and provider_parent_not_in, and nothing else. Default: the same rule
	// as for storing.
	Processing *ResidencyRule `yaml:"processing,omitempty"`
}

// Places is a list of areas and countries. In YAML it is a list, or a
// single name for a list of one.
type Places []string

// UnmarshalYAML accepts "EEA" as well as "[EEA, CH]".
func (p *Places) UnmarshalYAML(n *yaml.Node) error {
	const want = "expected an area or a country code such as EEA, or a list such as [EEA, CH]"
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			return fmt.Errorf("%s, got an empty string", want)
		}
		*p = Places{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(Places, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s, got a list holding %s", want, describe(item))
			}
			out = append(out, item.Value)
		}
		*p = out
		return nil
	}
	return fmt.Errorf("%s, got %s", want, describe(n))
}

// Kinds of store (ResidencyStore.Kind).
const (
	StoreDatabase    = "database"
	StoreObjectStore = "object_store"
	StoreCache       = "cache"
	StoreQueue       = "queue"
	StoreBackup      = "backup"
)

// storeKinds lists the accepted store kinds, in the order messages list
// them.
func storeKinds() []string {
	return []string{StoreDatabase, StoreObjectStore, StoreCache, StoreQueue, StoreBackup}
}

// ResidencyStore is one stateful store and every copy of its data.
type ResidencyStore struct {
	// Kind is database, object_store, cache, queue or backup. Required,
	// unless Cluster is set. Default with Cluster: database.
	Kind string `yaml:"kind,omitempty"`
	// Cluster names the database cluster of the databases section that
	// this store is; the store then also holds the data classes of the
	// services whose databases are on it. Default: none.
	Cluster string `yaml:"cluster,omitempty"`
	// Description says what the store is for, for the report. Default:
	// none.
	Description string `yaml:"description,omitempty"`
	// Location of the primary copy. A store without one fails every
	// policy that restricts a class it holds. Default: none.
	Location *Location `yaml:"location,omitempty"`
	// Replicas are further live copies, each a location. A replica that
	// names no provider is at the store's provider. Default: none.
	Replicas []*Location `yaml:"replicas,omitempty"`
	// Backups are where backups and snapshots go, each a location. A
	// backup that names no provider is at the store's provider. Default:
	// none.
	Backups []*Location `yaml:"backups,omitempty"`
	// DataClasses the store holds, in addition to those of the services
	// that use it (residency.services) and of the databases on its
	// cluster. Default: none.
	DataClasses []string `yaml:"data_classes,omitempty"`
}

// Location is where a store, a copy of one, or an upstream runs. Give a
// provider and region the built-in table knows, or the country (and, for
// a provider the table does not know, the country of its parent company).
type Location struct {
	// Provider is a provider of the table: aws, azure, digitalocean, gcp,
	// hetzner, oracle, ovh, scaleway, upcloud, or one added under
	// residency.providers. Another name is allowed with country and
	// provider_parent. Default: none.
	Provider string `yaml:"provider,omitempty"`
	// Region is the provider's region name ("eu-north-1", "norwayeast",
	// "hel1"); a zone inside it ("eu-north-1a") works too. Default: none.
	Region string `yaml:"region,omitempty"`
	// Country is the ISO 3166-1 alpha-2 code of the country the data is
	// in. Required when the table does not know the region; must agree
	// with it when it does. Default: the region's country.
	Country string `yaml:"country,omitempty"`
	// ProviderParent is the ISO 3166-1 alpha-2 code of the country the
	// provider's parent company is in. Required for a provider the table
	// does not know; must agree with it when it does. Default: the
	// provider's, from the table.
	ProviderParent string `yaml:"provider_parent,omitempty"`
}

// IsZero reports whether the location declares nothing.
func (l *Location) IsZero() bool { return l == nil || *l == Location{} }

// ResidencyService declares what data a service handles.
type ResidencyService struct {
	// DataClasses the service handles. Default: none.
	DataClasses []string `yaml:"data_classes,omitempty"`
	// Stores the service keeps its data in (names in residency.stores);
	// each then holds the service's data classes. Default: none.
	Stores []string `yaml:"stores,omitempty"`
	// Upstream is the gateway upstream the service runs behind (a name in
	// upstreams); it then processes the service's data classes. Default:
	// none.
	Upstream string `yaml:"upstream,omitempty"`
}

// ResidencyUpstream says where an upstream's targets run.
type ResidencyUpstream struct {
	// Location of the upstream's targets. Required for an upstream that
	// routes or services send restricted data to.
	Location *Location `yaml:"location,omitempty"`
	// DataClasses the upstream handles, in addition to those of the routes
	// that forward to it and the services behind it. Default: none.
	DataClasses []string `yaml:"data_classes,omitempty"`
}

// ResidencyProvider adds a provider to the table, or regions to a known
// one.
type ResidencyProvider struct {
	// Name to show in reports. Default: the built-in name, or the key.
	Name string `yaml:"name,omitempty"`
	// Parent is the ISO 3166-1 alpha-2 code of the country the provider's
	// parent company is in. Required for a provider the table does not
	// know; replaces the table's for one it does. Default: the table's.
	Parent string `yaml:"parent,omitempty"`
	// Regions maps region names to the ISO 3166-1 alpha-2 code of their
	// country ("osl1: NO"). Default: none.
	Regions map[string]string `yaml:"regions,omitempty"`
}

// residencyDefaults fills the residency section's defaults: a store with a
// cluster is a database, a replica or backup that names no provider is at
// its store's, and a policy without a processing rule uses its storing
// rule for processing.
func residencyDefaults(c *Config) {
	rs := &c.Residency
	for _, name := range sortedKeys(rs.Stores) {
		s := rs.Stores[name]
		if s == nil {
			s = &ResidencyStore{}
			rs.Stores[name] = s
		}
		if s.Kind == "" && s.Cluster != "" {
			s.Kind = StoreDatabase
		}
		if s.Location == nil {
			continue
		}
		for _, copies := range [][]*Location{s.Replicas, s.Backups} {
			for _, l := range copies {
				// An empty location stays empty, for validation to report.
				if l != nil && l.Provider == "" && !l.IsZero() {
					l.Provider = s.Location.Provider
					if l.ProviderParent == "" {
						l.ProviderParent = s.Location.ProviderParent
					}
				}
			}
		}
	}
	for _, name := range sortedKeys(rs.Policy) {
		p := rs.Policy[name]
		if p == nil {
			p = &ResidencyRule{}
			rs.Policy[name] = p
		}
		if p.Processing == nil {
			p.Processing = &ResidencyRule{Within: p.Within, ProviderParentNotIn: p.ProviderParentNotIn}
		}
	}
	for k, v := range rs.Services {
		if v == nil {
			rs.Services[k] = &ResidencyService{}
		}
	}
	for k, v := range rs.Upstreams {
		if v == nil {
			rs.Upstreams[k] = &ResidencyUpstream{}
		}
	}
	for k, v := range rs.Providers {
		if v == nil {
			rs.Providers[k] = &ResidencyProvider{}
		}
	}
}
