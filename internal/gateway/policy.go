package gateway

import "github.com/skjold-dev/skjold/internal/proxy"

// admit runs a routed request through its route's traffic policy before
// the proxy sees it. When the policy answers the request itself (429, say)
// it returns false, and the request goes no further.
func (g *Gateway) admit(ex *proxy.Exchange, rs *routeState) bool {
	if rs.limit != nil && !g.admitRate(ex, rs.limit) {
		return false
	}
	return true
}
