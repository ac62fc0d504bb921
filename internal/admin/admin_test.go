package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
	"github.com/skjold-dev/skjold/internal/health"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// fakeGateway stands in for the gateway where a real one (see
// gateway_test.go) cannot be made to produce the case on demand: a status
// with every field set (open breakers, ejected targets, health errors) to
// check its encoding, readiness flipped at will, a switch that blocks until
// the test lets it go (Close's grace), and switch arguments to inspect. It
// records its calls and answers as told.
type fakeGateway struct {
	status gateway.Status
	ready  atomic.Bool

	mu    sync.Mutex
	calls []switchCall
	// switchFn answers SetTargets; nil switches successfully.
	switchFn func(ctx context.Context, name string, sw gateway.TargetSwitch) (gateway.SwitchResult, error)
}

type switchCall struct {
	name string
	sw   gateway.TargetSwitch
}

var _ Gateway = (*fakeGateway)(nil)

func (f *fakeGateway) Status() gateway.Status { return f.status }
func (f *fakeGateway) Ready() bool            { return f.ready.Load() }

func (f *fakeGateway) SetTargets(ctx context.Context, name string, sw gateway.TargetSwitch) (gateway.SwitchResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, switchCall{name, sw})
	fn := f.switchFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, name, sw)
	}
	if name != "fx" {
		return gateway.SwitchResult{}, fmt.Errorf("%w %q", gateway.ErrUnknownUpstream, name)
	}
	res := gateway.SwitchResult{Upstream: name, Previous: []string{"127.0.0.1:9001"}, Drained: true, Took: 42 * time.Millisecond}
	for _, m := range sw.Targets {
		res.Targets = append(res.Targets, m.Address)
	}
	return res, nil
}

func (f *fakeGateway) DropTargets(ctx context.Context, name string, drain time.Duration) (gateway.SwitchResult, error) {
	if name != "fx" {
		return gateway.SwitchResult{}, fmt.Errorf("%w %q", gateway.ErrUnknownUpstream, name)
	}
	return gateway.SwitchResult{Upstream: name, Origin: gateway.OriginFile, Drained: true}, nil
}

func (f *fakeGateway) switchCalls() []switchCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]switchCall(nil), f.calls...)
}

func sampleStatus() gateway.Status {
	loaded := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	return gateway.Status{
		ConfigVersion: "3f2a9c1b7d4e", ConfigSource: "/etc/skjold/gateway.yaml", LoadedAt: loaded,
		Reloads: 2, Ready: true, Connections: 14,
		Listeners: []gateway.ListenerStatus{{Name: "public", Address: "127.0.0.1:8080"}},
		Routes: []gateway.RouteStatus{
			{Name: "fx", Upstream: "fx", PathPrefix: "/fx", Requests: 1730, Errors: 20},
			{Name: "payments", Upstream: "payments", Hosts: []string{"pay.example.com"}, PathPrefix: "/", Methods: []string{"GET", "POST"}, Requests: 88,
				Breaker: &gateway.BreakerStatus{State: "half_open", Since: loaded.Add(4 * time.Minute), Reason: "failure ratio 50% of 20 calls in 10s"}},
		},
		Upstreams: []gateway.UpstreamStatus{
			{Name: "fx", Balance: "round_robin", Requests: 1730, Failures: 20,
				TargetsFrom: gateway.TargetsOrigin{Origin: gateway.OriginDeploy, Since: loaded.Add(3 * time.Minute)},
				FileTargets: []config.Target{{Address: "127.0.0.1:9001", Weight: 1}},
				Breaker:     &gateway.BreakerStatus{State: "open", Since: loaded.Add(4 * time.Minute), Until: loaded.Add(5 * time.Minute), Reason: "5 consecutive failures", Opens: 1},
				Targets: []gateway.TargetStatus{
					{TargetStats: upstream.TargetStats{Address: "127.0.0.1:9103", Weight: 1, Active: "up", Passive: "up", Requests: 1520, Failures: 3},
						HealthCheck: &health.TargetStatus{Address: "127.0.0.1:9103", State: health.Up}},
					{TargetStats: upstream.TargetStats{Address: "127.0.0.1:9104", Weight: 2, Active: "down", Passive: "down", DownUntil: loaded.Add(4*time.Minute + 40*time.Second), InFlight: 1, Requests: 210, Failures: 17},
						HealthCheck: &health.TargetStatus{Address: "127.0.0.1:9104", State: health.Down, LastError: "connect: connection refused"}},
				}},
			{Name: "payments", Balance: "least_request", Breaker: &gateway.BreakerStatus{State: "closed"}, TargetsFrom: gateway.TargetsOrigin{Origin: gateway.OriginFile},
				Targets: []gateway.TargetStatus{
					{TargetStats: upstream.TargetStats{Address: "127.0.0.1:9101", Weight: 1, Active: "unknown", Passive: "up", Requests: 88}},
					{TargetStats: upstream.TargetStats{Address: "127.0.0.1:9102", Weight: 1, Backup: true, Active: "unknown", Passive: "up"}},
				}},
		},
	}
}

