package residency

import (
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/config"
)

// loc builds a location: loc("aws", "eu-north-1"), loc("", "", "NO").
func loc(provider, region string, countryAndParent ...string) *config.Location {
	l := &config.Location{Provider: provider, Region: region}
	if len(countryAndParent) > 0 {
		l.Country = countryAndParent[0]
	}
	if len(countryAndParent) > 1 {
		l.ProviderParent = countryAndParent[1]
	}
	return l
}

// guidePolicy is the policy of the field guide's setup.
func guidePolicy() map[string]*config.ResidencyRule {
	return map[string]*config.ResidencyRule{
		"personal": {Within: config.Places{"EEA"}, ProviderParentNotIn: config.Places{"US"}},
		"public":   {},
	}
}

// evaluate builds a config holding one store named "db", lets edit change
// it, and evaluates it.
func evaluate(t *testing.T, store *config.ResidencyStore, edit func(*config.Config)) *Result {
	t.Helper()
	c := &config.Config{
		Source: "test.yaml", Version: "0123456789ab",
		Upstreams: map[string]*config.Upstream{"app": {Targets: []*config.Target{{Address: "127.0.0.1:9000"}}}},
		Residency: config.Residency{
			Policy: guidePolicy(),
			Stores: map[string]*config.ResidencyStore{},
		},
	}
	if store != nil {
		c.Residency.Stores["db"] = store
	}
	if edit != nil {
		edit(c)
	}
	config.ApplyDefaults(c)
	return Evaluate(c)
}

