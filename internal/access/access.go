// Package access decides who may use a route: ordered allow/deny rules on
// the client address (nginx's ngx_http_access_module), users from an
// htpasswd file (bcrypt only), and forward auth, a sub-request to an auth
// service (nginx's auth_request, Traefik's ForwardAuth).
package access

import (
	"net/netip"
)

// Rule allows or denies the clients in Prefixes.
type Rule struct {
	Allow    bool
	Prefixes []netip.Prefix
}

// List is a route's allow/deny rules. Rules are checked in the order
// written and the first whose prefixes hold the client decides, as
// nginx's allow and deny do; a client no rule holds is allowed, so a list
// that should refuse the rest ends with "deny: [all]". The zero List
// allows everyone.
type List struct {
	rules []Rule
}

// NewList builds a list of rules in the order given.
func NewList(rules []Rule) *List { return &List{rules: rules} }

// Allows reports whether the client at addr may use the route. It does
// not allocate.
func (l *List) Allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	for i := range l.rules {
		r := &l.rules[i]
		for _, p := range r.Prefixes {
			if p.Contains(addr) {
				return r.Allow
			}
		}
	}
	return true
}