// start runs an admin server on a free loopback port and closes it when
// the test ends.
func start(t *testing.T, o Options) (*Server, *fakeGateway) {
	t.Helper()
	fg, _ := o.Gateway.(*fakeGateway)
	if o.Gateway == nil {
		fg = &fakeGateway{status: sampleStatus()}
		fg.ready.Store(true)
		o.Gateway = fg
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	s, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, fg
}

type answer struct {
	status int
	header http.Header
	body   string
}

// call makes one request to the admin server at addr.
func call(t *testing.T, addr, method, path, token, body string) answer {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	base := "http://" + addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		hc.Transport = &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", p)
		}}
		base = "http://admin"
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// errorOf decodes a {"error":...} body, failing the test when the body is
// not one.
func errorOf(t *testing.T, a answer) string {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json; body %q", ct, a.body)
	}
	var e struct {
		Error string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == "" {
		t.Fatalf("body %q is not {\"error\":...}: %v", a.body, err)
	}
	return e.Error
}

func TestStatusServesGatewayStatusAsIndentedJSON(t *testing.T) {
	s, fg := start(t, Options{})
	a := call(t, s.Addr(), "GET", "/status", "", "")
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", a.status, a.header.Get("Content-Type"))
	}
	if !strings.HasPrefix(a.body, "{\n  \"config_version\": \"3f2a9c1b7d4e\",\n") {
		t.Errorf("body is not indented JSON starting with the config version:\n%s", a.body)
	}
	var got gateway.Status
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(fg.status)
	gotJSON, _ := json.Marshal(got)
	if string(gotJSON) != string(want) {
		t.Errorf("status does not round-trip:\n got %s\nwant %s", gotJSON, want)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", a.header.Get("Cache-Control"))
	}
}

func TestHealthzAnswersOKEvenWhenNotReady(t *testing.T) {
	fg := &fakeGateway{}
	s, _ := start(t, Options{Gateway: fg})
	for _, method := range []string{"GET", "HEAD"} {
		a := call(t, s.Addr(), method, "/healthz", "", "")
		if a.status != 200 {
			t.Errorf("%s /healthz: %d, want 200", method, a.status)
		}
		if method == "GET" && a.body != "ok\n" {
			t.Errorf("GET /healthz body %q, want ok", a.body)
		}
	}
}

func TestReadyzFollowsGatewayReadiness(t *testing.T) {
	fg := &fakeGateway{}
	s, _ := start(t, Options{Gateway: fg})
	if a := call(t, s.Addr(), "GET", "/readyz", "", ""); a.status != 503 || !strings.Contains(errorOf(t, a), "not ready") {
		t.Errorf("before ready: %d %q, want 503 not ready", a.status, a.body)
	}
	fg.ready.Store(true)
	if a := call(t, s.Addr(), "GET", "/readyz", "", ""); a.status != 200 || a.body != "ready\n" {
		t.Errorf("ready: %d %q, want 200 ready", a.status, a.body)
	}
	fg.ready.Store(false) // shutting down
	if a := call(t, s.Addr(), "GET", "/readyz", "", ""); a.status != 503 {
		t.Errorf("after ready went away: %d, want 503", a.status)
	}
}

