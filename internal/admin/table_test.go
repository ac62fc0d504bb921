package admin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/gateway"
)

func TestWriteStatusPrintsUpstreamsTargetsAndRoutes(t *testing.T) {
	st := sampleStatus()
	var b bytes.Buffer
	if err := WriteStatus(&b, st, st.LoadedAt.Add(4*time.Minute+15*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := `config 3f2a9c1b7d4e from /etc/skjold/gateway.yaml, loaded 2025-06-02T12:00:00Z (4m15s ago), 2 reloads, 14 client connections, ready
listeners: public 127.0.0.1:8080

upstream fx (round_robin): breaker open until 12:05:00 (in 45s): 5 consecutive failures
  targets from a deploy override since 12:03:00 (1m15s ago) (the file's 127.0.0.1:9001 not in force; ` + "`skjold targets reset fx`" + ` drops it)
  TARGET          WEIGHT  PASSIVE                       ACTIVE  IN-FLIGHT  REQUESTS  FAILURES
  127.0.0.1:9103  1       up                            up      0          1520      3
  127.0.0.1:9104  2       down until 12:04:40 (in 25s)  down    1          210       17        health check: connect: connection refused

upstream payments (least_request): breaker closed
  targets from the config file
  TARGET                   WEIGHT  PASSIVE  ACTIVE  IN-FLIGHT  REQUESTS  FAILURES
  127.0.0.1:9101           1       up       -       0          88        0
  127.0.0.1:9102 (backup)  1       up       -       0          0         0

ROUTE     UPSTREAM  MATCH                       REQUESTS  ERRORS  BREAKER
fx        fx        /fx                         1730      20      -
payments  payments  pay.example.com / GET,POST  88        0       half-open since 12:04:00 (15s ago): failure ratio 50% of 20 calls in 10s
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteStatusSaysWhenNothingIsLoaded(t *testing.T) {
	var b bytes.Buffer
	if err := WriteStatus(&b, gateway.Status{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "no config loaded, NOT READY\n" {
		t.Errorf("got %q", got)
	}
}

func TestWriteStatusMarksAnUpstreamWithoutBreaker(t *testing.T) {
	st := gateway.Status{ConfigVersion: "v", ConfigSource: "gw.yaml", Reloads: 1, Connections: 1,
		Upstreams: []gateway.UpstreamStatus{{Name: "fx", Balance: "round_robin"}}}
	var b bytes.Buffer
	if err := WriteStatus(&b, st, st.LoadedAt); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 reload, 1 client connection, NOT READY\n", "upstream fx (round_robin): breaker off\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, b.String())
		}
	}
}

func TestShortDuration(t *testing.T) {
	cases := map[time.Duration]string{
		300 * time.Millisecond:           "0s",
		1500 * time.Millisecond:          "2s",
		4*time.Minute + 15*time.Second:   "4m15s",
		3*time.Hour + 20*time.Minute + 9: "3h20m",
		3 * time.Hour:                    "3h",
		50 * time.Hour:                   "2d",
	}
	for d, want := range cases {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
