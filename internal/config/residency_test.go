package config

import (
	"strings"
	"testing"
)

// residencyDoc is a valid config with two upstreams, a personal route to
// each and the field guide's policy; parts replace its sections.
func residencyDoc(sections ...string) string {
	base := []string{
		"upstreams:\n  accounts:\n    targets: [{address: 127.0.0.1:9201}]\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n",
		"routes:\n  - name: accounts\n    match: {path_prefix: /accounts/}\n    upstream: accounts\n    data_classes: [personal]\n" +
			"  - name: fx\n    match: {path_prefix: /fx/}\n    upstream: fx\n    data_classes: [public]\n",
	}
	return doc(append(base, sections...)...)
}

const guidePolicy = `  policy:
    personal:
      within: EEA
      provider_parent_not_in: [US]
      processing: {within: EEA}
    public: {}
`

func TestResidencyExampleParses(t *testing.T) {
	c, err := Parse("t.yaml", []byte(residencyDoc("residency:\n"+guidePolicy+`  upstreams:
    accounts:
      location: {provider: aws, region: eu-north-1}
  stores:
    db:
      kind: database
      location: {provider: hetzner, region: hel1}
      replicas: [{region: fsn1}]
      backups: [{provider: upcloud, region: se-sto1}]
      data_classes: [personal]
`)))
	if err != nil {
		t.Fatal(err)
	}
	db := c.Residency.Stores["db"]
	if got := db.Replicas[0].Provider; got != "hetzner" {
		t.Errorf("replica provider %q, want the store's (hetzner)", got)
	}
	if got := db.Backups[0].Provider; got != "upcloud" {
		t.Errorf("backup provider %q, want its own (upcloud)", got)
	}
	if p := c.Residency.Policy["public"].Processing; p == nil || p.Geo().Restricts() {
		t.Errorf("public's processing rule %+v, want the (empty) storing rule", p)
	}
	if p := c.Residency.Policy["personal"].Processing; len(p.ProviderParentNotIn) != 0 || len(p.Within) != 1 {
		t.Errorf("personal's processing rule %+v, want within EEA only", p)
	}
}

func TestProcessingRuleDefaultsToTheStoringRule(t *testing.T) {
	c, err := Parse("t.yaml", []byte(residencyDoc(`residency:
  policy:
    personal: {within: [EEA, CH], provider_parent_not_in: US}
    public: {}
  upstreams:
    accounts:
      location: {provider: hetzner, region: fsn1}
`)))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Residency.Policy["personal"].Processing
	if p == nil || strings.Join(p.Within, ",") != "EEA,CH" || strings.Join(p.ProviderParentNotIn, ",") != "US" {
		t.Errorf("processing rule %+v, want within [EEA CH], provider_parent_not_in [US]", p)
	}
}

func TestConfigWithoutResidencyIsUnchecked(t *testing.T) {
	// Routes may name data classes before any policy exists.
	if _, err := Parse("t.yaml", []byte(residencyDoc())); err != nil {
		t.Fatal(err)
	}
}

func TestRoutesSendingDataOutsideThePolicyAreRefused(t *testing.T) {
	routes := `routes:
  - name: fx
    match: {path_prefix: /fx/}
    upstream: fx
    data_classes: [public]
  - name: accounts #<
    match: {path_prefix: /accounts/}
    upstream: accounts
    data_classes: [personal]
`
	checkProblemCases(t, []problemCase{
		{"upstream outside the area", residencyDoc(routes, `residency:
  policy:
    personal:
      within: EEA #^
    public: {}
  upstreams:
    accounts:
      location: {provider: aws, region: us-east-1}
`), "routes[1]", `route "accounts" sends "personal" data to upstream "accounts", which breaks residency.policy.personal.within`},
		{"upstream run by an excluded parent", residencyDoc(routes, `residency:
  policy:
    personal:
      within: EEA
      provider_parent_not_in: [US] #^
    public: {}
  upstreams:
    accounts:
      location: {provider: azure, region: norwayeast}
`), "routes[1]", `breaks residency.policy.personal.provider_parent_not_in (line `},
		{"processing rule", residencyDoc(routes, `residency:
  policy:
    personal:
      within: EEA
      provider_parent_not_in: [US]
      processing:
        within: NORDICS #^
    public: {}
  upstreams:
    accounts:
      location: {provider: aws, region: eu-central-1}
`), "routes[1]", `breaks residency.policy.personal.processing.within (line `},
		{"upstream without a location", residencyDoc(routes, `residency:
  policy:
    personal: {within: EEA} #^
    public: {}
`), "routes[1]", "declare where the upstream runs in residency.upstreams.accounts.location"},
	})
}

