package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// validator checks a defaulted Config and reports every problem at the
// position of the value it concerns.
type validator struct {
	r *report
	c *Config
}

func validate(c *Config, r *report) {
	v := validator{r: r, c: c}
	v.listeners()
	v.admin()
	v.addressConflicts()
	for _, name := range sortedKeys(c.Upstreams) {
		v.upstream(keyPath("upstreams", name), name, c.Upstreams[name])
	}
	for i, rt := range c.Routes {
		v.route(indexPath("routes", i), rt)
	}
	v.routeConflicts()
	v.databases()
	v.services()
	v.residency()
}

func (v validator) problemf(path, format string, args ...any) {
	v.r.problemf(path, format, args...)
}

func (v validator) listeners() {
	if len(v.c.Listeners) == 0 {
		v.problemf("listeners", "at least one listener is required, such as listeners: {public: {address: 127.0.0.1:8080}}")
		return
	}
	for _, name := range sortedKeys(v.c.Listeners) {
		p := keyPath("listeners", name)
		v.name(p, "listener", name)
		l := v.c.Listeners[name]
		if l.Address == "" {
			v.problemf(p+".address", "is required: the host:port to accept client connections on, such as 127.0.0.1:8080")
			continue
		}
		if msg := checkHostPort(l.Address, 0); msg != "" {
			v.problemf(p+".address", "%s", msg)
		}
		if l.RedirectHTTPFrom != "" {
			if msg := checkHostPort(l.RedirectHTTPFrom, 0); msg != "" {
				v.problemf(p+".redirect_http_from", "%s", msg)
			}
		}
		v.listenerTLS(p, l)
		v.clientAddress(p, l)
	}
}

// name checks a listener or upstream name, which appears in metrics labels,
// log fields and the admin API's URLs.
func (v validator) name(path, kind, name string) {
	if name == "" {
		v.problemf(path, "a %s needs a name", kind)
		return
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			v.problemf(path, "%s name %q may use only letters, digits, \"-\" and \"_\"", kind, name)
			return
		}
	}
}

func (v validator) admin() {
	a := v.c.Admin
	if rest, ok := strings.CutPrefix(a.Listen, "unix:"); ok {
		if !strings.HasPrefix(rest, "/") {
			v.problemf("admin.listen", "expected unix:/absolute/path/to/socket, got %q", a.Listen)
		}
	} else if msg := checkHostPort(a.Listen, 0); msg != "" {
		v.problemf("admin.listen", "%s (or unix:/path/to/socket)", msg)
	}

	var set []string
	for _, k := range []struct{ key, val string }{
		{"token", a.Token}, {"token_file", a.TokenFile}, {"token_env", a.TokenEnv},
	} {
		if k.val != "" {
			set = append(set, k.key)
		}
	}
	if len(set) > 1 {
		// Blame the one further down the file.
		slices.SortStableFunc(set, func(a, b string) int { return v.r.lineOf("admin."+a) - v.r.lineOf("admin."+b) })
		v.problemf("admin."+set[len(set)-1], "set only one of token, token_file and token_env (found %s)", strings.Join(set, " and "))
	}
	if len(set) == 0 && !adminIsLocal(a.Listen) {
		v.problemf("admin.listen", "%q can be reached from other machines, so admin calls must carry a token: set token_file or token_env, or listen on 127.0.0.1", a.Listen)
	}
}

