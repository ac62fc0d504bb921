package gateway

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/proxy"
	"github.com/skjold-dev/skjold/internal/ratelimit"
)

// rateLimit is a route's rate limit as one snapshot uses it. The limiter,
// and with it every key's bucket, passes to the next snapshot when the
// route keeps its name and its rule (see keptRateLimit).
type rateLimit struct {
	rule config.RateLimit
	lim  *ratelimit.Limiter
	// header is the lower-cased header name a header:NAME key reads.
	header string
	// policy is the RateLimit-Policy line every answer carries; prefix
	// starts the RateLimit line with the policy's name
	// (draft-ietf-httpapi-ratelimit-headers-09: structured-field lists).
	policy, prefix string
}

// newRateLimit builds a route's rate limit with an empty key set.
func newRateLimit(rc config.RateLimit) *rateLimit {
	rl := &rateLimit{rule: rc, lim: ratelimit.New(ratelimit.Rule{
		Interval: rc.Rate.Interval(), Burst: rc.Burst, MaxKeys: rc.MaxKeys,
	})}
	name := rc.Key
	if h, ok := strings.CutPrefix(rc.Key, config.RateKeyHeaderPrefix); ok {
		rl.header, name = strings.ToLower(h), "header"
	}
	// The policy is a quota over a window: the time the bucket takes to
	// fill (at least a second), and what passes in it, so one pair tells
	// a client both the sustained rate and the burst.
	fill := rc.Rate.Interval() * time.Duration(rc.Burst)
	window := max(1, int64((fill+time.Second-1)/time.Second))
	quota := max(int64(rc.Burst), int64(rc.Rate.PerSecond()*float64(window)))
	rl.policy = "RateLimit-Policy: \"" + name + "\";q=" + strconv.FormatInt(quota, 10) +
		";w=" + strconv.FormatInt(window, 10) + "\r\n"
	rl.prefix = "RateLimit: \"" + name + "\";r="
	return rl
}

// keptRateLimit returns the rate limit route rc gets in a new snapshot:
// the running one when the route had one under the same name with the same
// rule (so a reload that does not touch the rule forgets no client), else a
// fresh one; nil when rc has none.
func keptRateLimit(rc *config.Route, running *snapshot) *rateLimit {
	if rc.RateLimit == nil {
		return nil
	}
	if running != nil {
		for _, rs := range running.routes {
			if rs.Name == rc.Name && rs.limit != nil && rs.limit.rule == *rc.RateLimit {
				return rs.limit
			}
		}
	}
	return newRateLimit(*rc.RateLimit)
}

// admitRate takes a token for the request from its route's rate limit and
// adds the RateLimit fields to its answer. When there is no token it
// answers 429 itself and returns false.
func (g *Gateway) admitRate(ex *proxy.Exchange, rl *rateLimit) bool {
	d := rl.lim.Take(rl.key(ex), ex.Start)
	h := append(ex.AnswerHeaders, rl.policy...)
	h = append(h, rl.prefix...)
	h = strconv.AppendInt(h, int64(d.Remaining), 10)
	h = append(h, ";t="...)
	h = strconv.AppendInt(h, int64(ceilSeconds(d.Reset)), 10)
	ex.AnswerHeaders = append(h, "\r\n"...)
	if d.Allowed {
		return true
	}
	// The body is not read: the connection cannot carry another request.
	ex.KeepAlive = ex.Req.KeepAlive && !ex.Req.HasBody()
	ex.ArmWrite(ex.Start.Add(ex.SendTimeout), ex.Start)
	g.proxy.Answer(ex, proxy.ErrorAnswer{Status: 429, Class: proxy.ClassRateLimited,
		Message:    "rate limit exceeded: at most " + rl.rule.Rate.String() + " with bursts of " + strconv.Itoa(rl.rule.Burst),
		RetryAfter: d.RetryAfter})
	return false
}

// key hashes what the request is counted under: its client address, a
// header's value (the client address when the header is missing, hashed
// apart from any header value) or the route.
func (rl *rateLimit) key(ex *proxy.Exchange) uint64 {
	switch {
	case rl.header != "":
		for i := range ex.Req.Fields {
			if f := &ex.Req.Fields[i]; h1.EqualFold(f.Name, rl.header) && len(f.Value) > 0 {
				return rl.lim.Hash(f.Value)
			}
		}
		return ^rl.addrHash(ex)
	case rl.rule.Key == config.RateKeyRoute:
		return 0
	}
	return rl.addrHash(ex)
}

// addrHash hashes the request's resolved client address.
func (rl *rateLimit) addrHash(ex *proxy.Exchange) uint64 {
	a := ex.ClientAddr.As16()
	return rl.lim.Hash(a[:])
}

func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

var (
	rateKeysDesc = prometheus.NewDesc("skjold_ratelimit_keys",
		"Keys (clients, header values) a route's rate limit holds a bucket for.", []string{"route"}, nil)
	rateEvictionsDesc = prometheus.NewDesc("skjold_ratelimit_evictions_total",
		"Keys a route's rate limit forgot to stay within max_keys (the least recently seen first); each starts again with a full bucket.",
		[]string{"route"}, nil)
	rateLimitedDesc = prometheus.NewDesc("skjold_ratelimit_limited_total",
		"Requests a route's rate limit refused with 429.", []string{"route"}, nil)
)

func describeRateLimits(ch chan<- *prometheus.Desc) {
	ch <- rateKeysDesc
	ch <- rateEvictionsDesc
	ch <- rateLimitedDesc
}

// collectRateLimits reports every rate-limited route's counters.
func (s *snapshot) collectRateLimits(ch chan<- prometheus.Metric) {
	for _, rs := range s.routes {
		if rs.limit == nil {
			continue
		}
		st := rs.limit.lim.Stats()
		ch <- prometheus.MustNewConstMetric(rateKeysDesc, prometheus.GaugeValue, float64(st.Keys), rs.Name)
		ch <- prometheus.MustNewConstMetric(rateEvictionsDesc, prometheus.CounterValue, float64(st.Evictions), rs.Name)
		ch <- prometheus.MustNewConstMetric(rateLimitedDesc, prometheus.CounterValue, float64(st.Limited), rs.Name)
	}
}
