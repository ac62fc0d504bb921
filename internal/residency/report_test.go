package residency

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// reportResult has stores in Norway, Switzerland (a violation) and
// nowhere declared, and a description that must be escaped.
func reportResult(t *testing.T) *Result {
	t.Helper()
	return evaluate(t, &config.ResidencyStore{
		Kind: "database", Description: "customers <script>alert(1)</script>",
		Location:    loc("azure", "norwayeast"),
		Backups:     []*config.Location{loc("hetzner", "fsn1"), loc("aws", "eu-central-2")},
		DataClasses: []string{"personal"},
	}, func(c *config.Config) {
		c.Residency.Policy["personal"] = &config.ResidencyRule{Within: config.Places{"EEA"}}
		c.Residency.Stores["sessions"] = &config.ResidencyStore{Kind: "cache", DataClasses: []string{"personal"}}
		c.Residency.Stores["rates"] = &config.ResidencyStore{Kind: "queue", Location: loc("aws", "us-east-1"), DataClasses: []string{"public"}}
	})
}

var generated = time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)

func TestHTMLReportGroupsStoresByCountry(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, reportResult(t), generated); err != nil {
		t.Fatal(err)
	}
	page := b.String()

	// Countries in name order, the unknown one last.
	var titles []string
	for _, m := range regexp.MustCompile(`<h3>([^<]*)</h3>`).FindAllStringSubmatch(page, -1) {
		titles = append(titles, m[1])
	}
	want := []string{"DE (Germany, EU)", "NO (Norway, EEA)", "CH (Switzerland, adequacy decision 2000-07-26)", "US (United States, adequacy decision 2023-07-10, partial)", "Country not known"}
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Errorf("country headings %q, want %q", titles, want)
	}
	for _, want := range []string{
		`<code id="version">0123456789ab</code>`,
		`<dd><code>test.yaml</code></dd>`,
		`<dd>2026-03-01 12:30 UTC</dd>`,
		`<p class="summary bad" id="summary">3 stores and 0 upstreams checked: 2 violations</p>`,
		// The policy.
		`<tr><td>personal</td><td>EEA</td><td>no restriction</td><td>EEA</td><td>no restriction</td></tr>`,
		`<tr><td>public</td><td>anywhere</td>`,
		// A row of the Swiss group: the backup that breaks the policy.
		`<tr><td>db</td><td>database</td><td>backup 2</td><td>aws eu-central-2, Zurich</td><td>US (United States)</td><td>personal</td><td class="violation">violation</td></tr>`,
		`<tr><td>sessions</td><td>cache</td><td>primary</td><td>no location declared</td><td>not known</td><td>personal</td><td class="violation">violation</td></tr>`,
		// The verdict names the rule and the copy.
		`<td class="violation">violation</td><td><code>residency.policy.personal.within</code></td><td>backup 2: CH (Switzerland, adequacy decision 2000-07-26) is not in EEA</td>`,
		`<td class="pass">pass</td><td><code>residency.policy.public</code></td><td>the policy allows any location</td>`,
		// The areas the policy names and the adequacy decisions.
		`<dt>EEA</dt><dd>AT (Austria), BE (Belgium)`,
		`<tr><td>GB (United Kingdom)</td><td>2021-06-28</td><td>Commission Implementing Decision (EU) 2021/1772</td><td>whole country</td></tr>`,
		// Escaped, not executed.
		`customers &lt;script&gt;alert(1)&lt;/script&gt;`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %s", want)
		}
	}
	// Self-contained: nothing is loaded from elsewhere, nothing runs.
	for _, bad := range []string{"<script", "<link", "src=", "http://", "https://", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
}

func TestMarkdownReport(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, reportResult(t), generated); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Data residency report\n",
		"- Configuration: `test.yaml`, version `0123456789ab`\n- Generated: 2026-03-01 12:30 UTC\n- Result: **3 stores and 0 upstreams checked: 2 violations**\n",
		"| personal | EEA | no restriction | EEA | no restriction |\n",
		"### CH (Switzerland, adequacy decision 2000-07-26)\n\n| Store | Kind | Copy | Where | Provider's parent company | Data classes | Verdict |\n|---|---|---|---|---|---|---|\n| db | database | backup 2 | aws eu-central-2, Zurich | US (United States) | personal | violation |\n",
		"| db | **VIOLATION** | `residency.policy.personal.within` | backup 2: CH (Switzerland, adequacy decision 2000-07-26) is not in EEA |\n",
		"| sessions | **VIOLATION** | `residency.policy.personal.within` | primary: the country is not known (no location is declared), so it cannot be shown to be in EEA |\n",
		"| US (United States) | 2023-07-10 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	if i, j := strings.Index(md, "### DE (Germany"), strings.Index(md, "### Country not known"); i < 0 || j < i {
		t.Error("countries out of order")
	}
}
