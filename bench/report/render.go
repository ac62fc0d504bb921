package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Proxies in the order the tables list them; direct is the backend reached
// without a proxy.
var targetOrder = []string{"direct", "skjold", "nginx", "haproxy"}

// Render writes the report as Markdown whose tables are padded so that it
// also reads well in a terminal.
func Render(w io.Writer, s *Samples) {
	fmt.Fprintln(w, "# Latest benchmark run")
	fmt.Fprintln(w)
	renderInfo(w, s.Info)
	var targets [][]string
	for _, phase := range concurrencyPhases(s.Runs) {
		targets = append(targets, renderPhase(w, s.Runs, phase)...)
	}
	targets = append(targets, renderScenarios(w, s)...)
	if len(targets) > 0 {
		fmt.Fprintln(w, "## Issue 4's targets")
		fmt.Fprintln(w)
		table(w, []string{"target", "measured", "met"}, "llc", targets)
	}
	renderTLS(w, s)
}

func renderInfo(w io.Writer, info map[string]string) {
	var b strings.Builder
	if v := info["command"]; v != "" {
		fmt.Fprintf(&b, "`%s`", v)
	} else {
		b.WriteString("A run")
	}
	if v := info["date"]; v != "" {
		fmt.Fprintf(&b, " on %s", v)
	}
	if r, d := info["rounds"], info["duration"]; r != "" && d != "" {
		fmt.Fprintf(&b, ": %s interleaved round(s) of `wrk -t1 -d%s` per target and concurrency", r, d)
	}
	b.WriteString(".")
	var versions []string
	for _, k := range []struct{ key, name string }{{"skjold", "Skjold"}, {"nginx", "nginx"}, {"haproxy", "HAProxy"}, {"wrk", "wrk"}, {"go", "Go"}, {"openssl", "OpenSSL"}} {
		if v := info[k.key]; v != "" {
			versions = append(versions, k.name+" "+v)
		}
	}
	if len(versions) > 0 {
		fmt.Fprintf(&b, " %s.", strings.Join(versions, ", "))
	}
	if v := info["machine"]; v != "" {
		fmt.Fprintf(&b, " %s.", v)
	}
	if a, z := info["load_start"], info["load_end"]; a != "" && z != "" {
		fmt.Fprintf(&b, " Load average %s at the start, %s at the end.", a, z)
	}
	fmt.Fprintln(w, b.String())
	fmt.Fprintln(w)
	if info["rounds"] == "1" {
		fmt.Fprintln(w, "One round is a smoke run: a single run per target says little on a machine doing anything")
		fmt.Fprintln(w, "else. Compare ratios from the default five rounds.")
		fmt.Fprintln(w)
	}
}

// concurrencyPhases lists the cN phases by N.
func concurrencyPhases(runs []Run) []string {
	var phases []string
	for _, r := range runs {
		if n, ok := concurrency(r.Phase); ok && n > 0 && !slices.Contains(phases, r.Phase) {
			phases = append(phases, r.Phase)
		}
	}
	slices.SortFunc(phases, func(a, b string) int {
		x, _ := concurrency(a)
		y, _ := concurrency(b)
		return x - y
	})
	return phases
}

func concurrency(phase string) (int, bool) {
	if !strings.HasPrefix(phase, "c") {
		return 0, false
	}
	n, err := strconv.Atoi(phase[1:])
	return n, err == nil
}

