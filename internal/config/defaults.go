package config

import (
	"fmt"
	"strings"
	"time"
)

// ApplyDefaults fills every unset field of c with its default, so code that
// consumes a Config never applies defaults itself. Parse calls it; call it
// directly only for a Config built in code (tests, other sources). It also
// normalises values that have one spelling (route hosts are lower-cased).
// It is idempotent.
func ApplyDefaults(c *Config) { applyDefaults(c, nil) }

// filler applies defaults. With a report, a key the file sets explicitly to
// the zero value is a problem rather than silently replaced by the default:
// "connect_timeout: 0s" almost always means "no timeout", which Skjold
// does not offer, and quietly turning it into 1s would surprise.
type filler struct {
	r *report
}

func (f filler) explicitZero(path, zero, def string) bool {
	if !f.r.isGiven(path) {
		return false
	}
	f.r.failf(path, "%s is not allowed here; leave the key out for the default (%s)", zero, def)
	return true
}

func (f filler) duration(path string, v *Duration, def time.Duration) {
	if *v == 0 && !f.explicitZero(path, "0s", def.String()) {
		*v = Duration(def)
	}
}

func (f filler) size(path string, v *ByteSize, def int64) {
	if *v == 0 && !f.explicitZero(path, "0", ByteSize(def).String()) {
		*v = ByteSize(def)
	}
}

func (f filler) int(path string, v *int, def int) {
	if *v == 0 && !f.explicitZero(path, "0", fmt.Sprint(def)) {
		*v = def
	}
}

func (f filler) str(path string, v *string, def string) {
	if *v == "" && !f.explicitZero(path, `""`, def) {
		*v = def
	}
}

func (f filler) list(path string, v *[]string, def ...string) {
	if len(*v) == 0 && !f.explicitZero(path, "an empty list", "["+strings.Join(def, ", ")+"]") {
		*v = append([]string(nil), def...)
	}
}

// ptr sets *p to a fresh copy of def when the file left it unset; a nil
// pointer means unset, and a set zero (for example "idle: 0") is kept,
// because for these fields zero has its own meaning.
func ptr[T any](p **T, def T) {
	if *p == nil {
		*p = &def
	}
}

