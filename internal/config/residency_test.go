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
	if p := c.Residency.Policy["public"].Processing; p == nil || len(p.Within)+len(p.ProviderParentNotIn) > 0 {
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

func TestResidencySectionShapeProblems(t *testing.T) {
	policy := "residency:\n  policy:\n    personal: {within: EEA}\n    public: {}\n"
	accounts := "  upstreams:\n    accounts:\n      location: {provider: hetzner, region: fsn1}\n"
	checkProblemCases(t, []problemCase{
		{"class without a policy", residencyDoc(`routes:
  - upstream: fx
    data_classes: [personel] #<
`, policy), "routes[0].data_classes[0]", `data class "personel" has no policy; did you mean "personal"?`},
		{"scalar or list only", residencyDoc("residency:\n  policy:\n    personal: {within: {a: b}} #<\n    public: {}\n" + accounts),
			"residency.policy.personal.within", "expected an area or a country code such as EEA"},
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
		{"region without its provider", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {region: eu-north-1} #<\n"),
			"residency.stores.db.location.region", `region "eu-north-1" needs its provider`},
	})
}
