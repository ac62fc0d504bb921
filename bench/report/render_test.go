package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// Two rounds: in round 1 the machine is slower, so raw medians drift but
// the per-round ratios do not.
const samples = `info command bench/run --rounds 2
info date 2026-01-02 10:00 UTC
info rounds 2
info duration 8s
info nginx 1.22.1
run c32 direct 1 requests=80000 duration_us=2000000 p50_us=400 p99_us=900 errors=0 non2xx=0 cpu_us=1000000
run c32 skjold 1 requests=40000 duration_us=2000000 p50_us=800 p99_us=2400 errors=0 non2xx=0 cpu_us=600000
run c32 nginx 1 requests=50000 duration_us=2000000 p50_us=600 p99_us=2000 errors=0 non2xx=0 cpu_us=700000
run c32 direct 2 requests=100000 duration_us=2000000 p50_us=300 p99_us=800 errors=0 non2xx=0 cpu_us=1000000
run c32 skjold 2 requests=48000 duration_us=2000000 p50_us=700 p99_us=1800 errors=2 non2xx=1 cpu_us=720000
run c32 nginx 2 requests=60000 duration_us=2000000 p50_us=500 p99_us=1500 errors=0 non2xx=0 cpu_us=840000
run routes 10 1 requests=50000 duration_us=1000000 p50_us=1 p99_us=1 errors=0 non2xx=0
run routes 10000 1 requests=49000 duration_us=1000000 p50_us=1 p99_us=1 errors=0 non2xx=0
run breaker c1 1 requests=1000 duration_us=1000000 p50_us=90 p99_us=400 errors=0 non2xx=1000 cpu_us=20000
run breaker c32 1 requests=30000 duration_us=1000000 p50_us=900 p99_us=5000 errors=0 non2xx=30000 cpu_us=600000
mem conns=10000 failed=0 base_kib=20480 rss_kib=61440 fds=10012
`

func TestParseReadsEveryRecord(t *testing.T) {
	s, err := Parse(strings.NewReader(samples))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 10 || s.Memory == nil || s.Info["command"] != "bench/run --rounds 2" {
		t.Fatalf("parsed %d runs, memory %v, info %v", len(s.Runs), s.Memory, s.Info)
	}
	if s.Runs[0].CPU != 1e6 || s.Runs[6].CPU != -1 {
		t.Errorf("cpu_us: got %v and %v, want 1e6 and -1 (not measured)", s.Runs[0].CPU, s.Runs[6].CPU)
	}
}

func TestParseRejectsMalformedLines(t *testing.T) {
	for _, line := range []string{
		"run c32 skjold one requests=1 duration_us=1 p50_us=1 p99_us=1 errors=0 non2xx=0",
		"run c32 skjold 1 requests=1 duration_us=1 p50_us=1 errors=0 non2xx=0",
		"run c32 skjold 1 requests=1 duration_us=0 p50_us=1 p99_us=1 errors=0 non2xx=0",
		"run c32 skjold 1 requests=x duration_us=1 p50_us=1 p99_us=1 errors=0 non2xx=0",
		"bogus line",
	} {
		if _, err := Parse(strings.NewReader(line)); err == nil {
			t.Errorf("Parse(%q) returned no error", line)
		}
	}
}

func TestRatioIsTheMedianOfPerRoundRatios(t *testing.T) {
	s, _ := Parse(strings.NewReader(samples))
	// Round 1: 40000/50000 = 0.8; round 2: 48000/60000 = 0.8.
	if got := ratio(s.Runs, "c32", "skjold", "nginx", Run.RPS); math.Abs(got-0.8) > 1e-9 {
		t.Errorf("req/s ratio = %v, want 0.8", got)
	}
	// CPU per request: 15 µs vs 14 µs in both rounds.
	if got := ratio(s.Runs, "c32", "skjold", "nginx", Run.CPUPerRequest); math.Abs(got-15.0/14) > 1e-9 {
		t.Errorf("CPU ratio = %v, want %v", got, 15.0/14)
	}
	if got := ratio(s.Runs, "c32", "haproxy", "nginx", Run.RPS); !math.IsNaN(got) {
		t.Errorf("ratio of a target never measured = %v, want NaN", got)
	}
}

func TestRenderShowsTablesAndTargets(t *testing.T) {
	s, _ := Parse(strings.NewReader(samples))
	var b bytes.Buffer
	Render(&b, s)
	out := strings.Join(strings.Fields(b.String()), " ") // padding aside
	for _, want := range []string{
		"`bench/run --rounds 2` on 2026-01-02 10:00 UTC: 2 interleaved round(s)",
		"## -c32, upstream keepalive pools of 32",
		// skjold: median req/s 22000, p50 750 µs, p99 2.10 ms, CPU 15 µs,
		// 0.48 of direct (0.5 and 0.48 → 0.49), 0.80 of nginx, 3 errors.
		"| skjold | 22000 | 750 µs | 2.10 ms | 15.0 | 0.49 | 0.80 | 1.20 | 1.07 | 3 |",
		// The backend's CPU is no proxy's.
		"| direct | 45000 | 350 µs | 850 µs | — | 1.00 | 1.63 | 0.49 | — | 0 |",
		"| 10 000 routes vs 10 routes (the last route requested), -c32 | 49000 vs 50000 req/s: 0.98× |",
		"| open breaker, one client (-c1) | p50 90 µs, p99 400 µs, 1000 req/s, 20.0 µs CPU per answer; 1000 of 1000 answers had an error status (the breaker's 503), 0 socket errors |",
		"| open breaker, -c32 | p50 900 µs, p99 5.00 ms, 30000 req/s, 20.0 µs CPU per answer; 30000 of 30000 answers had an error status (the breaker's 503)",
		"RSS 20.0 MiB before, 60.0 MiB with them open: +40.0 MiB (4.1 KiB each); 10000 held, 0 failed; 10012 descriptors open",
		"| req/s ≥ 1.0× nginx at -c32 | 0.80× | no |",
		"| CPU per request ≤ 1.1× nginx at -c32 | 1.07× | yes |",
		"| 10 000 routes ≥ 0.95× the req/s of 10 routes | 0.98× | yes |",
		"| open breaker answers in < 1 ms at p99 (-c1) | 400 µs | yes |",
		"| 10000 idle keepalive connections cost ≤ 64 MiB RSS | +40.0 MiB | yes |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "smoke run") {
		t.Errorf("a two-round report calls itself a smoke run\n%s", out)
	}
	if strings.Contains(out, "-c256") {
		t.Errorf("report has a -c256 table without -c256 runs\n%s", out)
	}
}