func applyDefaults(c *Config, r *report) {
	f := filler{r: r}

	f.duration("shutdown_grace", &c.ShutdownGrace, DefaultShutdownGrace)
	for _, name := range sortedKeys(c.Listeners) {
		l := c.Listeners[name]
		if l == nil {
			l = &Listener{}
			c.Listeners[name] = l
		}
		p := keyPath("listeners", name)
		f.duration(p+".read_header_timeout", &l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
		f.duration(p+".send_timeout", &l.SendTimeout, DefaultClientSendTimeout)
		f.duration(p+".idle_timeout", &l.IdleTimeout, DefaultIdleTimeout)
		f.size(p+".max_header_bytes", &l.MaxHeaderBytes, DefaultMaxHeaderBytes)
		f.size(p+".max_uri_bytes", &l.MaxURIBytes, DefaultMaxURIBytes)
		f.str(p+".forwarded_header", &l.ForwardedHeader, ForwardedXFF)
	}

	f.str("admin.listen", &c.Admin.Listen, DefaultAdminListen)
	ptr(&c.AccessLog.Enabled, true)
	f.str("access_log.path", &c.AccessLog.Path, "stdout")
	f.str("state_dir", &c.StateDir, DefaultGatewayStateDir)

	for _, name := range sortedKeys(c.Upstreams) {
		u := c.Upstreams[name]
		if u == nil {
			u = &Upstream{}
			c.Upstreams[name] = u
		}
		upstreamDefaults(f, keyPath("upstreams", name), u)
	}

	routeDefaults(f, c)
	databasesDefaults(f, &c.Databases)
	servicesDefaults(f, c)
	residencyDefaults(c)
	tlsDefaults(c)
}

func upstreamDefaults(f filler, p string, u *Upstream) {
	for i, t := range u.Targets {
		if t == nil {
			t = &Target{}
			u.Targets[i] = t
		}
		f.int(indexPath(p+".targets", i)+".weight", &t.Weight, 1)
	}
	if u.Balance == "" && !f.explicitZero(p+".balance", `""`, string(RoundRobin)) {
		u.Balance = RoundRobin
	}
	f.duration(p+".connect_timeout", &u.ConnectTimeout, DefaultConnectTimeout)
	ptr(&u.Keepalive.Idle, DefaultKeepaliveIdle)
	f.duration(p+".keepalive.idle_timeout", &u.Keepalive.IdleTimeout, DefaultKeepaliveIdleTimeout)
	f.duration(p+".queue_timeout", &u.QueueTimeout, DefaultQueueTimeout)
	ptr(&u.PassiveHealth.MaxFails, DefaultMaxFails)
	f.duration(p+".passive_health.fail_timeout", &u.PassiveHealth.FailTimeout, DefaultFailTimeout)
	if hc := u.HealthCheck; hc != nil {
		hp := p + ".health_check"
		f.str(hp+".path", &hc.Path, DefaultHealthPath)
		f.duration(hp+".interval", &hc.Interval, DefaultHealthInterval)
		f.duration(hp+".timeout", &hc.Timeout, DefaultHealthTimeout)
		f.list(hp+".expect_status", &hc.ExpectStatus, "200-399")
		f.int(hp+".rise", &hc.Rise, DefaultHealthRise)
		f.int(hp+".fall", &hc.Fall, DefaultHealthFall)
		// Host stays empty: the checker sends each target's own address.
	}
	breakerDefaults(f, p+".breaker", &u.Breaker)
	ptr(&u.RetryBudget.Ratio, DefaultRetryBudgetRatio)
	ptr(&u.RetryBudget.MinPerSecond, DefaultRetryBudgetMin)
}

func breakerDefaults(f filler, p string, b *Breaker) {
	ptr(&b.ConsecutiveFailures, DefaultConsecutiveFailures)
	ptr(&b.FailureRatio, DefaultFailureRatio)
	f.duration(p+".slow_call_duration", &b.SlowCallDuration, DefaultSlowCallDuration)
	f.duration(p+".window", &b.Window, DefaultBreakerWindow)
	f.int(p+".min_requests", &b.MinRequests, DefaultMinRequests)
	f.duration(p+".open_for", &b.OpenFor, DefaultOpenFor)
	f.duration(p+".max_open_for", &b.MaxOpenFor, DefaultMaxOpenFor)
	f.int(p+".half_open_probes", &b.HalfOpenProbes, DefaultHalfOpenProbes)
}

func routeDefaults(f filler, c *Config) {
	// Explicit names are taken first, so a derived name never collides
	// with one a later route spells out.
	taken := map[string]bool{}
	for _, rt := range c.Routes {
		if rt != nil && rt.Name != "" {
			taken[rt.Name] = true
		}
	}
	for i, rt := range c.Routes {
		if rt == nil {
			rt = &Route{}
			c.Routes[i] = rt
		}
		p := indexPath("routes", i)
		for j, h := range rt.Match.Hosts {
			rt.Match.Hosts[j] = strings.ToLower(h)
		}
		f.str(p+".match.path_prefix", &rt.Match.PathPrefix, "/")
		if rt.Name == "" && !f.explicitZero(p+".name", `""`, "derived from hosts and path_prefix") {
			rt.Name = derivedName(rt, taken)
			taken[rt.Name] = true
		}

		connect := DefaultConnectTimeout
		if u := c.Upstreams[rt.Upstream]; u != nil {
			connect = u.ConnectTimeout.D()
		}
		f.duration(p+".timeouts.connect", &rt.Timeouts.Connect, connect)
		f.duration(p+".timeouts.response", &rt.Timeouts.Response, DefaultResponseTimeout)
		f.duration(p+".timeouts.send", &rt.Timeouts.Send, DefaultSendTimeout)
		f.duration(p+".timeouts.total", &rt.Timeouts.Total, DefaultTotalTimeout)

		f.int(p+".retry.tries", &rt.Retry.Tries, DefaultTries)
		f.list(p+".retry.on", &rt.Retry.On, RetryOnError, RetryOnTimeout)
		ptr(&rt.Retry.BufferBytes, ByteSize(DefaultRetryBufferBytes))

		if rt.Breaker != nil {
			breakerDefaults(f, p+".breaker", rt.Breaker)
		}
		ptr(&rt.MaxBodyBytes, ByteSize(DefaultMaxBodyBytes))
		rateLimitDefaults(f, p+".rate_limit", rt.RateLimit)
		accessDefaults(f, c, p, rt)
		directDefaults(c, rt)
		// An explicit empty list is meaningful here: no upgrades at all.
		if rt.Upgrades == nil && !f.r.isGiven(p+".upgrades") {
			rt.Upgrades = []string{UpgradeWebSocket}
		}
		for j, u := range rt.Upgrades {
			rt.Upgrades[j] = strings.ToLower(u)
		}
	}
}

// derivedName names a route after what it matches: "/api/fx/", or
// "api.example.com/api/fx/" with hosts. Routes that match the same hosts
// and prefix (different methods, say) get the methods, then a counter,
// appended, so names stay unique and stable across reloads of the same file.
func derivedName(rt *Route, taken map[string]bool) string {
	base := strings.Join(rt.Match.Hosts, ",") + rt.Match.PathPrefix
	if !taken[base] {
		return base
	}
	if len(rt.Match.Methods) > 0 {
		base += " " + strings.Join(rt.Match.Methods, ",")
		if !taken[base] {
			return base
		}
	}
	for n := 2; ; n++ {
		if s := fmt.Sprintf("%s #%d", base, n); !taken[s] {
			return s
		}
	}
}
