package gateway

import "github.com/skjold-dev/skjold/internal/proxy"

// admit runs a routed request through its route's traffic policy before
// the proxy sees it, in the order docs/config.md gives: rate limit,
// allow/deny, maintenance, CORS, basic auth, forward auth. When the policy
// answers the request itself (429, 403, 503, a preflight...) it returns
// false, and the request goes no further. A route without rules pays a
// few pointer tests and one atomic load.
func (g *Gateway) admit(ex *proxy.Exchange, rs *routeState) bool {
	if rs.limit != nil && !g.admitRate(ex, rs.limit) {
		return false
	}
	if rs.access != nil && !g.admitAddress(ex, rs.access) {
		return false
	}
	if rs.maint.on.Load() {
		g.answerMaintenance(ex, rs)
		return false
	}
	if rs.access != nil && !g.admitAuth(ex, rs.access, rs.Name) {
		return false
	}
	return true
}
