package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Run is one wrk run against one target.
type Run struct {
	Phase    string // c32, c256, routes, breaker, tls-full-ecdsa, tls-full-rsa, tls-resumed, tls-c32, tls-c256
	Target   string // direct, skjold, nginx, haproxy; 10 or 10000 for routes
	Round    int
	Requests float64
	Duration float64 // µs
	P50, P99 float64 // µs
	Errors   float64 // socket errors and timeouts
	Non2xx   float64 // answers with a status of 400 or more (wrk counts those)
	CPU      float64 // µs of the target's CPU during the run; -1 when not measured
	Resumed  float64 // handshakes that resumed a session (bench/handshakes); -1 when not counted
}

// RPS is the run's requests per second.
func (r Run) RPS() float64 { return r.Requests / (r.Duration / 1e6) }

// CPUPerRequest is the target's CPU µs per completed request, or -1.
func (r Run) CPUPerRequest() float64 {
	if r.CPU < 0 || r.Requests == 0 {
		return -1
	}
	return r.CPU / r.Requests
}

// Memory is the idle-connection measurement.
type Memory struct {
	Conns, Failed   int     // connections held open, and those that failed
	BaseKiB, RSSKiB float64 // the gateway's VmRSS before and with them
	FDs             int     // descriptors the gateway had open with them
}

// Samples is everything one bench/run measured.
type Samples struct {
	Info   map[string]string
	Runs   []Run
	Memory *Memory
}

// Parse reads a samples file.
func Parse(r io.Reader) (*Samples, error) {
	s := &Samples{Info: map[string]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "info":
			if len(f) < 2 {
				return nil, fmt.Errorf("line %d: info without a key", n)
			}
			_, v, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "info")), " ")
			s.Info[f[1]] = strings.TrimSpace(v)
		case "run":
			if len(f) < 4 {
				return nil, fmt.Errorf("line %d: want run PHASE TARGET ROUND key=value...", n)
			}
			round, err := strconv.Atoi(f[3])
			if err != nil {
				return nil, fmt.Errorf("line %d: round: %w", n, err)
			}
			kv, err := keyValues(f[4:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			run := Run{Phase: f[1], Target: f[2], Round: round, CPU: -1, Resumed: -1}
			for _, k := range []struct {
				name string
				dst  *float64
			}{{"requests", &run.Requests}, {"duration_us", &run.Duration}, {"p50_us", &run.P50}, {"p99_us", &run.P99}, {"errors", &run.Errors}, {"non2xx", &run.Non2xx}} {
				v, ok := kv[k.name]
				if !ok {
					return nil, fmt.Errorf("line %d: no %s", n, k.name)
				}
				*k.dst = v
			}
			if v, ok := kv["cpu_us"]; ok {
				run.CPU = v
			}
			if v, ok := kv["resumed"]; ok {
				run.Resumed = v
			}
			if run.Duration <= 0 {
				return nil, fmt.Errorf("line %d: duration_us must be positive", n)
			}
			s.Runs = append(s.Runs, run)
		case "mem":
			kv, err := keyValues(f[1:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			s.Memory = &Memory{Conns: int(kv["conns"]), Failed: int(kv["failed"]), BaseKiB: kv["base_kib"], RSSKiB: kv["rss_kib"], FDs: int(kv["fds"])}
		default:
			return nil, fmt.Errorf("line %d: unknown record %q", n, f[0])
		}
	}
	return s, sc.Err()
}

func keyValues(fields []string) (map[string]float64, error) {
	kv := make(map[string]float64, len(fields))
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value", f)
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		kv[k] = x
	}
	return kv, nil
}