// renderPhase writes one concurrency's table and returns its rows of the
// targets table.
func renderPhase(w io.Writer, runs []Run, phase string) [][]string {
	n, _ := concurrency(phase)
	fmt.Fprintf(w, "## -c%d, upstream keepalive pools of %d\n\n", n, n)
	var rows [][]string
	for _, t := range targetOrder {
		rs := select_(runs, phase, t)
		if len(rs) == 0 {
			continue
		}
		cpu, cpuRatio := median(collect(rs, Run.CPUPerRequest)), ratio(runs, phase, t, "nginx", Run.CPUPerRequest)
		if t == "direct" {
			// No proxy to measure: the backend's CPU is in every row alike.
			cpu, cpuRatio = math.NaN(), math.NaN()
		}
		var errs float64
		for _, r := range rs {
			errs += r.Errors + r.Non2xx
		}
		rows = append(rows, []string{
			t,
			fmt.Sprintf("%.0f", median(collect(rs, Run.RPS))),
			latency(median(collect(rs, func(r Run) float64 { return r.P50 }))),
			latency(median(collect(rs, func(r Run) float64 { return r.P99 }))),
			num(cpu, "%.1f"),
			num(ratio(runs, phase, t, "direct", Run.RPS), "%.2f"),
			num(ratio(runs, phase, t, "nginx", Run.RPS), "%.2f"),
			num(ratio(runs, phase, t, "nginx", func(r Run) float64 { return r.P99 }), "%.2f"),
			num(cpuRatio, "%.2f"),
			fmt.Sprintf("%.0f", errs),
		})
	}
	table(w, []string{"target", "req/s", "p50", "p99", "CPU µs/req", "req/s ÷ direct", "req/s ÷ nginx", "p99 ÷ nginx", "CPU ÷ nginx", "errors"}, "lrrrrrrrrr", rows)

	rps := ratio(runs, phase, "skjold", "nginx", Run.RPS)
	p99 := ratio(runs, phase, "skjold", "nginx", func(r Run) float64 { return r.P99 })
	cpu := ratio(runs, phase, "skjold", "nginx", Run.CPUPerRequest)
	return [][]string{
		{fmt.Sprintf("req/s ≥ 1.0× nginx at -c%d", n), times(rps), met(rps, func(x float64) bool { return x >= 1.0 })},
		{fmt.Sprintf("p99 ≤ 1.1× nginx at -c%d", n), times(p99), met(p99, func(x float64) bool { return x <= 1.1 })},
		{fmt.Sprintf("CPU per request ≤ 1.1× nginx at -c%d", n), times(cpu), met(cpu, func(x float64) bool { return x <= 1.1 })},
	}
}

// renderScenarios writes Skjold's own scenarios and returns their rows of
// the targets table.
func renderScenarios(w io.Writer, s *Samples) [][]string {
	var rows, targets [][]string
	if few, many := select_(s.Runs, "routes", "10"), select_(s.Runs, "routes", "10000"); len(few) > 0 && len(many) > 0 {
		r := ratio(s.Runs, "routes", "10000", "10", Run.RPS)
		rows = append(rows, []string{"10 000 routes vs 10 routes (the last route requested), -c32",
			fmt.Sprintf("%.0f vs %.0f req/s: %s", median(collect(many, Run.RPS)), median(collect(few, Run.RPS)), times(r))})
		targets = append(targets, []string{"10 000 routes ≥ 0.95× the req/s of 10 routes", times(r), met(r, func(x float64) bool { return x >= 0.95 })})
	}
	// The open breaker at one client measures its answer time; at -c32
	// the latency is mostly queueing (32 requests in flight on 2 cores),
	// so that run shows throughput and CPU per answer instead.
	for _, c := range []struct{ target, title string }{{"c1", "open breaker, one client (-c1)"}, {"c32", "open breaker, -c32"}} {
		rs := select_(s.Runs, "breaker", c.target)
		if len(rs) == 0 {
			continue
		}
		var reqs, non2xx, errs float64
		for _, r := range rs {
			reqs += r.Requests
			non2xx += r.Non2xx
			errs += r.Errors
		}
		p99 := median(collect(rs, func(r Run) float64 { return r.P99 }))
		rows = append(rows, []string{c.title,
			fmt.Sprintf("p50 %s, p99 %s, %.0f req/s, %s µs CPU per answer; %.0f of %.0f answers had an error status (the breaker's 503), %.0f socket errors",
				latency(median(collect(rs, func(r Run) float64 { return r.P50 }))), latency(p99),
				median(collect(rs, Run.RPS)), num(median(collect(rs, Run.CPUPerRequest)), "%.1f"), non2xx, reqs, errs)})
		if c.target == "c1" {
			targets = append(targets, []string{"open breaker answers in < 1 ms at p99 (-c1)", latency(p99), met(p99, func(x float64) bool { return x < 1000 && non2xx == reqs })})
		}
	}
	if m := s.Memory; m != nil {
		delta := (m.RSSKiB - m.BaseKiB) / 1024
		rows = append(rows, []string{fmt.Sprintf("%d idle client keepalive connections", m.Conns+m.Failed),
			fmt.Sprintf("RSS %.1f MiB before, %.1f MiB with them open: +%.1f MiB (%.1f KiB each); %d held, %d failed; %d descriptors open",
				m.BaseKiB/1024, m.RSSKiB/1024, delta, (m.RSSKiB-m.BaseKiB)/math.Max(float64(m.Conns), 1), m.Conns, m.Failed, m.FDs)})
		targets = append(targets, []string{fmt.Sprintf("%d idle keepalive connections cost ≤ 64 MiB RSS", m.Conns), fmt.Sprintf("+%.1f MiB", delta),
			met(delta, func(x float64) bool { return x <= 64 && m.Failed == 0 })})
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "## Skjold's own scenarios")
		fmt.Fprintln(w)
		table(w, []string{"scenario", "measured"}, "ll", rows)
	}
	return targets
}

