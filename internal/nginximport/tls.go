package nginximport

import (
	"slices"
	"strconv"
	"strings"
)

// translateTLS decides what becomes of a server's TLS listeners: those of
// "listen ... ssl" and, identically, every listener of a server with
// "ssl on". Skjold's config has no TLS listeners yet (issue 14 adds
// listeners.NAME.tls), so each is refused with severity Routing, and left
// out under AllowRerouting. Leaving it out is the safe choice: the
// server's HTTPS clients are not served, while a plain-HTTP listener on
// its port would serve them unencrypted answers they cannot read, and
// refusing by default keeps a config that silently drops all HTTPS
// traffic from being deployed. This is the one function the TLS work
// replaces.
func (c *converter) translateTLS(srv *serverDef) {
	srv.listens = slices.DeleteFunc(srv.listens, func(l listenDef) bool {
		how := "listen ... ssl"
		if !l.tls && srv.set.ssl == nil {
			return false
		}
		if !l.tls {
			how = "ssl on, " + srv.set.ssl.file + ":" + strconv.Itoa(srv.set.ssl.line)
		}
		addr := ":" + strconv.Itoa(l.port)
		if l.host != "" {
			addr = joinHostPort(l.host, l.port)
		}
		c.reroute(l.d, "%s is a TLS listener (%s); TLS listeners are not translated yet, so it is not imported and this server's HTTPS clients%s are not served",
			addr, how, serverNames(srv))
		srv.skippedListens++
		return true
	})
}

// serverNames is " for a.com, b.com", or "" for a server without names.
func serverNames(srv *serverDef) string {
	if len(srv.hosts) == 0 {
		return ""
	}
	return " for " + strings.Join(srv.hosts, ", ")
}