func TestStoreVerdicts(t *testing.T) {
	personal := []string{"personal"}
	norsk := func(c *config.Config) {
		c.Residency.Providers = map[string]*config.ResidencyProvider{
			"norsk-vps": {Name: "Norsk VPS AS", Parent: "NO", Regions: map[string]string{"osl1": "NO", "osl2": "NO"}},
		}
	}
	for _, tc := range []struct {
		name  string
		store *config.ResidencyStore
		edit  func(*config.Config)
		// want is the verdict; rule, copy and reason describe the deciding
		// finding (reason as a substring).
		want             Verdict
		rule, copy, why  string
		classesFromNames string
	}{
		{
			name:  "Norwegian provider in Norway passes",
			store: &config.ResidencyStore{Kind: "database", Location: loc("norsk-vps", "osl1"), DataClasses: personal},
			edit:  norsk,
			want:  Pass, rule: "residency.policy.personal", why: "NO (Norway, EEA) is in EEA",
		},
		{
			name:  "Frankfurt is not enough when the parent is American",
			store: &config.ResidencyStore{Kind: "database", Location: loc("aws", "eu-central-1"), DataClasses: personal},
			want:  Violation, rule: "residency.policy.personal.provider_parent_not_in", copy: "primary",
			why: "Amazon Web Services's parent company is in US (United States",
		},
		{
			name:  "Azure in Norway breaks the parent-company rule",
			store: &config.ResidencyStore{Kind: "object_store", Location: loc("azure", "norwayeast"), DataClasses: personal},
			want:  Violation, rule: "residency.policy.personal.provider_parent_not_in", copy: "primary", why: "Microsoft Azure",
		},
		{
			name:  "a German provider in Finland passes",
			store: &config.ResidencyStore{Kind: "cache", Location: loc("hetzner", "hel1"), DataClasses: personal},
			want:  Pass, why: "FI (Finland, EU) is in EEA",
		},
		{
			name:  "London is outside the EEA",
			store: &config.ResidencyStore{Kind: "database", Location: loc("aws", "eu-west-2"), DataClasses: personal},
			want:  Violation, rule: "residency.policy.personal.within", copy: "primary", why: "GB (United Kingdom, adequacy decision 2021-06-28) is not in EEA",
		},
		{
			name:  "Zurich is outside the EEA",
			store: &config.ResidencyStore{Kind: "database", Location: loc("aws", "eu-central-2"), DataClasses: personal},
			want:  Violation, rule: "residency.policy.personal.within", copy: "primary", why: "CH (Switzerland",
		},
		{
			name: "a replica outside the area is a violation",
			store: &config.ResidencyStore{Kind: "database", Location: loc("hetzner", "fsn1"), DataClasses: personal,
				Replicas: []*config.Location{loc("hetzner", "nbg1"), loc("hetzner", "ash")}},
			want: Violation, rule: "residency.policy.personal.within", copy: "replica 2", why: "US (United States",
		},
		{
			name: "a backup outside the area is a violation",
			store: &config.ResidencyStore{Kind: "database", Location: loc("hetzner", "fsn1"), DataClasses: personal,
				Backups: []*config.Location{loc("swiss-vault", "", "CH", "CH")}},
			want: Violation, rule: "residency.policy.personal.within", copy: "backup 1", why: "CH (Switzerland",
		},
		{
			name: "a backup at a US-owned provider inside the EEA is a violation",
			store: &config.ResidencyStore{Kind: "database", Location: loc("hetzner", "fsn1"), DataClasses: personal,
				Backups: []*config.Location{loc("gcp", "europe-north1")}},
			want: Violation, rule: "residency.policy.personal.provider_parent_not_in", copy: "backup 1", why: "Google Cloud",
		},
		{
			name: "a backup without a provider is at the store's provider",
			store: &config.ResidencyStore{Kind: "database", Location: loc("hetzner", "hel1"), DataClasses: personal,
				Backups: []*config.Location{loc("", "fsn1"), loc("", "sin")}},
			want: Violation, rule: "residency.policy.personal.within", copy: "backup 2", why: "SG (Singapore",
		},
		{
			name:  "replicas and backups inside the area pass",
			store: &config.ResidencyStore{Kind: "database", Location: loc("upcloud", "fi-hel1"), DataClasses: personal, Replicas: []*config.Location{loc("", "se-sto1")}, Backups: []*config.Location{loc("ovh", "gra")}},
			want:  Pass, rule: "residency.policy.personal", why: "all 3 copies pass",
		},
		{
			name:  "no location holding personal data is a violation",
			store: &config.ResidencyStore{Kind: "queue", DataClasses: personal},
			want:  Violation, rule: "residency.policy.personal.within", copy: "primary", why: "the country is not known (no location is declared)",
		},
		{
			name:  "no location holding public data passes",
			store: &config.ResidencyStore{Kind: "queue", DataClasses: []string{"public"}},
			want:  Pass, rule: "residency.policy.public", why: "the policy allows any location",
		},
		{
			name:  "an unknown region is a violation",
			store: &config.ResidencyStore{Kind: "database", Location: loc("aws", "eu-nowhere-1"), DataClasses: personal},
			want:  Violation, rule: "residency.policy.personal.within", copy: "primary", why: `aws has no region "eu-nowhere-1"`,
		},
		{
			name:  "an unknown provider's parent is a violation under the parent rule",
			store: &config.ResidencyStore{Kind: "database", Location: loc("tiny-host", "", "NO"), DataClasses: personal},
			want:  Violation, rule: "residency.policy.personal.provider_parent_not_in", copy: "primary", why: "is not known",
		},
		{
			name:  "an unknown provider with a declared parent passes",
			store: &config.ResidencyStore{Kind: "database", Location: loc("tiny-host", "", "NO", "NO"), DataClasses: personal},
			want:  Pass,
		},
		{
			name:  "a store that declares no data class is a violation",
			store: &config.ResidencyStore{Kind: "cache", Location: loc("hetzner", "fsn1")},
			want:  Violation, rule: "residency.stores.db.data_classes", why: "holds no declared data class",
		},
		{
			name:  "a class without a policy is a violation",
			store: &config.ResidencyStore{Kind: "cache", Location: loc("hetzner", "fsn1"), DataClasses: []string{"health"}},
			want:  Violation, rule: "residency.policy.health", why: `data class "health" has no policy`,
		},
		{
			name:  "ADEQUATE admits Switzerland",
			store: &config.ResidencyStore{Kind: "database", Location: loc("aws", "eu-central-2"), DataClasses: personal},
			edit: func(c *config.Config) {
				c.Residency.Policy["personal"] = &config.ResidencyRule{Within: config.Places{"EEA", "ADEQUATE"}}
			},
			want: Pass, why: "CH (Switzerland, adequacy decision 2000-07-26) is in EEA, ADEQUATE",
		},
		{
			name:  "ADEQUATE does not admit a partial decision",
			store: &config.ResidencyStore{Kind: "database", Location: loc("aws", "us-east-1"), DataClasses: personal},
			edit: func(c *config.Config) {
				c.Residency.Policy["personal"] = &config.ResidencyRule{Within: config.Places{"EEA", "ADEQUATE"}}
			},
			want: Violation, rule: "residency.policy.personal.within", copy: "primary",
		},
		{
			name:  "an area from the config",
			store: &config.ResidencyStore{Kind: "database", Location: loc("upcloud", "dk-cph1"), DataClasses: personal, Backups: []*config.Location{loc("upcloud", "fi-hel1")}},
			edit: func(c *config.Config) {
				c.Residency.Areas = map[string][]string{"home": {"NO", "DK"}}
				c.Residency.Policy["personal"] = &config.ResidencyRule{Within: config.Places{"home"}}
			},
			want: Violation, rule: "residency.policy.personal.within", copy: "backup 1", why: "FI (Finland, EU) is not in home",
		},
		{
			name:  "a region added to a built-in provider",
			store: &config.ResidencyStore{Kind: "database", Location: loc("hetzner", "osl9"), DataClasses: personal},
			edit: func(c *config.Config) {
				c.Residency.Providers = map[string]*config.ResidencyProvider{"hetzner": {Regions: map[string]string{"osl9": "NO"}}}
			},
			want: Pass, why: "NO (Norway, EEA) is in EEA; Hetzner's parent company is in DE, outside US",
		},
		{
			name:  "a cluster holds the classes of the databases on it",
			store: &config.ResidencyStore{Kind: "database", Cluster: "main", Location: loc("aws", "eu-north-1")},
			edit: func(c *config.Config) {
				c.Databases.Clusters = map[string]*config.DBCluster{"main": {Engine: config.EngineMySQL}}
				c.Databases.Services = map[string]*config.DBService{
					"accounts": {Cluster: "main", DataClass: "personal"},
					"fx":       {Cluster: "main", DataClass: "public"},
				}
			},
			want: Violation, rule: "residency.policy.personal.provider_parent_not_in", copy: "primary",
			classesFromNames: "personal (database of service accounts), public (database of service fx)",
		},
		{
			name:  "a store holds the classes of the services that use it",
			store: &config.ResidencyStore{Kind: "object_store", Location: loc("hetzner", "fsn1"), DataClasses: []string{"public"}},
			edit: func(c *config.Config) {
				c.Residency.Services = map[string]*config.ResidencyService{"accounts": {DataClasses: personal, Stores: []string{"db"}}}
			},
			want: Pass, classesFromNames: "personal (service accounts), public (declared)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(t, tc.store, tc.edit)
			var s *Store
			for i := range res.Stores {
				if res.Stores[i].Name == "db" {
					s = &res.Stores[i]
				}
			}
			if s == nil {
				t.Fatalf("store db missing from %+v", res.Stores)
			}
			d := s.Decision
			if s.Verdict != tc.want {
				t.Errorf("verdict %s, want %s (decided by %s %s: %s)", s.Verdict, tc.want, d.Rule, d.Copy, d.Reason)
			}
			if tc.rule != "" && d.Rule != tc.rule {
				t.Errorf("decided by %q, want %q", d.Rule, tc.rule)
			}
			if tc.copy != "" && d.Copy != tc.copy {
				t.Errorf("decided on copy %q, want %q", d.Copy, tc.copy)
			}
			if !strings.Contains(d.Reason, tc.why) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tc.why)
			}
			if tc.classesFromNames != "" {
				if got := classList(s.Classes); got != tc.classesFromNames {
					t.Errorf("classes %q, want %q", got, tc.classesFromNames)
				}
			}
			wantViolations := 0
			if tc.want == Violation {
				wantViolations = 1
			}
			if res.Violations != wantViolations {
				t.Errorf("%d violations, want %d", res.Violations, wantViolations)
			}
		})
	}
}