func TestReloadAppliedAnswersVersion(t *testing.T) {
	var calls atomic.Int32
	s, _ := start(t, Options{Reload: func(ctx context.Context) (gateway.ReloadReport, error) {
		calls.Add(1)
		return gateway.ReloadReport{Version: "9c0ffee12345", Warnings: []string{"upstream fx: overridden"}}, nil
	}})
	a := call(t, s.Addr(), "POST", "/reload", "", "")
	var res ReloadResult
	if err := json.Unmarshal([]byte(a.body), &res); err != nil {
		t.Fatal(err)
	}
	if a.status != 200 || res.Result != "applied" || res.Version != "9c0ffee12345" || len(res.Warnings) != 1 {
		t.Errorf("got %d %+v, want 200 applied 9c0ffee12345", a.status, res)
	}
	if calls.Load() != 1 {
		t.Errorf("Reload called %d times, want 1", calls.Load())
	}
}

func TestReloadRejectedAnswers422WithEveryProblem(t *testing.T) {
	ve := &config.ValidationError{Problems: []config.Problem{
		{File: "gw.yaml", Line: 4, Column: 7, Path: "upstreams.fx.targets[0].address", Message: "expected host:port"},
		{File: "gw.yaml", Line: 9, Column: 3, Path: "routes[0].upstream", Message: `unknown upstream "fxx"`},
	}}
	cases := map[string]struct {
		err      error
		want     string
		wantLine int
	}{
		"validation report": {
			err:  fmt.Errorf("%w: %w", gateway.ErrRejected, ve),
			want: ve.Error(),
		},
		"listener bind failure": {
			err:  fmt.Errorf("%w: %w", gateway.ErrRejected, errors.New("listener public: listen tcp 127.0.0.1:80: bind: permission denied")),
			want: "config rejected; the running config keeps serving: listener public: listen tcp 127.0.0.1:80: bind: permission denied",
		},
		"unreadable file": {
			err:  errors.New("config: open gw.yaml: no such file or directory"),
			want: "config: open gw.yaml: no such file or directory",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, _ := start(t, Options{Reload: func(context.Context) (gateway.ReloadReport, error) { return gateway.ReloadReport{}, tc.err }})
			a := call(t, s.Addr(), "POST", "/reload", "", "")
			var res ReloadResult
			if err := json.Unmarshal([]byte(a.body), &res); err != nil {
				t.Fatal(err)
			}
			if a.status != 422 || res.Result != "rejected" || res.Error != tc.want {
				t.Errorf("got %d %+v\nwant 422 rejected %q", a.status, res, tc.want)
			}
		})
	}
	if got := strings.Count(ve.Error(), "\n"); got != 1 {
		t.Fatalf("the report should hold one problem per line; got %d newlines", got)
	}
}

func TestReloadWithoutReloadFuncAnswers501(t *testing.T) {
	s, _ := start(t, Options{})
	a := call(t, s.Addr(), "POST", "/reload", "", "")
	if a.status != 501 || !strings.Contains(errorOf(t, a), "reload is not available") {
		t.Errorf("got %d %q, want 501", a.status, a.body)
	}
}

