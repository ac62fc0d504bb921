package gateway

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/proxy"
)

// redirectSuffix names the plain socket of a TLS listener's
// redirect_http_from among the sockets of a snapshot: "public.redirect"
// for listener public. Listener names cannot hold a dot, so the name never
// clashes with a configured one.
const redirectSuffix = ".redirect"

// redirectView is what a redirect socket answers: every request with 308
// to the same host and path on the TLS listener.
type redirectView struct {
	// port is ":8443" when the TLS listener is not on 443, else "".
	port string
}

// sockets lists every socket cfg needs, by the name its view gets: each
// listener's address, and each redirect_http_from.
func sockets(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for name, lc := range cfg.Listeners {
		out[name] = lc.Address
		if lc.RedirectHTTPFrom != "" {
			out[name+redirectSuffix] = lc.RedirectHTTPFrom
		}
	}
	return out
}

// newRedirectView is the view of the redirect socket named socket, or nil
// when socket is a listener's own. The port redirected to is the one the
// TLS listener is bound to (a config may ask for port 0).
func newRedirectView(socket string, names map[*listener]string) *redirectView {
	name, ok := strings.CutSuffix(socket, redirectSuffix)
	if !ok {
		return nil
	}
	rv := &redirectView{}
	for l, n := range names {
		if n == name {
			if p := portOf(l.ln.Addr().String()); p != 443 {
				rv.port = ":" + strconv.Itoa(p)
			}
		}
	}
	return rv
}

// redirect answers a request on a redirect socket: an ACME http-01
// challenge if one of the snapshot's ACME clients has the token, else 308
// to https:// with the same host (its port replaced by the TLS listener's)
// and the same path and query, as the client sent them.
func (g *Gateway) redirect(ex *proxy.Exchange, s *snapshot, rv *redirectView) time.Time {
	ex.KeepAlive = ex.Req.KeepAlive && !ex.Req.HasBody()
	ex.BW.Reset(ex.Client)
	now := time.Now()
	ex.ArmWrite(now.Add(5*time.Second), now)
	if !g.answerACMEChallenge(ex, s) {
		writeRedirect(ex, rv)
	}
	ex.End = time.Now()
	g.record(ex, nil)
	return ex.End
}

func writeRedirect(ex *proxy.Exchange, rv *redirectView) {
	host := string(ex.Req.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	loc := "https://" + host + rv.port + string(ex.Req.Path)
	if len(ex.Req.Query) > 0 {
		loc += "?" + string(ex.Req.Query)
	}
	body := "Moved to " + loc + "\n"
	ex.Status = 308
	w := ex.BW
	w.WriteString("HTTP/1.1 308 Permanent Redirect\r\nLocation: ")
	w.WriteString(loc)
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	if !ex.KeepAlive {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	if string(ex.Req.Method) != "HEAD" {
		w.WriteString(body)
	}
	w.Flush()
}
