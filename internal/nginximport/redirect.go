package nginximport

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/skjold-dev/skjold/internal/config"
)

// httpsRedirect reports whether d is the return of an http→https server
// (certbot's and most guides'): a redirect of every request to the same
// host and path on https://, which a TLS listener's redirect_http_from
// does.
func httpsRedirect(d *directive) bool {
	if d.name != "return" || len(d.args) != 2 {
		return false
	}
	switch d.args[0] {
	case "301", "302", "303", "307", "308":
	default:
		return false
	}
	switch d.args[1] {
	case "https://$host$request_uri", "https://$server_name$request_uri":
		return true
	}
	return false
}

// translateRedirects turns each http→https server into the
// redirect_http_from of the TLS listener on port 443 (where https:// with
// no port goes). That takes the server's only address, so it must have
// that address to itself, as nginx's default (and only) server there:
// Skjold's redirect answers every request on the socket. Otherwise the
// server stays what it was: not imported, with a warning saying why.
func (c *converter) translateRedirects(cfg *config.Config, names map[string]string, used map[string]bool) {
	for _, srv := range c.servers {
		if srv.redirect == nil {
			continue
		}
		name, why := c.redirectListener(cfg, srv, names, used)
		if why != "" {
			if len(srv.addrs) > 0 {
				c.warn(srv.redirect, "http→https redirect not translated to redirect_http_from: %s", why)
			}
			continue
		}
		l := cfg.Listeners[name]
		l.RedirectHTTPFrom = srv.addrs[0]
		srv.redirected = true // its requests are redirected, as in nginx
		c.warn(srv.redirect, "%s", redirectDifferences(srv, l.RedirectHTTPFrom, name))
	}
}

// redirectListener finds the listener a redirect server's address can
// redirect to, or says why there is none.
func (c *converter) redirectListener(cfg *config.Config, srv *serverDef, names map[string]string, used map[string]bool) (name, why string) {
	if len(srv.addrs) != 1 {
		return "", fmt.Sprintf("the server listens on %d addresses; Skjold redirects from one per TLS listener", len(srv.addrs))
	}
	addr := srv.addrs[0]
	if c.tlsAddrs[addr] {
		return "", addr + " serves TLS"
	}
	for _, other := range c.servers {
		if other != srv && slices.Contains(other.addrs, addr) {
			return "", "other servers listen on " + addr + " too; Skjold's redirect would answer their requests as well"
		}
	}
	if used[addr] {
		return "", addr + " also serves routes"
	}
	var on443 []string
	for a := range used {
		if _, port, _ := net.SplitHostPort(a); port == "443" && c.tlsAddrs[a] {
			on443 = append(on443, names[a])
		}
	}
	switch {
	case len(on443) == 0:
		return "", "no TLS listener on port 443, where nginx sends these clients"
	case len(on443) > 1:
		slices.Sort(on443)
		return "", "several TLS listeners on port 443 (" + strings.Join(on443, ", ") + ")"
	case cfg.Listeners[on443[0]].RedirectHTTPFrom != "":
		return "", "listener " + on443[0] + " already redirects from " + cfg.Listeners[on443[0]].RedirectHTTPFrom
	}
	return on443[0], ""
}

// redirectDifferences is the warning for a translated redirect: how
// Skjold's 308 to the requested host differs from nginx's return.
func redirectDifferences(srv *serverDef, from, listener string) string {
	msg := fmt.Sprintf("redirect_http_from %s on listener %s: Skjold answers 308 Permanent Redirect", from, listener)
	switch code := srv.redirect.args[0]; code {
	case "301":
		msg += " where nginx answered 301 (clients now resend the same method and body: a POST stays a POST)"
	case "308":
		msg += ", as nginx did"
	default:
		msg += " where nginx answered " + code + ", a temporary redirect (browsers now remember it)"
	}
	if strings.Contains(srv.redirect.args[1], "$server_name") {
		name := "the first server_name"
		if len(srv.hosts) > 0 {
			name = srv.hosts[0]
		}
		msg += fmt.Sprintf(", to the host the client asked for where nginx redirected to %s", name)
	}
	msg += ", for every host on " + from
	return msg
}
