package main

import (
	"fmt"
	"io"
	"strings"
)

// tlsTargets are the servers the TLS section compares; it has no direct
// row (the backend speaks plain HTTP).
var tlsTargets = []string{"skjold", "nginx", "haproxy"}

// tlsScenarios are the TLS section's phases in the order the table lists
// them, with what each measures.
var tlsScenarios = []struct{ phase, title string }{
	{"tls-full-ecdsa", "full handshakes, ECDSA P-256"},
	{"tls-full-rsa", "full handshakes, RSA 2048"},
	{"tls-resumed", "resumed handshakes (session tickets)"},
	{"tls-c32", "keepalive requests over TLS, -c32"},
	{"tls-c256", "keepalive requests over TLS, -c256"},
}

// renderTLS writes the TLS table and issue 14's targets for it, when the
// run measured TLS. Handshake scenarios open one connection per request,
// so their rate is handshakes per second and their CPU is per handshake.
func renderTLS(w io.Writer, s *Samples) {
	var rows, targets [][]string
	for _, sc := range tlsScenarios {
		for _, t := range tlsTargets {
			rs := select_(s.Runs, sc.phase, t)
			if len(rs) == 0 {
				continue
			}
			var errs, reqs, resumed float64
			counted := false
			for _, r := range rs {
				errs += r.Errors + r.Non2xx
				reqs += r.Requests
				if r.Resumed >= 0 {
					resumed += r.Resumed
					counted = true
				}
			}
			share := "—"
			if counted && reqs > 0 {
				share = fmt.Sprintf("%.0f%%", 100*resumed/reqs)
			}
			rows = append(rows, []string{
				sc.title, t,
				fmt.Sprintf("%.0f", median(collect(rs, Run.RPS))),
				latency(median(collect(rs, func(r Run) float64 { return r.P50 }))),
				latency(median(collect(rs, func(r Run) float64 { return r.P99 }))),
				num(median(collect(rs, Run.CPUPerRequest)), "%.1f"),
				num(ratio(s.Runs, sc.phase, t, "nginx", Run.RPS), "%.2f"),
				num(ratio(s.Runs, sc.phase, t, "nginx", Run.CPUPerRequest), "%.2f"),
				share,
				fmt.Sprintf("%.0f", errs),
			})
		}
		if len(select_(s.Runs, sc.phase, "skjold")) == 0 {
			continue
		}
		rate := ratio(s.Runs, sc.phase, "skjold", "nginx", Run.RPS)
		cpu := ratio(s.Runs, sc.phase, "skjold", "nginx", Run.CPUPerRequest)
		targets = append(targets,
			[]string{sc.title + ": rate ≥ 1.0× nginx", times(rate), met(rate, func(x float64) bool { return x >= 1.0 })},
			[]string{sc.title + ": CPU per request ≤ 1.0× nginx", times(cpu), met(cpu, func(x float64) bool { return x <= 1.0 })})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "## TLS")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Handshakes: one new TLS 1.3 connection (X25519) per request, 32 at a time, from `bench/handshakes`;")
	fmt.Fprintln(w, "the rate is handshakes per second and the CPU is per handshake, the proxied request included.")
	fmt.Fprintln(w, "Keepalive: `wrk` over HTTPS on the ECDSA port.")
	if neg := negotiated(s.Info); neg != "" {
		fmt.Fprintf(w, "OpenSSL's client (wrk's) negotiates %s.\n", neg)
	}
	fmt.Fprintln(w)
	table(w, []string{"scenario", "target", "per s", "p50", "p99", "CPU µs/req", "÷ nginx", "CPU ÷ nginx", "resumed", "errors"}, "llrrrrrrrr", rows)
	fmt.Fprintln(w, "## Issue 14's TLS targets")
	fmt.Fprintln(w)
	table(w, []string{"target", "measured", "met"}, "llc", targets)
}

// negotiated lists what each server agreed with OpenSSL's client, from the
// info lines tls_TARGET (version, cipher suite, group).
func negotiated(info map[string]string) string {
	var parts []string
	for _, t := range tlsTargets {
		if v := info["tls_"+t]; v != "" {
			parts = append(parts, fmt.Sprintf("%s with %s", v, t))
		}
	}
	return strings.Join(parts, "; ")
}