func select_(runs []Run, phase, target string) []Run {
	var out []Run
	for _, r := range runs {
		if r.Phase == phase && r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

func collect(runs []Run, f func(Run) float64) []float64 {
	out := make([]float64, 0, len(runs))
	for _, r := range runs {
		if v := f(r); v >= 0 {
			out = append(out, v)
		}
	}
	return out
}

// ratio is the median over rounds of f(a) ÷ f(b), pairing the runs of a
// round: runs of one round are close in time, so the ratio cancels slow
// drift in what else the machine is doing. NaN when no round has both.
func ratio(runs []Run, phase, a, b string, f func(Run) float64) float64 {
	den := map[int]float64{}
	for _, r := range select_(runs, phase, b) {
		den[r.Round] = f(r)
	}
	var rs []float64
	for _, r := range select_(runs, phase, a) {
		if d, ok := den[r.Round]; ok && d > 0 && f(r) >= 0 {
			rs = append(rs, f(r)/d)
		}
	}
	return median(rs)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func num(x float64, format string) string {
	if math.IsNaN(x) || x < 0 {
		return "—"
	}
	return fmt.Sprintf(format, x)
}

func times(x float64) string {
	if math.IsNaN(x) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", x)
}

func met(x float64, ok func(float64) bool) string {
	switch {
	case math.IsNaN(x):
		return "not measured"
	case ok(x):
		return "yes"
	default:
		return "no"
	}
}

// latency formats microseconds.
func latency(us float64) string {
	switch {
	case math.IsNaN(us):
		return "—"
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	default:
		return fmt.Sprintf("%.2f ms", us/1000)
	}
}

// table writes a Markdown table with padded columns; align holds l, r or c
// per column.
func table(w io.Writer, header []string, align string, rows [][]string) {
	width := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if align[i] == 'r' {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	seps := make([]string, len(header))
	for i := range header {
		d := strings.Repeat("-", max(width[i]-1, 2))
		switch align[i] {
		case 'r':
			seps[i] = d + ":"
		case 'c':
			seps[i] = ":" + strings.Repeat("-", max(width[i]-2, 1)) + ":"
		default:
			seps[i] = d + "-"
		}
	}
	line(seps)
	for _, r := range rows {
		line(r)
	}
	fmt.Fprintln(w)
}