func TestRenderCallsOneRoundASmokeRun(t *testing.T) {
	s, _ := Parse(strings.NewReader("info rounds 1\n"))
	var b bytes.Buffer
	Render(&b, s)
	if !strings.Contains(b.String(), "One round is a smoke run") {
		t.Errorf("one-round report does not warn that it is a smoke run\n%s", b.String())
	}
}

// Two rounds of the TLS section: handshakes with resumed= counts, and
// keepalive runs from wrk without.
const tlsSamples = `info rounds 2
info openssl 3.0.19
info tls_skjold TLSv1.3 TLS_AES_128_GCM_SHA256 X25519
info tls_nginx TLSv1.3 TLS_AES_128_GCM_SHA256 X25519
run tls-full-ecdsa skjold 1 requests=3000 duration_us=1000000 p50_us=9000 p99_us=20000 errors=0 non2xx=0 resumed=0 cpu_us=810000
run tls-full-ecdsa nginx 1 requests=3000 duration_us=1000000 p50_us=9000 p99_us=18000 errors=0 non2xx=0 resumed=0 cpu_us=900000
run tls-full-ecdsa skjold 2 requests=2000 duration_us=1000000 p50_us=11000 p99_us=22000 errors=1 non2xx=0 resumed=0 cpu_us=540000
run tls-full-ecdsa nginx 2 requests=2500 duration_us=1000000 p50_us=10000 p99_us=19000 errors=0 non2xx=0 resumed=0 cpu_us=750000
run tls-resumed skjold 1 requests=4000 duration_us=1000000 p50_us=8000 p99_us=16000 errors=0 non2xx=0 resumed=3968 cpu_us=880000
run tls-resumed nginx 1 requests=4000 duration_us=1000000 p50_us=8000 p99_us=16000 errors=0 non2xx=0 resumed=3968 cpu_us=900000
run tls-c32 skjold 1 requests=40000 duration_us=1000000 p50_us=600 p99_us=1900 errors=0 non2xx=0 cpu_us=880000
run tls-c32 nginx 1 requests=44000 duration_us=1000000 p50_us=590 p99_us=2600 errors=0 non2xx=0 cpu_us=880000
`

func TestRenderShowsTheTLSTableAndItsTargets(t *testing.T) {
	s, err := Parse(strings.NewReader(tlsSamples))
	if err != nil {
		t.Fatal(err)
	}
	if s.Runs[0].Resumed != 0 || s.Runs[4].Resumed != 3968 || s.Runs[6].Resumed != -1 {
		t.Errorf("resumed: got %v, %v, %v; want 0, 3968 and -1 (not counted)", s.Runs[0].Resumed, s.Runs[4].Resumed, s.Runs[6].Resumed)
	}
	var b bytes.Buffer
	Render(&b, s)
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"## TLS",
		"OpenSSL's client (wrk's) negotiates TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 with skjold; TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 with nginx.",
		"OpenSSL 3.0.19",
		// skjold: median 2500 handshakes/s, p50 10 ms, CPU 270 µs per
		// handshake (270 and 270); rate ÷ nginx 1.0 and 0.8 → 0.90; CPU
		// ÷ nginx 0.9 and 0.9; 1 error over the rounds.
		"| full handshakes, ECDSA P-256 | skjold | 2500 | 10.00 ms | 21.00 ms | 270.0 | 0.90 | 0.90 | 0% | 1 |",
		"| resumed handshakes (session tickets) | skjold | 4000 | 8.00 ms | 16.00 ms | 220.0 | 1.00 | 0.98 | 99% | 0 |",
		// wrk does not count resumptions.
		"| keepalive requests over TLS, -c32 | skjold | 40000 | 600 µs | 1.90 ms | 22.0 | 0.91 | 1.10 | — | 0 |",
		"## Issue 14's TLS targets",
		"| full handshakes, ECDSA P-256: rate ≥ 1.0× nginx | 0.90× | no |",
		"| full handshakes, ECDSA P-256: CPU per request ≤ 1.0× nginx | 0.90× | yes |",
		"| resumed handshakes (session tickets): rate ≥ 1.0× nginx | 1.00× | yes |",
		"| keepalive requests over TLS, -c32: CPU per request ≤ 1.0× nginx | 1.10× | no |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q\n%s", want, b.String())
		}
	}
	// Scenarios not measured get no rows, and plain HTTP tables none.
	for _, unwanted := range []string{"RSA 2048", "-c256", "## -c32", "Issue 4's targets"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("report has %q without runs for it\n%s", unwanted, b.String())
		}
	}
}

func TestRenderHasNoTLSTableWithoutTLSRuns(t *testing.T) {
	s, _ := Parse(strings.NewReader(samples))
	var b bytes.Buffer
	Render(&b, s)
	if strings.Contains(b.String(), "TLS") {
		t.Errorf("a run without TLS samples shows a TLS table\n%s", b.String())
	}
}
