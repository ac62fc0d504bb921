// Command report turns the benchmark's samples into its tables: one per
// client concurrency comparing Skjold with nginx, HAProxy and the backend
// reached directly, one for Skjold's own scenarios (many routes, an open
// breaker, idle connections), one checking issue 4's targets, and one for
// TLS (handshakes and keepalive over HTTPS) with issue 14's targets. It
// prints them and, with -md, writes them as a Markdown page.
//
//	report -samples samples.txt -md bench/results/latest.md
//
// The samples file is written by bench/run, one line per measurement:
//
//	info KEY VALUE...
//	run PHASE TARGET ROUND requests=N duration_us=N p50_us=N p99_us=N errors=N non2xx=N [cpu_us=N] [resumed=N]
//	mem conns=N failed=N base_kib=N rss_kib=N
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
)

func main() {
	samplesPath := flag.String("samples", "", "samples file written by bench/run (required)")
	mdPath := flag.String("md", "", "also write the tables as Markdown to this file")
	flag.Parse()
	if *samplesPath == "" {
		fmt.Fprintln(os.Stderr, "report: -samples is required")
		os.Exit(2)
	}
	f, err := os.Open(*samplesPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	s, err := Parse(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "report: %s: %v\n", *samplesPath, err)
		os.Exit(1)
	}
	var buf bytes.Buffer
	Render(&buf, s)
	os.Stdout.Write(buf.Bytes())
	if *mdPath != "" {
		if err := os.WriteFile(*mdPath, buf.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
}
