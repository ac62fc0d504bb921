package residency

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/config"
)

// residencyDoc is a valid config with two upstreams, accounts and fx, a
// route for personal data to accounts and one for public data to fx;
// sections are appended, and a routes section replaces the routes.
func residencyDoc(sections ...string) string {
	routes := "routes:\n  - name: accounts\n    match: {path_prefix: /accounts/}\n    upstream: accounts\n    data_classes: [personal]\n" +
		"  - name: fx\n    match: {path_prefix: /fx/}\n    upstream: fx\n    data_classes: [public]\n"
	var rest strings.Builder
	for _, s := range sections {
		if strings.HasPrefix(s, "routes:") {
			routes = s
			continue
		}
		rest.WriteString(s)
	}
	return rest.String() + "listeners:\n  public:\n    address: 127.0.0.1:8080\n" +
		"upstreams:\n  accounts:\n    targets: [{address: 127.0.0.1:9201}]\n  fx:\n    targets: [{address: 127.0.0.1:9103}]\n" + routes
}

// refusals parses doc with Check and returns its problems; it fails the
// test if doc parses cleanly or fails some other way.
func refusals(t *testing.T, doc string) []config.Problem {
	t.Helper()
	_, err := config.Parse("test.yaml", []byte(doc), Check)
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse with Check: %v; want a *config.ValidationError for:\n%s", err, doc)
	}
	return ve.Problems
}

type refusalCase struct {
	name, doc, path, msg string
}

// checkRefusals asserts that each document has exactly one problem, at the
// given path, placed by config on the line marked "#<" with a column, with
// a message containing msg (and naming the line marked "#^", if any).
func checkRefusals(t *testing.T, cases []refusalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines := strings.Split(tc.doc, "\n")
			mark := func(m string) int {
				for i, l := range lines {
					if strings.Contains(l, m) {
						return i + 1
					}
				}
				return 0
			}
			ps := refusals(t, tc.doc)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(ps), (&config.ValidationError{Problems: ps}).Error())
			}
			p := ps[0]
			if want := mark("#<"); p.Path != tc.path || p.Line != want || p.Column < 1 || p.File != "test.yaml" {
				t.Errorf("problem %s, want it at test.yaml:%d:(column) %s", p, want, tc.path)
			}
			if !strings.Contains(p.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", p.Message, tc.msg)
			}
			if other := mark("#^"); other != 0 && !strings.Contains(p.Message, fmt.Sprintf("line %d", other)) {
				t.Errorf("message %q does not name line %d", p.Message, other)
			}
		})
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
	checkRefusals(t, []refusalCase{
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
	ps := refusals(t, residencyDoc(`residency:
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
	checkRefusals(t, []refusalCase{
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

func TestCheckRefusesPlacesTheTableDoesNotKnow(t *testing.T) {
	policy := "residency:\n  policy:\n    personal: {within: EEA}\n    public: {}\n"
	accounts := "  upstreams:\n    accounts:\n      location: {provider: hetzner, region: fsn1}\n"
	checkRefusals(t, []refusalCase{
		{"unknown area", residencyDoc("residency:\n  policy:\n    personal: {within: EEE} #<\n    public: {}\n" + accounts),
			"residency.policy.personal.within[0]", `"EEE" is neither an area nor an ISO 3166-1 country code; did you mean "EEA"?`},
		{"unknown provider", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: hetzer, region: fsn1} #<\n      data_classes: [personal]\n"),
			"residency.stores.db.location.provider", `provider "hetzer" is not in the table; did you mean "hetzner"?`},
		{"unknown region", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: aws, region: eu-nort-1} #<\n"),
			"residency.stores.db.location.region", `aws has no region "eu-nort-1" in the table; did you mean "eu-north-1"?`},
		{"country contradicts region", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: aws, region: eu-central-2, country: DE} #<\n"),
			"residency.stores.db.location.country", "is DE, but aws region eu-central-2 is in CH (Switzerland)"},
		{"parent contradicts table", residencyDoc(policy + accounts + "  stores:\n    db:\n      kind: database\n      location: {provider: aws, region: eu-north-1, provider_parent: SE} #<\n"),
			"residency.stores.db.location.provider_parent", "the table has aws's parent company in US"},
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
	_, err := config.Parse("t.yaml", []byte(residencyDoc(`residency:
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
`)), Check)
	if err != nil {
		t.Fatal(err)
	}
}
