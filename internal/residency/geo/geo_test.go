package geo

import (
	"slices"
	"strings"
	"testing"
)

func TestRegionsMapToCountries(t *testing.T) {
	tb := Builtin()
	for _, tc := range []struct {
		provider, region, country string
	}{
		{"aws", "eu-west-2", "GB"},
		{"aws", "eu-central-2", "CH"},
		{"aws", "eu-north-1", "SE"},
		{"aws", "eu-central-1", "DE"},
		{"aws", "us-east-1", "US"},
		{"AWS", "EU-NORTH-1", "SE"},
		{"amazon", "eu-west-1", "IE"},
		{"aws", "eu-north-1a", "SE"}, // an availability zone
		{"gcp", "europe-north1", "FI"},
		{"gcp", "europe-north1-b", "FI"},
		{"gcp", "europe-west6", "CH"},
		{"azure", "norwayeast", "NO"},
		{"azure", "norwaywest", "NO"},
		{"azure", "westeurope", "NL"},
		{"hetzner", "fsn1", "DE"},
		{"hetzner", "hel1", "FI"},
		{"hetzner", "hel1-dc2", "FI"},
		{"ovh", "GRA11", "FR"},
		{"ovh", "bhs5", "CA"},
		{"scaleway", "fr-par-2", "FR"},
		{"scaleway", "nl-ams", "NL"},
		{"upcloud", "fi-hel1", "FI"},
		{"upcloud", "se-sto1", "SE"},
		{"digitalocean", "ams3", "NL"},
		{"oracle", "eu-stockholm-1", "SE"},
	} {
		_, r, ok := tb.Region(tc.provider, tc.region)
		if !ok || r.Country != tc.country {
			t.Errorf("%s %s: got %q (found %v), want %s", tc.provider, tc.region, r.Country, ok, tc.country)
		}
	}
}

func TestUnknownRegionsAreNotGuessed(t *testing.T) {
	tb := Builtin()
	for _, tc := range [][2]string{
		{"aws", "eu-north-9"}, {"aws", "eu-nort-1"}, {"gcp", "europe-north7"}, {"nope", "eu-north-1"}, {"aws", ""},
	} {
		if _, r, ok := tb.Region(tc[0], tc[1]); ok {
			t.Errorf("%s %s: found %+v, want not found", tc[0], tc[1], r)
		}
	}
}

func TestProviderParents(t *testing.T) {
	tb := Builtin()
	want := map[string]string{
		"aws": "US", "gcp": "US", "azure": "US", "oracle": "US", "digitalocean": "US",
		"hetzner": "DE", "ovh": "FR", "scaleway": "FR", "upcloud": "FI",
	}
	for name, parent := range want {
		_, p, ok := tb.Provider(name)
		if !ok || p.Parent != parent {
			t.Errorf("%s: parent %q (found %v), want %s", name, p.Parent, ok, parent)
		}
	}
}

func TestAreas(t *testing.T) {
	tb := Builtin()
	eu, _ := tb.Area("EU")
	eea, _ := tb.Area("eea")
	if len(eu) != 27 {
		t.Errorf("EU has %d members, want 27", len(eu))
	}
	if len(eea) != 30 {
		t.Errorf("EEA has %d members, want 30", len(eea))
	}
	for _, c := range []string{"NO", "IS", "LI"} {
		if slices.Contains(eu, c) || !slices.Contains(eea, c) {
			t.Errorf("%s: want in the EEA and not in the EU", c)
		}
	}
	for _, c := range eu {
		if !slices.Contains(eea, c) {
			t.Errorf("EU member %s missing from the EEA", c)
		}
		if _, ok := tb.Country(c); !ok {
			t.Errorf("EU member %s is not a known country", c)
		}
	}
	adequate, _ := tb.Area("ADEQUATE")
	for _, c := range []string{"CH", "GB", "JP", "KR", "NZ", "IL"} {
		if !slices.Contains(adequate, c) {
			t.Errorf("%s missing from ADEQUATE", c)
		}
	}
	// Partial decisions depend on the organisation, not the place.
	for _, c := range []string{"US", "CA", "NO"} {
		if slices.Contains(adequate, c) {
			t.Errorf("%s must not be in ADEQUATE", c)
		}
	}
	for _, a := range tb.AdequacyDecisions() {
		if len(a.Date) != len("2000-01-01") || a.Decision == "" {
			t.Errorf("adequacy decision for %s lacks a date or its act: %+v", a.Country, a)
		}
	}
}

