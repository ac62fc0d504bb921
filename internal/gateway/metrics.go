package gateway

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/proxy"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// metrics are the gateway's Prometheus series. Label values come only from
// the config (route and upstream names) and from the bounded set of status
// codes and reasons, never from request data.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	fast     *prometheus.CounterVec
	inflight prometheus.Gauge
	reloads  *prometheus.CounterVec
	// handshakes counts TLS handshakes by listener and result (ok,
	// timeout, error); certReloadErrors counts certificate files that
	// changed on disk but could not be served.
	handshakes       *prometheus.CounterVec
	certReloadErrors *prometheus.CounterVec

	mu     sync.Mutex
	routes map[[2]string]*routeMetrics
	none   *routeMetrics
}

// routeMetrics are one route's pre-resolved series, so the hot path does
// no label hashing for the common status codes.
type routeMetrics struct {
	m        *metrics
	route    string
	upstream string
	duration prometheus.Observer
	retries  prometheus.Counter
	inflight prometheus.Gauge
	codes    atomic.Pointer[map[int]prometheus.Counter]
	codesMu  sync.Mutex
	// total and errors (5xx answers) feed the status page.
	total, errors atomic.Uint64
}

func newMetrics(reg prometheus.Registerer, g *Gateway) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skjold_requests_total",
			Help: "Requests answered, by route, upstream and status code.",
		}, []string{"route", "upstream", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "skjold_request_duration_seconds",
			Help:    "Time from the first byte of the request to the end of the response, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skjold_retries_total",
			Help: "Tries beyond the first, by route and upstream.",
		}, []string{"route", "upstream"}),
		fast: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skjold_fast_failures_total",
			Help: "Requests answered without touching an upstream, by reason (breaker_open, no_healthy_target, bulkhead_full).",
		}, []string{"route", "upstream", "reason"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "skjold_inflight_requests",
			Help: "Requests being handled now.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skjold_config_reloads_total",
			Help: "Config reloads, by result (applied or rejected).",
		}, []string{"result"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skjold_tls_handshakes_total",
			Help: "TLS handshakes on client connections, by listener and result (ok, timeout, error).",
		}, []string{"listener", "result"}),
		certReloadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skjold_tls_certificate_reload_errors_total",
			Help: "Certificate files that changed on disk but could not be served (the previous certificate stays), by listener.",
		}, []string{"listener"}),
		routes: map[[2]string]*routeMetrics{},
	}
	m.reloads.WithLabelValues("applied")
	m.reloads.WithLabelValues("rejected")
	reg.MustRegister(m.requests, m.duration, m.retries, m.fast, m.inflight, m.reloads, m.handshakes, m.certReloadErrors, &stateCollector{g: g})
	m.none = m.forRoute("", "")
	return m
}

func (m *metrics) forRoute(route, upstream string) *routeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := [2]string{route, upstream}
	if rm := m.routes[key]; rm != nil {
		return rm
	}
	rm := &routeMetrics{
		m:        m,
		route:    route,
		upstream: upstream,
		duration: m.duration.WithLabelValues(route),
		retries:  m.retries.WithLabelValues(route, upstream),
		inflight: m.inflight,
	}
	codes := map[int]prometheus.Counter{}
	rm.codes.Store(&codes)
	m.routes[key] = rm
	return rm
}

// code returns the counter for a status code, creating it on first use.
func (rm *routeMetrics) code(status int) prometheus.Counter {
	if c := (*rm.codes.Load())[status]; c != nil {
		return c
	}
	rm.codesMu.Lock()
	defer rm.codesMu.Unlock()
	old := *rm.codes.Load()
	if c := old[status]; c != nil {
		return c
	}
	if status < 100 || status > 599 {
		status = 0
	}
	c := rm.m.requests.WithLabelValues(rm.route, rm.upstream, strconv.Itoa(status))
	next := make(map[int]prometheus.Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[status] = c
	rm.codes.Store(&next)
	return c
}

func (rm *routeMetrics) observe(ex *proxy.Exchange, elapsed time.Duration) {
	rm.code(ex.Status).Inc()
	rm.total.Add(1)
	if ex.Status >= 500 {
		rm.errors.Add(1)
	}
	rm.duration.Observe(elapsed.Seconds())
	if ex.Tries > 1 {
		rm.retries.Add(float64(ex.Tries - 1))
	}
	if ex.FastFailed {
		rm.m.fast.WithLabelValues(rm.route, rm.upstream, ex.ErrClass.String()).Inc()
	}
}

func (m *metrics) unrouted(status int) { m.none.code(status).Inc() }

// stateCollector reports gauges read from the live snapshot at scrape
// time: target health and breaker state.
type stateCollector struct{ g *Gateway }

var (
	targetUpDesc = prometheus.NewDesc("skjold_upstream_target_up",
		"1 when the target may receive traffic (not ejected by passive health, not down by active health), else 0.",
		[]string{"upstream", "target"}, nil)
	targetInflightDesc = prometheus.NewDesc("skjold_upstream_target_inflight_requests",
		"Requests in flight to the target.", []string{"upstream", "target"}, nil)
	discardedDesc = prometheus.NewDesc("skjold_upstream_connections_discarded_total",
		"Upstream connections closed instead of reused because the target had sent more than its response (reason unread_bytes) or had closed them while idle (peer_closed).",
		[]string{"upstream", "target", "reason"}, nil)
	breakerStateDesc = prometheus.NewDesc("skjold_breaker_state",
		"Circuit breaker state: 0 closed, 1 half-open, 2 open.", []string{"scope", "name"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- targetUpDesc
	ch <- targetInflightDesc
	ch <- discardedDesc
	ch <- breakerStateDesc
	ch <- certExpiryDesc
	describeRateLimits(ch)
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.g.snap.Load()
	if s == nil {
		return
	}
	now := time.Now()
	for name, u := range s.upstreams {
		for _, ts := range u.Stats(now) {
			up := 0.0
			if ts.Passive == "up" && ts.Active != "down" {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(targetUpDesc, prometheus.GaugeValue, up, name, ts.Address)
			ch <- prometheus.MustNewConstMetric(targetInflightDesc, prometheus.GaugeValue, float64(ts.InFlight), name, ts.Address)
		}
		for _, t := range u.Targets() {
			for r := range upstream.DiscardReasonCount {
				ch <- prometheus.MustNewConstMetric(discardedDesc, prometheus.CounterValue, float64(t.Discarded(r)), name, t.Addr, r.String())
			}
		}
		if u.Breaker != nil {
			ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, breakerValue(u.Breaker.Snapshot().State), "upstream", name)
		}
	}
	for _, r := range s.routes {
		if r.Breaker != nil {
			ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, breakerValue(r.Breaker.Snapshot().State), "route", r.Name)
		}
	}
	s.collectCertificates(ch, now)
	s.collectRateLimits(ch)
}

func breakerValue(s breaker.State) float64 {
	switch s {
	case breaker.HalfOpen:
		return 1
	case breaker.Open:
		return 2
	}
	return 0
}