func TestRefusalNamesRouteUpstreamRuleAndCountry(t *testing.T) {
	ps := problemsOf(t, residencyDoc(`residency:
  policy:
    personal: {within: EEA}
    public: {}
  upstreams:
    accounts:
      location: {provider: aws, region: eu-west-2}
`))
	if len(ps) != 1 {
		t.Fatalf("%d problems: %v", len(ps), ps)
	}
	want := `test.yaml:17:5: routes[0]: route "accounts" sends "personal" data to upstream "accounts", which breaks residency.policy.personal.within (line 3): GB (United Kingdom, adequacy decision 2021-06-28) is not in EEA`
	if got := ps[0].String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestServicesAndUpstreamsSendingDataOutsideThePolicyAreRefused(t *testing.T) {
	checkProblemCases(t, []problemCase{
		{"service behind an upstream", residencyDoc(`residency:
  policy:
    personal: {within: EEA}
    public: {}
    health: {within: NO}
  services:
    journal:
      data_classes: [health]
      upstream: fx #<
  upstreams:
    accounts:
      location: {provider: hetzner, region: fsn1}
    fx:
      location: {provider: hetzner, region: fsn1}
`), "residency.services.journal.upstream", `service "journal" handles "health" data behind upstream "fx", which breaks residency.policy.health.within`},
		{"service of the databases section", residencyDoc(`databases:
  clusters:
    main: {engine: postgres, admin_dsn_env: PG}
  services:
    journal: {data_class: health}
`, `services:
  journal:
    upstream: fx #<
    command: ./journal
`, `residency:
  policy:
    personal: {within: EEA}
    public: {}
    health: {within: NO}
  upstreams:
    accounts:
      location: {provider: hetzner, region: fsn1}
    fx:
      location: {provider: hetzner, region: fsn1}
`), "services.journal.upstream", `service "journal" handles "health" data behind upstream "fx"`},
		{"upstream's own classes", residencyDoc(`residency:
  policy:
    personal: {within: EEA}
    public: {}
  upstreams:
    accounts:
      location: {provider: hetzner, region: fsn1}
    fx:
      location: {provider: aws, region: us-east-1}
      data_classes: [personal] #<
`), "residency.upstreams.fx.data_classes", `upstream "fx" handles "personal" data, which breaks residency.policy.personal.within`},
	})
}

func TestResidencyProblems(t *testing.T) {
	policy := "residency:\n  policy:\n    personal: {within: EEA}\n    public: {}\n"
	accounts := "  upstreams:\n    accounts:\n      location: {provider: hetzner, region: fsn1}\n"
	checkProblemCases(t, []problemCase{
		{"class without a policy", residencyDoc(`routes:
  - upstream: fx
    data_classes: [personel] #<
`, policy), "routes[0].data_classes[0]", `data class "personel" has no policy; did you mean "personal"?`},
		{"unknown area", residencyDoc("residency:\n  policy:\n    personal: {within: EEE} #<\n    public: {}\n" + accounts),
			"residency.policy.personal.within[0]", `"EEE" is neither an area nor an ISO 3166-1 country code; did you mean "EEA"?`},
		{"scalar or list only", residencyDoc("residency:\n  policy:\n    personal: {within: {a: b}} #<\n    public: {}\n" + accounts),
			"residency.policy.personal.within", "expected an area or a country code such as EEA"},
		{"unknown provider", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: hetzer, region: fsn1} #<\n      data_classes: [personal]\n"),
			"residency.stores.db.location.provider", `provider "hetzer" is not in the table; did you mean "hetzner"?`},
		{"unknown region", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: aws, region: eu-nort-1} #<\n"),
			"residency.stores.db.location.region", `aws has no region "eu-nort-1" in the table; did you mean "eu-north-1"?`},
		{"country contradicts region", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: aws, region: eu-central-2, country: DE} #<\n"),
			"residency.stores.db.location.country", "is DE, but aws region eu-central-2 is in CH (Switzerland)"},
		{"parent contradicts table", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: aws, region: eu-north-1, provider_parent: SE} #<\n"),
			"residency.stores.db.location.provider_parent", "the table has aws's parent company in US"},
		{"empty backup", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {country: NO, provider: own, provider_parent: NO}\n      backups:\n        - {} #<\n"),
			"residency.stores.db.backups[0]", "is empty"},
		{"store kind", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: databse #<\n"),
			"residency.stores.db.kind", `did you mean "database"?`},
		{"store of an unknown cluster", residencyDoc(policy + accounts + "  stores:\n    db:\n      cluster: main #<\n"),
			"residency.stores.db.cluster", `cluster "main" is not defined in databases.clusters`},
		{"service using an unknown store", residencyDoc(policy + accounts + "  stores:\n    sessions: {kind: cache}\n  services:\n    web:\n      stores: [sesions] #<\n"),
			"residency.services.web.stores[0]", `store "sesions" is not defined; did you mean "sessions"?`},
		{"location of an unknown upstream", residencyDoc(policy + accounts + "    acounts: #<\n      location: {country: NO}\n"),
			"residency.upstreams.acounts", `upstream "acounts" is not defined in upstreams; did you mean "accounts"?`},
		{"new provider without parent", residencyDoc(policy + accounts + "  providers:\n    norsk-vps: #<\n      regions: {osl1: NO}\n"),
			"residency.providers.norsk-vps", "parent is required"},
		{"region in an unknown country", residencyDoc(policy + accounts + "  providers:\n    norsk-vps:\n      parent: NO\n      regions: {osl1: Norway} #<\n"),
			`residency.providers.norsk-vps.regions.osl1`, `"Norway" is not an ISO 3166-1 country code`},
		{"redefined built-in area", residencyDoc(policy + accounts + "  areas:\n    eea: [NO] #<\n"),
			"residency.areas.eea", "EEA is a built-in area"},
		{"area named like a country", residencyDoc(policy + accounts + "  areas:\n    no: [NO, SE] #<\n"),
			"residency.areas.no", "at least three letters"},
	})
}

func TestResidencyExtensionsAreUsable(t *testing.T) {
	_, err := Parse("t.yaml", []byte(residencyDoc(`residency:
  providers:
    norsk-vps:
      name: Norsk VPS AS
      parent: NO
      regions: {osl1: NO}
    aws:
      regions: {eu-north-9: SE}
  areas:
    home: [NO, DK]
    homeish: [home, SE]
  policy:
    personal: {within: homeish}
    public: {}
  upstreams:
    accounts:
      location: {provider: norsk-vps, region: osl1}
  stores:
    db:
      kind: database
      location: {provider: aws, region: eu-north-9}
`)))
	if err != nil {
		t.Fatal(err)
	}
}
