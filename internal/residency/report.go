package residency

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/residency/geo"
)

//go:embed report.html.tmpl
var reportHTML string

// report is what both report formats show, laid out for reading.
type report struct {
	Source, Version, Generated string
	Summary                    string
	Violations                 int
	Policy                     []policyRow
	Countries                  []countryGroup
	Stores                     []Store
	Upstreams                  []upstreamRow
	Areas                      []areaRow
	Adequacy                   []adequacyRow
}

type policyRow struct {
	Class                                   string
	Within, ParentNotIn                     string
	ProcessingWithin, ProcessingParentNotIn string
}

// countryGroup is every copy of every store in one country.
type countryGroup struct {
	// Code is the ISO code, "" for copies whose country is not known.
	Code, Title string
	Rows        []copyRow
}

type copyRow struct {
	Store, Kind, Copy, Where, Parent, Classes string
	Verdict                                   Verdict
}

type upstreamRow struct {
	Upstream
	Where, Classes string
}

type areaRow struct {
	Name, Members string
}

type adequacyRow struct {
	geo.Adequacy
	Name string
}

func newReport(r *Result, now time.Time) report {
	t := r.table
	if t == nil {
		t = geo.Builtin()
	}
	rep := report{
		Source: r.Source, Version: r.Version, Generated: now.UTC().Format("2006-01-02 15:04 MST"),
		Summary: r.Summary(), Violations: r.Violations, Stores: r.Stores,
	}
	orAny := func(p []string) string {
		if len(p) == 0 {
			return "anywhere"
		}
		return strings.Join(p, ", ")
	}
	orNone := func(p []string) string {
		if len(p) == 0 {
			return "no restriction"
		}
		return strings.Join(p, ", ")
	}
	for _, p := range r.Policy {
		rep.Policy = append(rep.Policy, policyRow{
			Class: p.Class, Within: orAny(p.Store.Within), ParentNotIn: orNone(p.Store.ProviderParentNotIn),
			ProcessingWithin: orAny(p.Processing.Within), ProcessingParentNotIn: orNone(p.Processing.ProviderParentNotIn),
		})
	}
	groups := map[string]*countryGroup{}
	for _, s := range r.Stores {
		for _, c := range s.Copies {
			code := c.Location.Country
			g := groups[code]
			if g == nil {
				title := "Country not known"
				if code != "" {
					title = t.Describe(code)
				}
				g = &countryGroup{Code: code, Title: title}
				groups[code] = g
			}
			g.Rows = append(g.Rows, copyRow{
				Store: s.Name, Kind: s.Kind, Copy: c.Name(), Where: where(c.Location), Parent: parent(t, c.Location),
				Classes: classNames(s.Classes), Verdict: s.Verdict,
			})
		}
	}
	for _, g := range groups {
		rep.Countries = append(rep.Countries, *g)
	}
	slices.SortFunc(rep.Countries, func(a, b countryGroup) int {
		switch {
		case a.Code == "":
			return 1 // unknown last
		case b.Code == "":
			return -1
		}
		return strings.Compare(t.CountryName(a.Code), t.CountryName(b.Code))
	})
	for _, u := range r.Upstreams {
		rep.Upstreams = append(rep.Upstreams, upstreamRow{Upstream: u, Where: where(u.Location) + "; parent company " + parent(t, u.Location), Classes: classList(u.Classes)})
	}
	for _, name := range slices.Sorted(maps.Keys(r.Areas)) {
		var members []string
		for _, c := range r.Areas[name] {
			members = append(members, fmt.Sprintf("%s (%s)", c, t.CountryName(c)))
		}
		rep.Areas = append(rep.Areas, areaRow{Name: name, Members: strings.Join(members, ", ")})
	}
	for _, a := range t.AdequacyDecisions() {
		rep.Adequacy = append(rep.Adequacy, adequacyRow{Adequacy: a, Name: t.CountryName(a.Country)})
	}
	return rep
}

// where is "aws eu-north-1, Stockholm", or why the place is not known.
func where(l geo.Resolved) string {
	if l.Declared.IsZero() {
		return "no location declared"
	}
	s := l.Declared.String()
	if l.City != "" {
		s += ", " + l.City
	}
	if l.Country == "" {
		s += " (" + l.Problem + ")"
	}
	return s
}