func TestSetTargetsSwitchesAndAnswersResult(t *testing.T) {
	s, fg := start(t, Options{})
	a := call(t, s.Addr(), "PUT", "/upstreams/fx/targets", "", `{
		"targets": [{"address": "127.0.0.1:9002", "weight": 3}, {"address": "10.0.0.7:9003", "backup": true}],
		"wait_healthy": true, "health_timeout": "45s", "drain_timeout": "2m"}`)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var res gateway.SwitchResult
	if err := json.Unmarshal([]byte(a.body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Upstream != "fx" || strings.Join(res.Targets, ",") != "127.0.0.1:9002,10.0.0.7:9003" || !res.Drained || res.Took != 42*time.Millisecond {
		t.Errorf("result %+v", res)
	}
	calls := fg.switchCalls()
	if len(calls) != 1 {
		t.Fatalf("%d SetTargets calls, want 1", len(calls))
	}
	want := gateway.TargetSwitch{
		Targets:       []config.Target{{Address: "127.0.0.1:9002", Weight: 3}, {Address: "10.0.0.7:9003", Weight: 1, Backup: true}},
		WaitHealthy:   true,
		HealthTimeout: 45 * time.Second,
		DrainTimeout:  2 * time.Minute,
	}
	if got := calls[0]; got.name != "fx" || fmt.Sprint(got.sw) != fmt.Sprint(want) {
		t.Errorf("SetTargets(%q, %+v)\nwant SetTargets(fx, %+v)", got.name, got.sw, want)
	}
}

func TestSetTargetsDefaultsTimeoutsTo30s(t *testing.T) {
	s, fg := start(t, Options{})
	if a := call(t, s.Addr(), "PUT", "/upstreams/fx/targets", "", `{"targets":[{"address":"127.0.0.1:9002"}]}`); a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	sw := fg.switchCalls()[0].sw
	if sw.WaitHealthy || sw.HealthTimeout != 30*time.Second || sw.DrainTimeout != 30*time.Second || sw.Targets[0].Weight != 1 {
		t.Errorf("switch %+v, want no wait, 30s timeouts, weight 1", sw)
	}
}

func TestSetTargetsRefusesBadRequests(t *testing.T) {
	cases := map[string]struct {
		path, body string
		status     int
		want       []string // substrings of the error, one per problem
	}{
		"unknown upstream":   {"/upstreams/nope/targets", `{"targets":[{"address":"127.0.0.1:9002"}]}`, 404, []string{`unknown upstream "nope"`}},
		"not JSON":           {"/upstreams/fx/targets", `targets: [127.0.0.1:9002]`, 400, []string{"reading the request body"}},
		"unknown field":      {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002"}],"wait_helthy":true}`, 400, []string{`unknown field "wait_helthy"`}},
		"unknown target key": {"/upstreams/fx/targets", `{"targets":[{"addr":"127.0.0.1:9002"}]}`, 400, []string{`unknown field "addr"`}},
		"trailing data":      {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002"}]} {}`, 400, []string{"one JSON object and nothing after it"}},
		"empty body":         {"/upstreams/fx/targets", ``, 400, []string{"reading the request body"}},
		"empty list":         {"/upstreams/fx/targets", `{"targets":[]}`, 400, []string{"at least one target is required"}},
		"no targets key":     {"/upstreams/fx/targets", `{"wait_healthy":true}`, 400, []string{"at least one target is required"}},
		"bad address":        {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1"}]}`, 400, []string{"targets[0].address: expected host:port"}},
		"port zero":          {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:0"}]}`, 400, []string{"targets[0].address: port"}},
		"missing address":    {"/upstreams/fx/targets", `{"targets":[{"weight":2}]}`, 400, []string{"targets[0].address: is required"}},
		"duplicate":          {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002"},{"address":"127.0.0.1:9002"}]}`, 400, []string{"targets[1].address: 127.0.0.1:9002 is already listed as targets[0]"}},
		"weight too high":    {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002","weight":1001}]}`, 400, []string{"targets[0].weight: must be between 1 and 1000, got 1001"}},
		"negative weight":    {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002","weight":-1}]}`, 400, []string{"got -1"}},
		"all backups":        {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002","backup":true}]}`, 400, []string{"every target is a backup"}},
		"bad durations":      {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002"}],"health_timeout":"30","drain_timeout":"-1s"}`, 400, []string{`health_timeout: expected a duration such as 30s or 2m, got "30"`, "drain_timeout: must be more than 0"}},
		"timeout too long":   {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002"}],"drain_timeout":"2h"}`, 400, []string{"drain_timeout: must be more than 0 and at most 1h0m0s, got 2h"}},
		"every problem": {"/upstreams/fx/targets", `{"targets":[{"address":"x"},{"address":"127.0.0.1:1","weight":5000}]}`, 400,
			[]string{"targets[0].address", "targets[1].weight"}},
		"body over 1 MiB": {"/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002"}],"drain_timeout":"` + strings.Repeat("9", 1<<20) + `"}`, 413, []string{"request body too large"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, fg := start(t, Options{})
			a := call(t, s.Addr(), "PUT", tc.path, "", tc.body)
			if a.status != tc.status {
				t.Errorf("status %d, want %d; body %s", a.status, tc.status, a.body)
			}
			msg := errorOf(t, a)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if got, want := strings.Count(msg, "\n")+1, len(tc.want); tc.status == 400 && got != want {
				t.Errorf("error has %d lines, want one per problem (%d):\n%s", got, want, msg)
			}
			if n := len(fg.switchCalls()); tc.status != 404 && n != 0 {
				t.Errorf("a refused request reached the gateway (%d calls)", n)
			}
		})
	}
}

func TestSetTargetsMapsGatewayErrors(t *testing.T) {
	cases := map[string]struct {
		err    error
		status int
	}{
		"targets never healthy": {fmt.Errorf("upstream fx: new targets did not become healthy within 30s; nothing was switched: %w",
			fmt.Errorf("%w: 127.0.0.1:9002 is down", health.ErrNotHealthy)), 409},
		"unknown upstream": {fmt.Errorf("%w %q", gateway.ErrUnknownUpstream, "fx"), 404},
		"anything else":    {errors.New("building the snapshot failed"), 500},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fg := &fakeGateway{switchFn: func(context.Context, string, gateway.TargetSwitch) (gateway.SwitchResult, error) {
				return gateway.SwitchResult{}, tc.err
			}}
			s, _ := start(t, Options{Gateway: fg})
			a := call(t, s.Addr(), "PUT", "/upstreams/fx/targets", "", `{"targets":[{"address":"127.0.0.1:9002"}],"wait_healthy":true}`)
			if a.status != tc.status || errorOf(t, a) != tc.err.Error() {
				t.Errorf("got %d %q, want %d %q", a.status, a.body, tc.status, tc.err.Error())
			}
		})
	}
}

func TestMetricsServesGatherer(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "skjold_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(7)
	s, _ := start(t, Options{Gatherer: reg})
	a := call(t, s.Addr(), "GET", "/metrics", "", "")
	if a.status != 200 || !strings.Contains(a.body, "skjold_test_total 7\n") {
		t.Errorf("got %d:\n%s", a.status, a.body)
	}
}

func TestMetricsWithoutGathererAnswers404(t *testing.T) {
	s, _ := start(t, Options{})
	a := call(t, s.Addr(), "GET", "/metrics", "", "")
	if a.status != 404 || !strings.Contains(errorOf(t, a), "metrics are not enabled") {
		t.Errorf("got %d %q", a.status, a.body)
	}
}

func TestWrongMethodAndUnknownPathAnswerJSON(t *testing.T) {
	s, _ := start(t, Options{})
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"POST", "/status", 405, "GET, HEAD"},
		{"GET", "/reload", 405, "POST"},
		{"POST", "/upstreams/fx/targets", 405, "PUT, DELETE"},
		{"PUT", "/metrics", 405, "GET, HEAD"},
		{"GET", "/nope", 404, ""},
		{"GET", "/upstreams/fx", 404, ""},
	}
	for _, tc := range cases {
		a := call(t, s.Addr(), tc.method, tc.path, "", "")
		if a.status != tc.status || a.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tc.method, tc.path, a.status, a.header.Get("Allow"), tc.status, tc.allow)
		}
		errorOf(t, a)
	}
}

func TestTokenGuardsEveryEndpoint(t *testing.T) {
	const token = "s3cret-token"
	s, _ := start(t, Options{Token: token, Gatherer: prometheus.NewRegistry(),
		Reload: func(context.Context) (gateway.ReloadReport, error) { return gateway.ReloadReport{Version: "v2"}, nil }})
	endpoints := []struct{ method, path, body string }{
		{"GET", "/status", ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/metrics", ""},
		{"POST", "/reload", ""},
		{"PUT", "/upstreams/fx/targets", `{"targets":[{"address":"127.0.0.1:9002"}]}`},
		{"GET", "/nope", ""},
	}
	auths := []struct {
		name, header string
		ok           bool
	}{
		{"none", "", false},
		{"wrong", "Bearer s3cret-tokem", false},
		{"prefix of the token", "Bearer s3cret", false},
		{"longer than the token", "Bearer s3cret-token2", false},
		{"other scheme", "Basic czNjcmV0LXRva2Vu", false},
		{"token without scheme", token, false},
		{"right", "Bearer " + token, true},
		{"scheme in lower case", "bearer " + token, true},
	}
	for _, e := range endpoints {
		for _, au := range auths {
			a := call(t, s.Addr(), e.method, e.path, au.header, e.body)
			if au.ok {
				if a.status == 401 {
					t.Errorf("%s %s with %s token: 401, want it let through", e.method, e.path, au.name)
				}
				continue
			}
			if a.status != 401 || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with %s token: %d WWW-Authenticate %q, want 401 Bearer", e.method, e.path, au.name, a.status, a.header.Get("WWW-Authenticate"))
				continue
			}
			errorOf(t, a)
		}
	}
}

func TestStartRefusesNonLoopbackWithoutToken(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "gateway.example.com:0", "[::ffff:10.0.0.1]:0"} {
		s, err := Start(t.Context(), Options{Listen: listen, Gateway: &fakeGateway{}})
		if !errors.Is(err, ErrNeedsToken) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Start(%q) without a token: %v, want ErrNeedsToken", listen, err)
		}
	}
}

func TestStartAcceptsLoopbackWithoutTokenAndAnyAddressWithOne(t *testing.T) {
	cases := []struct {
		listen, token string
	}{
		{"127.0.0.1:0", ""},
		{"127.3.4.5:0", ""},
		{"localhost:0", ""},
		{"[::1]:0", ""},
		{"0.0.0.0:0", "t"},
	}
	for _, tc := range cases {
		s, err := Start(t.Context(), Options{Listen: tc.listen, Token: tc.token, Gateway: &fakeGateway{}})
		if err != nil {
			t.Errorf("Start(%q, token %q): %v", tc.listen, tc.token, err)
			continue
		}
		host, port, err := net.SplitHostPort(s.Addr())
		if err != nil || port == "0" || host == "" {
			t.Errorf("Start(%q).Addr() = %q, want the bound host:port", tc.listen, s.Addr())
		}
		s.Close()
	}
}

func TestStartRefusesMalformedListen(t *testing.T) {
	for _, listen := range []string{"9901", "unix:", "127.0.0.1"} {
		if s, err := Start(t.Context(), Options{Listen: listen, Gateway: &fakeGateway{}}); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded, want an error", listen)
		}
	}
	if _, err := Start(t.Context(), Options{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("Start without a Gateway succeeded, want an error")
	}
}

// socketPath returns a path short enough for a unix socket (about 100
// bytes at most), which t.TempDir's may not be.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "skj")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "admin.sock")
}

func TestUnixSocketServesOwnerOnlyAndIsRemovedOnClose(t *testing.T) {
	path := socketPath(t)
	s, err := Start(t.Context(), Options{Listen: "unix:" + path, Gateway: &fakeGateway{status: sampleStatus()}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "unix:"+path {
		t.Errorf("Addr() = %q, want unix:%s", s.Addr(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if a := call(t, s.Addr(), "GET", "/status", "", ""); a.status != 200 || !strings.Contains(a.body, "3f2a9c1b7d4e") {
		t.Errorf("GET /status over the socket: %d %q", a.status, a.body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after Close: %v", err)
	}
}

func TestUnixSocketReplacesStaleSocket(t *testing.T) {
	path := socketPath(t)
	// A socket file nobody listens on, as a killed process leaves it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	s, _ := start(t, Options{Listen: "unix:" + path})
	if a := call(t, s.Addr(), "GET", "/healthz", "", ""); a.status != 200 {
		t.Errorf("GET /healthz: %d", a.status)
	}
}

func TestUnixSocketRefusesLiveSocketAndOtherFiles(t *testing.T) {
	live := socketPath(t)
	first, _ := start(t, Options{Listen: "unix:" + live})
	if s, err := Start(t.Context(), Options{Listen: "unix:" + live, Gateway: &fakeGateway{}}); err == nil || !strings.Contains(err.Error(), "another process is serving") {
		if s != nil {
			s.Close()
		}
		t.Errorf("second Start on a live socket: %v, want it refused", err)
	}
	if a := call(t, first.Addr(), "GET", "/healthz", "", ""); a.status != 200 {
		t.Errorf("the first server stopped answering: %d", a.status)
	}

	file := socketPath(t)
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Start(t.Context(), Options{Listen: "unix:" + file, Gateway: &fakeGateway{}}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		if s != nil {
			s.Close()
		}
		t.Errorf("Start on a regular file: %v, want it refused", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Errorf("the regular file was changed: %q", b)
	}
}

func TestCloseLetsInFlightCallFinish(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	fg := &fakeGateway{switchFn: func(ctx context.Context, name string, sw gateway.TargetSwitch) (gateway.SwitchResult, error) {
		close(entered)
		<-release
		return gateway.SwitchResult{Upstream: name, Drained: true}, ctx.Err()
	}}
	s, err := Start(t.Context(), Options{Listen: "127.0.0.1:0", Gateway: fg})
	if err != nil {
		t.Fatal(err)
	}
	shutdownBegan := make(chan struct{})
	s.srv.RegisterOnShutdown(func() { close(shutdownBegan) })

	answered := make(chan answer, 1)
	go func() {
		answered <- call(t, s.Addr(), "PUT", "/upstreams/fx/targets", "", `{"targets":[{"address":"127.0.0.1:9002"}]}`)
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	<-shutdownBegan
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a call was in flight", err)
	default:
	}
	close(release)
	if a := <-answered; a.status != 200 {
		t.Errorf("in-flight call answered %d %s, want 200", a.status, a.body)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestCloseCancelsCallsThatOutliveTheTimeout(t *testing.T) {
	cancelled := make(chan struct{})
	entered := make(chan struct{})
	fg := &fakeGateway{switchFn: func(ctx context.Context, name string, sw gateway.TargetSwitch) (gateway.SwitchResult, error) {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return gateway.SwitchResult{}, ctx.Err()
	}}
	s, err := Start(t.Context(), Options{Listen: "127.0.0.1:0", Gateway: fg, CloseTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		hc := &http.Client{}
		req, _ := http.NewRequest("PUT", "http://"+s.Addr()+"/upstreams/fx/targets", strings.NewReader(`{"targets":[{"address":"127.0.0.1:9002"}]}`))
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-cancelled // the call's context was cancelled; a hang here fails by timeout
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartContextCancelLeavesAPIUp(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	fg := &fakeGateway{}
	fg.ready.Store(true)
	s, err := Start(ctx, Options{Listen: "127.0.0.1:0", Gateway: fg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	fg.ready.Store(false) // the gateway drains
	if a := call(t, s.Addr(), "GET", "/readyz", "", ""); a.status != 503 {
		t.Errorf("GET /readyz after ctx ended: %d, want 503 from a live API", a.status)
	}
}
