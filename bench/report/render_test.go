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