// parent is "US (United States)", or "not known".
func parent(t *geo.Table, l geo.Resolved) string {
	if l.Parent == "" {
		return "not known"
	}
	return fmt.Sprintf("%s (%s)", l.Parent, t.CountryName(l.Parent))
}

func classNames(cs []Class) string {
	if len(cs) == 0 {
		return "none declared"
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// WriteHTML writes the auditor's report as one self-contained HTML page:
// no scripts, no external style sheets, fonts or images.
func WriteHTML(w io.Writer, r *Result, now time.Time) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"findingLine": findingLine,
		"failures": func(fs []Finding, d Finding) []Finding {
			var out []Finding
			for _, f := range fs {
				if !f.OK && f != d {
					out = append(out, f)
				}
			}
			return out
		},
	}).Parse(reportHTML)
	if err != nil {
		return fmt.Errorf("residency report template: %w", err)
	}
	return tmpl.Execute(w, newReport(r, now))
}

// WriteMarkdown writes the same report as Markdown, for a repository or a
// ticket.
func WriteMarkdown(w io.Writer, r *Result, now time.Time) error {
	rep := newReport(r, now)
	var b strings.Builder
	fmt.Fprintf(&b, "# Data residency report\n\n")
	fmt.Fprintf(&b, "- Configuration: `%s`, version `%s`\n- Generated: %s\n- Result: **%s**\n\n", rep.Source, rep.Version, rep.Generated, rep.Summary)

	fmt.Fprintf(&b, "## Policy\n\n| Data class | Stored within | Provider parent not in | Processed within | Processing provider parent not in |\n|---|---|---|---|---|\n")
	for _, p := range rep.Policy {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(p.Class), md(p.Within), md(p.ParentNotIn), md(p.ProcessingWithin), md(p.ProcessingParentNotIn))
	}

	fmt.Fprintf(&b, "\n## Stores by country\n")
	for _, g := range rep.Countries {
		fmt.Fprintf(&b, "\n### %s\n\n| Store | Kind | Copy | Where | Provider's parent company | Data classes | Verdict |\n|---|---|---|---|---|---|---|\n", md(g.Title))
		for _, row := range g.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", md(row.Store), md(row.Kind), md(row.Copy), md(row.Where), md(row.Parent), md(row.Classes), row.Verdict)
		}
	}

	fmt.Fprintf(&b, "\n## Verdicts\n\n| Store | Verdict | Decided by | Why |\n|---|---|---|---|\n")
	for _, s := range rep.Stores {
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s |\n", md(s.Name), verdictText(s.Verdict), s.Decision.Rule, md(copyReason(s.Decision)))
		for _, f := range s.Findings {
			if !f.OK && f != s.Decision {
				fmt.Fprintf(&b, "| | also | `%s` | %s |\n", f.Rule, md(copyReason(f)))
			}
		}
	}

	if len(rep.Upstreams) > 0 {
		fmt.Fprintf(&b, "\n## Upstreams (processing)\n\n| Upstream | Runs at | Handles | Verdict | Decided by | Why |\n|---|---|---|---|---|---|\n")
		for _, u := range rep.Upstreams {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` | %s |\n", md(u.Name), md(u.Where), md(u.Classes), verdictText(u.Verdict), u.Decision.Rule, md(u.Decision.Reason))
		}
	}

	if len(rep.Areas) > 0 {
		fmt.Fprintf(&b, "\n## Areas the policy names\n\n")
		for _, a := range rep.Areas {
			fmt.Fprintf(&b, "- **%s**: %s\n", md(a.Name), md(a.Members))
		}
	}
	fmt.Fprintf(&b, "\n## EU adequacy decisions\n\n| Country | Adopted | Decision | Scope |\n|---|---|---|---|\n")
	for _, a := range rep.Adequacy {
		scope := a.Scope
		if scope == "" {
			scope = "whole country (in ADEQUATE)"
		}
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s |\n", a.Country, md(a.Name), a.Date, md(a.Decision), md(scope))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verdictText(v Verdict) string {
	if v == Violation {
		return "**VIOLATION**"
	}
	return "pass"
}

func copyReason(f Finding) string {
	if f.Copy == "" || f.Copy == "all" {
		return f.Reason
	}
	return f.Copy + ": " + f.Reason
}

// md escapes text for a Markdown table cell.
func md(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "_", `\_`, "`", "'", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