// adminIsLocal reports whether the admin address is reachable only from
// this machine: a unix socket or a loopback address.
func adminIsLocal(listen string) bool {
	if strings.HasPrefix(listen, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return true // reported as malformed already
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// addressConflicts reports two sockets that cannot both be bound: the same
// host and port, or a wildcard host and any host on the same port.
func (v validator) addressConflicts() {
	type socket struct {
		path, addr, host, port string
	}
	var all []socket
	add := func(path, addr string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "0" || checkHostPort(addr, 0) != "" {
			return // malformed (reported already) or a free port
		}
		if host == "localhost" {
			host = "127.0.0.1"
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			host = ip.Unmap().String()
			if ip.IsUnspecified() {
				host = ""
			}
		}
		all = append(all, socket{path, addr, host, port})
	}
	for _, name := range sortedKeys(v.c.Listeners) {
		add(keyPath("listeners", name)+".address", v.c.Listeners[name].Address)
		if r := v.c.Listeners[name].RedirectHTTPFrom; r != "" {
			add(keyPath("listeners", name)+".redirect_http_from", r)
		}
	}
	if !strings.HasPrefix(v.c.Admin.Listen, "unix:") {
		add("admin.listen", v.c.Admin.Listen)
	}
	// Blame the later of two clashing entries; an address the file does not
	// spell out (the admin default) counts as first.
	line := func(s socket) int {
		if !v.r.isGiven(s.path) {
			return 0
		}
		return v.r.lineOf(s.path)
	}
	slices.SortStableFunc(all, func(a, b socket) int { return line(a) - line(b) })
	for i, s := range all {
		for _, prev := range all[:i] {
			if prev.port != s.port || (prev.host != s.host && prev.host != "" && s.host != "") {
				continue
			}
			by := fmt.Sprintf("%s (line %d)", prev.path, line(prev))
			if line(prev) == 0 {
				by = fmt.Sprintf("%s (by default %s)", prev.path, prev.addr)
			}
			v.problemf(s.path, "%s clashes with %s, which is bound to %s; two sockets cannot share an address", s.addr, by, prev.addr)
			break
		}
	}
}

// checkHostPort checks a host:port address and returns what is wrong with
// it, or "". Ports below minPort are refused; listeners may use port 0 (a
// free port, for tests), targets may not.
func checkHostPort(addr string, minPort int) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("expected host:port such as 127.0.0.1:8080, got %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 || port[0] == '+' || port[0] == '-' {
		return fmt.Sprintf("port %q in %q must be a number %d..65535", port, addr, minPort)
	}
	if host == "" {
		if minPort > 0 {
			return fmt.Sprintf("%q has no host; write the host to connect to, such as 127.0.0.1%s", addr, addr)
		}
		return ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if !ValidHostName(host) {
		return fmt.Sprintf("host %q in %q is neither an IP address nor a valid host name", host, addr)
	}
	return ""
}

// ValidHostName reports whether h is a DNS name: dot-separated labels of
// letters, digits, "-" and "_" (seen in internal names), each 1..63 bytes,
// not starting or ending with "-". The nginx importer uses it too, so the
// two accept the same names.
func ValidHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (v validator) upstream(p, name string, u *Upstream) {
	v.name(p, "upstream", name)
	v.upstreamTLS(p, u)
	ts := make([]Target, len(u.Targets))
	for i, t := range u.Targets {
		ts[i] = *t
	}
	for _, tp := range targetProblems(ts) {
		first := indexPath(p+".targets", tp.Dup)
		v.problemf(tp.path(p+".targets"), "%s", tp.Message(fmt.Sprintf("%s (line %d)", first, v.r.lineOf(first))))
	}
	if u.Balance != RoundRobin && u.Balance != LeastRequest {
		v.problemf(p+".balance", "expected %s or %s, got %q", RoundRobin, LeastRequest, u.Balance)
	}
	if u.MaxConcurrent < 0 {
		v.problemf(p+".max_concurrent", "must be 0 (no cap) or more, got %d", u.MaxConcurrent)
	}
	if u.MaxQueue < 0 {
		v.problemf(p+".max_queue", "must be 0 (no waiting) or more, got %d", u.MaxQueue)
	} else if u.MaxQueue > 0 && u.MaxConcurrent == 0 {
		v.problemf(p+".max_queue", "has no effect without max_concurrent: requests only wait when a target is at its cap")
	}
	if *u.Keepalive.Idle < 0 {
		v.problemf(p+".keepalive.idle", "must be 0 (no reuse) or more, got %d", *u.Keepalive.Idle)
	}
	if u.Keepalive.MaxRequests < 0 {
		v.problemf(p+".keepalive.max_requests", "must be 0 (no limit) or more, got %d", u.Keepalive.MaxRequests)
	}
	if *u.PassiveHealth.MaxFails < 0 {
		v.problemf(p+".passive_health.max_fails", "must be 0 (off) or more, got %d", *u.PassiveHealth.MaxFails)
	}
	if hc := u.HealthCheck; hc != nil {
		v.healthCheck(p+".health_check", hc)
	}
	v.breaker(p+".breaker", &u.Breaker)
	if r := *u.RetryBudget.Ratio; r < 0 || r > 10 {
		v.problemf(p+".retry_budget.ratio", "must be between 0 and 10 (retries per request), got %g", r)
	}
	if *u.RetryBudget.MinPerSecond < 0 {
		v.problemf(p+".retry_budget.min_per_second", "must be 0 or more, got %d", *u.RetryBudget.MinPerSecond)
	}
}

func (v validator) healthCheck(p string, hc *HealthCheck) {
	if !strings.HasPrefix(hc.Path, "/") {
		v.problemf(p+".path", "must start with \"/\", got %q", hc.Path)
	}
	for i, s := range hc.ExpectStatus {
		if _, err := ParseStatusRange(s); err != nil {
			v.problemf(indexPath(p+".expect_status", i), "%s", err.Error())
		}
	}
	if hc.Rise < 1 {
		v.problemf(p+".rise", "must be at least 1, got %d", hc.Rise)
	}
	if hc.Fall < 1 {
		v.problemf(p+".fall", "must be at least 1, got %d", hc.Fall)
	}
	if hc.Timeout >= hc.Interval {
		v.problemf(p+".timeout", "%s must be shorter than interval (%s), or probes of one target overlap", hc.Timeout.D(), hc.Interval.D())
	}
	if hc.Host != "" && !ValidHostName(hc.Host) && checkHostPort(hc.Host, 1) != "" {
		v.problemf(p+".host", "expected a host name or host:port, got %q", hc.Host)
	}
}

func (v validator) breaker(p string, b *Breaker) {
	if *b.ConsecutiveFailures < 0 {
		v.problemf(p+".consecutive_failures", "must be 0 (off) or more, got %d", *b.ConsecutiveFailures)
	}
	if r := *b.FailureRatio; r < 0 || r > 1 {
		v.problemf(p+".failure_ratio", "must be between 0 and 1, got %g", r)
	}
	if r := b.SlowCallRatio; r < 0 || r > 1 {
		v.problemf(p+".slow_call_ratio", "must be between 0 and 1, got %g", r)
	}
	if b.MinRequests < 1 {
		v.problemf(p+".min_requests", "must be at least 1, got %d", b.MinRequests)
	}
	if b.HalfOpenProbes < 1 {
		v.problemf(p+".half_open_probes", "must be at least 1, got %d", b.HalfOpenProbes)
	}
	if b.MaxOpenFor < b.OpenFor {
		v.problemf(p+".max_open_for", "%s is shorter than open_for (%s); it caps how far open_for doubles, so it must be at least open_for", b.MaxOpenFor.D(), b.OpenFor.D())
	}
	if !b.Disabled && *b.ConsecutiveFailures == 0 && *b.FailureRatio == 0 && b.SlowCallRatio == 0 {
		v.problemf(p, "has every trigger off (consecutive_failures, failure_ratio and slow_call_ratio are 0), so it can never open; set disabled: true to say so")
	}
}

// retryConditions returns the accepted Retry.On values, in the order
// messages list them.
func retryConditions() []string {
	return []string{
		RetryOnError, RetryOnTimeout, RetryOnHTTP500, RetryOnHTTP502, RetryOnHTTP503, RetryOnHTTP504, RetryOnHTTP429,
	}
}

func (v validator) route(p string, rt *Route) {
	if strings.ContainsFunc(rt.Name, isControl) {
		v.problemf(p+".name", "must not contain control characters")
	}
	if !rt.answersItself() {
		v.routeUpstream(p+".upstream", rt.Upstream)
	}
	v.direct(p, rt)
	v.access(p, rt)
	v.pathPrefix(p+".match.path_prefix", rt.Match.PathPrefix)
	for i, h := range rt.Match.Hosts {
		v.host(indexPath(p+".match.hosts", i), h)
	}
	for i, m := range rt.Match.Methods {
		v.method(indexPath(p+".match.methods", i), m)
	}

	t := rt.Timeouts
	if t.Response > t.Total {
		v.problemf(p+".timeouts.response", "%s is longer than timeouts.total (%s), which bounds the whole request", t.Response.D(), t.Total.D())
	}

	if rt.Retry.Tries < 1 || rt.Retry.Tries > 10 {
		v.problemf(p+".retry.tries", "must be between 1 (no retries) and 10, got %d", rt.Retry.Tries)
	}
	conditions := retryConditions()
	for i, on := range rt.Retry.On {
		if !slices.Contains(conditions, on) {
			hint := ""
			if s, ok := closest(on, conditions); ok {
				hint = fmt.Sprintf("did you mean %q? ", s)
			}
			v.problemf(indexPath(p+".retry.on", i), "unknown retry condition %q; %sexpected one of %s", on, hint, strings.Join(conditions, ", "))
		}
	}
	if rt.Breaker != nil {
		v.breaker(p+".breaker", rt.Breaker)
	}
	v.rateLimit(p+".rate_limit", rt.RateLimit)
	for i, l := range rt.Listeners {
		if _, ok := v.c.Listeners[l]; !ok {
			v.problemf(indexPath(p+".listeners", i), "listener %q is not defined; %s", l, defined("listeners", l, sortedKeys(v.c.Listeners)))
		}
	}
	for i, up := range rt.Upgrades {
		if up == "" || strings.ContainsFunc(up, func(r rune) bool { return !isTokenChar(r) }) {
			v.problemf(indexPath(p+".upgrades", i), "expected a protocol name as the Upgrade header gives it, such as %s, got %q", UpgradeWebSocket, up)
		}
	}
	for i, dc := range rt.DataClasses {
		if strings.TrimSpace(dc) == "" {
			v.problemf(indexPath(p+".data_classes", i), "must not be empty")
		}
	}
}

func (v validator) routeUpstream(p, name string) {
	names := sortedKeys(v.c.Upstreams)
	if name == "" {
		v.problemf(p, "is required: the upstream to forward to; %s", defined("upstreams", "", names))
		return
	}
	if _, ok := v.c.Upstreams[name]; !ok {
		v.problemf(p, "upstream %q is not defined; %s", name, defined("upstreams", name, names))
	}
}

// defined lists what exists, with a suggestion when one is close to want:
// `did you mean "fx"? (defined upstreams: fx, payments)`.
func defined(kind, want string, names []string) string {
	if len(names) == 0 {
		return "no " + kind + " are defined"
	}
	hint := ""
	if want != "" {
		if s, ok := closest(want, names); ok {
			hint = fmt.Sprintf("did you mean %q? ", s)
		}
	}
	return fmt.Sprintf("%s(defined %s: %s)", hint, kind, strings.Join(names, ", "))
}

// pathPrefix checks a route's path prefix. It must be a plain, normalised
// path: the router compares it with the request path segment by segment,
// and a prefix with dot segments, empty segments, escapes, a query or a
// fragment either never matches or matches something other than it says.
func (v validator) pathPrefix(p, prefix string) {
	if !strings.HasPrefix(prefix, "/") {
		v.problemf(p, "must start with \"/\", got %q", prefix)
		return
	}
	for _, bad := range []string{"..", "//", "%", "?", "#"} {
		if strings.Contains(prefix, bad) {
			v.problemf(p, "must not contain %q, got %q: a path prefix is a plain, normalised path", bad, prefix)
			return
		}
	}
	if strings.ContainsFunc(prefix, func(r rune) bool { return r == ' ' || isControl(r) }) {
		v.problemf(p, "must not contain spaces or control characters, got %q", prefix)
	}
}

func (v validator) host(p, h string) {
	switch {
	case h == "*":
		v.problemf(p, "\"*\" is not a host pattern; leave hosts out to match any host")
	case strings.HasPrefix(h, "*."):
		if !ValidHostName(h[2:]) {
			v.problemf(p, "expected *.example.com, got %q", h)
		}
	case strings.Contains(h, "*"):
		v.problemf(p, "a wildcard may only be the whole first label, as in *.example.com; got %q", h)
	case strings.Contains(h, ":"):
		if host, _, err := net.SplitHostPort(h); err == nil {
			v.problemf(p, "hosts are matched without the port; write %q", host)
		} else {
			v.problemf(p, "expected a host name such as api.example.com, got %q", h)
		}
	case !ValidHostName(h):
		v.problemf(p, "expected a host name such as api.example.com, got %q", h)
	}
}

func (v validator) method(p, m string) {
	if m == "" {
		v.problemf(p, "must not be empty")
		return
	}
	for _, r := range m {
		if !isTokenChar(r) {
			v.problemf(p, "expected an HTTP method such as GET, got %q", m)
			return
		}
	}
	if up := strings.ToUpper(m); up != m {
		v.problemf(p, "methods are case-sensitive and upper case; write %q", up)
	}
}

// isTokenChar reports whether r may appear in an HTTP token (RFC 9110
// section 5.6.2), which is what a method is.
func isTokenChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// routeConflicts reports routes that can never be chosen because an
// earlier route matches exactly the same requests on a shared listener,
// and route names used twice.
func (v validator) routeConflicts() {
	type seen struct {
		path      string
		listeners []string
	}
	byMatch := map[string][]seen{}
	names := map[string]string{}
	for i, rt := range v.c.Routes {
		p := indexPath("routes", i)
		if prev, dup := names[rt.Name]; dup && v.r.isGiven(p+".name") {
			v.problemf(p+".name", "route name %q is already used by %s (line %d); names must be unique", rt.Name, prev, v.r.lineOf(prev))
		} else if !dup {
			names[rt.Name] = p
		}

		key := matchKey(rt.Match)
		for _, s := range byMatch[key] {
			if listenersOverlap(s.listeners, rt.Listeners) {
				v.problemf(p, "matches exactly the requests %s (line %d) matches (same hosts, path_prefix and methods), so it would never be used", s.path, v.r.lineOf(s.path))
				break
			}
		}
		byMatch[key] = append(byMatch[key], seen{p, rt.Listeners})
	}
}

// matchKey is the same for two matches that select the same requests
// regardless of the order hosts and methods are listed in.
func matchKey(m Match) string {
	hosts := slices.Clone(m.Hosts)
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	methods := slices.Clone(m.Methods)
	slices.Sort(methods)
	methods = slices.Compact(methods)
	// The router treats "/api" and "/api/" as the same prefix.
	prefix := strings.TrimSuffix(m.PathPrefix, "/")
	return strings.Join(hosts, ",") + "\x00" + prefix + "\x00" + strings.Join(methods, ",")
}

// listenersOverlap reports whether two routes' listener lists share a
// listener; an empty list means every listener.
func listenersOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, l := range a {
		if slices.Contains(b, l) {
			return true
		}
	}
	return false
}