func TestCountryAliases(t *testing.T) {
	tb := Builtin()
	for in, want := range map[string]string{"uk": "GB", "EL": "GR", " no ": "NO"} {
		if got, ok := tb.Country(in); !ok || got != want {
			t.Errorf("Country(%q) = %q, %v; want %s", in, got, ok, want)
		}
	}
	if _, ok := tb.Country("XX"); ok {
		t.Error("XX accepted as a country")
	}
}

func TestExtendAddsProvidersRegionsAndAreas(t *testing.T) {
	base := Builtin()
	tb := base.Extend(Extension{
		Providers: map[string]Provider{
			"norsk-vps": {Name: "Norsk VPS AS", Parent: "no", Regions: map[string]Region{"OSL1": {Country: "no"}}},
			"aws":       {Regions: map[string]Region{"eu-north-9": {Country: "SE"}}},
		},
		Areas: map[string][]string{"home": {"NO", "dk"}, "wider": {"HOME", "FI"}, "loop": {"loop", "SE"}},
	})
	if _, r, ok := tb.Region("norsk-vps", "osl1"); !ok || r.Country != "NO" {
		t.Errorf("norsk-vps osl1: %+v, %v", r, ok)
	}
	if _, p, _ := tb.Provider("norsk-vps"); p.Parent != "NO" || p.Name != "Norsk VPS AS" {
		t.Errorf("norsk-vps: %+v", p)
	}
	if _, r, ok := tb.Region("aws", "eu-north-9"); !ok || r.Country != "SE" {
		t.Errorf("added aws region: %+v, %v", r, ok)
	}
	if _, r, ok := tb.Region("aws", "eu-west-2"); !ok || r.Country != "GB" {
		t.Errorf("built-in aws region lost: %+v, %v", r, ok)
	}
	if _, p, _ := tb.Provider("aws"); p.Parent != "US" {
		t.Errorf("aws parent changed to %q by an extension that did not set it", p.Parent)
	}
	if _, _, ok := base.Region("aws", "eu-north-9"); ok {
		t.Error("Extend changed the table it extended")
	}
	for name, want := range map[string][]string{"HOME": {"DK", "NO"}, "wider": {"DK", "FI", "NO"}, "LOOP": {"SE"}} {
		if got, ok := tb.Area(name); !ok || !slices.Equal(got, want) {
			t.Errorf("area %s = %v, %v; want %v", name, got, ok, want)
		}
	}
}

func TestResolve(t *testing.T) {
	tb := Builtin()
	for _, tc := range []struct {
		name            string
		loc             Location
		country, parent string
		problem         string
	}{
		{"provider and region", Location{Provider: "aws", Region: "eu-west-2"}, "GB", "US", ""},
		{"country agrees with region", Location{Provider: "azure", Region: "norwayeast", Country: "no"}, "NO", "US", ""},
		{"country contradicts region", Location{Provider: "aws", Region: "eu-central-2", Country: "DE"}, "", "US", "but aws region eu-central-2 is in CH"},
		{"unknown region", Location{Provider: "aws", Region: "eu-nowhere-1"}, "", "US", `aws has no region "eu-nowhere-1"`},
		{"unknown region with country", Location{Provider: "aws", Region: "eu-nowhere-1", Country: "SE"}, "SE", "US", ""},
		{"known provider without region", Location{Provider: "hetzner"}, "", "DE", "no region or country"},
		{"unknown provider with country and parent", Location{Provider: "norsk-vps", Country: "NO", ProviderParent: "NO"}, "NO", "NO", ""},
		{"unknown provider without parent", Location{Provider: "norsk-vps", Country: "NO"}, "NO", "", ""},
		{"unknown provider without country", Location{Provider: "norsk-vps"}, "", "", `provider "norsk-vps" is not in the table`},
		{"parent contradicts table", Location{Provider: "aws", Region: "eu-north-1", ProviderParent: "SE"}, "SE", "", ""},
		{"nothing", Location{}, "", "", "no location is declared"},
		{"bad country code", Location{Country: "Norway"}, "", "", "not an ISO 3166-1 country code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tb.Resolve(tc.loc)
			if r.Country != tc.country || r.Parent != tc.parent {
				t.Errorf("country %q parent %q, want %q %q (%+v)", r.Country, r.Parent, tc.country, tc.parent, r)
			}
			if tc.problem != "" && !strings.Contains(r.Problem, tc.problem) {
				t.Errorf("problem %q, want it to contain %q", r.Problem, tc.problem)
			}
			if tc.problem == "" && r.Country != "" && r.Problem != "" {
				t.Errorf("unexpected problem %q", r.Problem)
			}
		})
	}
}