func TestClusterWithoutDeclaredLocationIsAViolation(t *testing.T) {
	res := evaluate(t, nil, func(c *config.Config) {
		c.Databases.Clusters = map[string]*config.DBCluster{"main": {Engine: config.EnginePostgres}}
		c.Databases.Services = map[string]*config.DBService{"accounts": {Cluster: "main", DataClass: "personal"}}
	})
	if len(res.Stores) != 1 {
		t.Fatalf("stores %+v, want the cluster alone", res.Stores)
	}
	s := res.Stores[0]
	if s.Name != "main" || s.Cluster != "main" || s.Verdict != Violation || !strings.Contains(s.Decision.Reason, "no location is declared") {
		t.Errorf("got %s cluster %q %s: %s", s.Name, s.Cluster, s.Verdict, s.Decision.Reason)
	}
}

func TestUpstreamProcessing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		at         *config.Location
		processing *config.ResidencyRule
		want       Verdict
		rule, why  string
	}{
		{"a hyperscaler in the EEA breaks the storing rule by default", loc("aws", "eu-north-1"), nil,
			Violation, "residency.policy.personal.provider_parent_not_in", "Amazon Web Services's parent company"},
		{"a hyperscaler in the EEA passes a processing rule of within EEA", loc("aws", "eu-north-1"), &config.ResidencyRule{Within: config.Places{"EEA"}},
			Pass, "residency.policy.personal.processing", "SE (Sweden, EU) is in EEA"},
		{"the US fails a processing rule of within EEA", loc("gcp", "us-central1"), &config.ResidencyRule{Within: config.Places{"EEA"}},
			Violation, "residency.policy.personal.processing.within", "US (United States"},
		{"an upstream without a location fails", nil, &config.ResidencyRule{Within: config.Places{"EEA"}},
			Violation, "residency.policy.personal.processing.within", "no location is declared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := evaluate(t, nil, func(c *config.Config) {
				c.Routes = []*config.Route{{Name: "accounts", Upstream: "app", DataClasses: []string{"personal"}}}
				c.Residency.Policy["personal"].Processing = tc.processing
				if tc.at != nil {
					c.Residency.Upstreams = map[string]*config.ResidencyUpstream{"app": {Location: tc.at}}
				}
			})
			if len(res.Upstreams) != 1 {
				t.Fatalf("upstreams %+v", res.Upstreams)
			}
			u := res.Upstreams[0]
			if u.Verdict != tc.want || u.Decision.Rule != tc.rule || !strings.Contains(u.Decision.Reason, tc.why) {
				t.Errorf("got %s by %s: %s; want %s by %s: ...%s...", u.Verdict, u.Decision.Rule, u.Decision.Reason, tc.want, tc.rule, tc.why)
			}
			if got := classList(u.Classes); got != "personal (route accounts)" {
				t.Errorf("classes %q", got)
			}
		})
	}
}
