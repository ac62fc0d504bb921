package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Report is what a doctor run prints: the results and, for the database
// doctors, a config snippet that closes the gaps.
type Report struct {
	// Results are the rows of the table, in check order.
	Results []Result `json:"results"`
	// SnippetFile names the file Snippet belongs in ("my.cnf",
	// "postgresql.conf"); empty when there is no snippet.
	SnippetFile string `json:"snippet_file,omitempty"`
	// Snippet holds ready config lines for every gap found; empty when there
	// is nothing to change.
	Snippet string `json:"snippet,omitempty"`
}

// Column widths of the table; longer text wraps inside its column, so the
// table stays readable in a 160-column terminal.
const (
	foundWidth    = 44
	expectedWidth = 30
	whyWidth      = 56
)

// WriteTable prints the report as a table (check, status, found, expected,
// why), a one-line summary and, when there is one, the snippet. Rows whose
// text wraps are separated by a blank line.
func (r Report) WriteTable(w io.Writer) error {
	checkWidth := len("CHECK")
	for _, res := range r.Results {
		checkWidth = max(checkWidth, len(res.Check))
	}
	widths := []int{checkWidth, len("STATUS"), foundWidth, expectedWidth, whyWidth}
	var buf bytes.Buffer
	writeRow(&buf, widths, []string{"CHECK", "STATUS", "FOUND", "EXPECTED", "WHY"})
	wrapped := false
	for _, res := range r.Results {
		cells := [][]string{
			{cell(res.Check)}, {res.Status.String()},
			wrap(cell(res.Found), foundWidth), wrap(cell(res.Expected), expectedWidth), wrap(cell(res.Why), whyWidth),
		}
		lines := 0
		for _, c := range cells {
			lines = max(lines, len(c))
		}
		if lines > 1 || wrapped {
			buf.WriteByte('\n')
		}
		wrapped = lines > 1
		for i := range lines {
			row := make([]string, len(cells))
			for j, c := range cells {
				if i < len(c) {
					row[j] = c[i]
				}
			}
			writeRow(&buf, widths, row)
		}
	}
	buf.WriteByte('\n')
	buf.WriteString(summary(r.Results))
	buf.WriteByte('\n')
	if r.Snippet != "" {
		fmt.Fprintf(&buf, "\nAdd to %s to close the gaps above:\n\n%s", r.SnippetFile, r.Snippet)
		if !strings.HasSuffix(r.Snippet, "\n") {
			buf.WriteByte('\n')
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// writeRow pads every cell but the last to its column's width.
func writeRow(buf *bytes.Buffer, widths []int, cells []string) {
	var line strings.Builder
	for i, c := range cells {
		line.WriteString(c)
		if i < len(cells)-1 {
			line.WriteString(strings.Repeat(" ", max(widths[i]-utf8.RuneCountInString(c), 0)+2))
		}
	}
	buf.WriteString(strings.TrimRight(line.String(), " "))
	buf.WriteByte('\n')
}

// wrap breaks s into lines of at most width runes at spaces; a word longer
// than width gets a line of its own.
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		wl := utf8.RuneCountInString(word)
		if n > 0 && n+1+wl > width {
			lines = append(lines, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(word)
		n += wl
	}
	if n > 0 || len(lines) == 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// cell keeps a value on one table row.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), " ")
}

// summary counts the results by status: "12 checks: 9 ok, 2 warn, 1 fail".
func summary(results []Result) string {
	n := map[Status]int{}
	for _, r := range results {
		n[r.Status]++
	}
	parts := []string{fmt.Sprintf("%d ok", n[OK])}
	for _, s := range []Status{Warn, Fail, Skip} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	noun := "checks"
	if len(results) == 1 {
		noun = "check"
	}
	return fmt.Sprintf("%d %s: %s", len(results), noun, strings.Join(parts, ", "))
}

// Overall is the status of a whole report: the worst of the results,
// where a skipped check counts as passed.
func Overall(results []Result) Status {
	if w := Worst(results); w != Skip {
		return w
	}
	return OK
}

// jsonReport is the --json document.
type jsonReport struct {
	Status Status `json:"status"`
	Report
}

// WriteJSON prints the report as one JSON document with the Overall status
// first.
func (r Report) WriteJSON(w io.Writer) error {
	if r.Results == nil {
		r.Results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(jsonReport{Status: Overall(r.Results), Report: r})
}
