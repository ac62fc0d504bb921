package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/skjold-dev/skjold/internal/access"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/cors"
	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/proxy"
)

// routeAccess is a route's access rules as one snapshot uses them; nil on
// a route with none, so such a route pays one pointer test.
type routeAccess struct {
	list  *access.List // nil: everyone
	users *access.Htpasswd
	// challenge is the 401's WWW-Authenticate line.
	challenge []byte
	auth      *forwardAuth
	cors      *cors.Policy
}

// forwardAuth is a route's forward auth, kept (with its breaker and
// connections) by the next snapshot when the route keeps its rule.
type forwardAuth struct {
	rule config.ForwardAuth
	fa   *access.ForwardAuth
	copy []string // lower-cased CopyHeaders
}

// buildAccess builds a route's access rules; the htpasswd file is read
// again, so a reload picks up its changes.
func buildAccess(rc *config.Route, running *snapshot) (*routeAccess, error) {
	if len(rc.Access) == 0 && rc.BasicAuth == nil && rc.ForwardAuth == nil && rc.CORS == nil {
		return nil, nil
	}
	ra := &routeAccess{}
	if len(rc.Access) > 0 {
		rules := make([]access.Rule, 0, len(rc.Access))
		for _, r := range rc.Access {
			rule, list := access.Rule{Allow: len(r.Allow) > 0}, append(r.Allow, r.Deny...)
			for _, s := range list {
				ps, err := config.ParseAccessEntry(s)
				if err != nil {
					return nil, err
				}
				rule.Prefixes = append(rule.Prefixes, ps...)
			}
			rules = append(rules, rule)
		}
		ra.list = access.NewList(rules)
	}
	if ba := rc.BasicAuth; ba != nil {
		users, err := access.LoadHtpasswd(ba.HtpasswdFile)
		if err != nil {
			return nil, err
		}
		ra.users = users
		ra.challenge = []byte("WWW-Authenticate: Basic realm=\"" + ba.Realm + "\", charset=\"UTF-8\"\r\n")
	}
	if rc.ForwardAuth != nil {
		ra.auth = keptForwardAuth(rc, running)
	}
	if co := rc.CORS; co != nil {
		ra.cors = cors.New(cors.Settings{Origins: co.AllowOrigins, Methods: co.AllowMethods, Headers: co.AllowHeaders,
			Expose: co.ExposeHeaders, Credentials: co.AllowCredentials, MaxAge: co.MaxAge.D()})
	}
	return ra, nil
}

func keptForwardAuth(rc *config.Route, running *snapshot) *forwardAuth {
	if running != nil {
		for _, rs := range running.routes {
			if rs.Name == rc.Name && rs.access != nil && rs.access.auth != nil && reflect.DeepEqual(rs.access.auth.rule, *rc.ForwardAuth) {
				return rs.access.auth
			}
		}
	}
	fc := rc.ForwardAuth
	f := &forwardAuth{rule: *fc, fa: access.NewForwardAuth(access.ForwardAuthSettings{
		URL: fc.URL, Timeout: fc.Timeout.D(), CopyHeaders: fc.CopyHeaders, Breaker: breakerSettings(&fc.Breaker)})}
	for _, h := range fc.CopyHeaders {
		f.copy = append(f.copy, strings.ToLower(h))
	}
	return f
}

// admitAddress runs the route's allow/deny rules; a refused request is
// answered 403 and it returns false.
func (g *Gateway) admitAddress(ex *proxy.Exchange, ra *routeAccess) bool {
	if ra.list == nil || ra.list.Allows(ex.ClientAddr) {
		return true
	}
	g.refuse(ex, proxy.ErrorAnswer{Status: 403, Class: proxy.ClassDenied, Message: "access denied for this client address"})
	return false
}

// admitAuth runs CORS, basic auth and forward auth, in that order (a
// preflight carries no credentials). It returns false when one answered
// the request itself.
func (g *Gateway) admitAuth(ex *proxy.Exchange, ra *routeAccess, route string) bool {
	if ra.cors != nil && !g.admitCORS(ex, ra.cors) {
		return false
	}
	if ra.users != nil && !g.admitBasic(ex, ra) {
		return false
	}
	if ra.auth != nil && !g.admitForward(ex, ra.auth, route) {
		return false
	}
	return true
}

// refuse answers a request the policy stops before its body is read.
func (g *Gateway) refuse(ex *proxy.Exchange, a proxy.ErrorAnswer) {
	g.prepareOwnAnswer(ex)
	g.proxy.Answer(ex, a)
}

// prepareOwnAnswer readies the connection for an answer the gateway makes
// itself: the body is not read, so the connection cannot carry another
// request after one.
func (g *Gateway) prepareOwnAnswer(ex *proxy.Exchange) {
	ex.KeepAlive = ex.Req.KeepAlive && !ex.Req.HasBody()
	ex.ArmWrite(ex.Start.Add(ex.SendTimeout), ex.Start)
}

func field(req *h1.Request, lowerName string) []byte {
	for i := range req.Fields {
		if f := &req.Fields[i]; len(f.Name) == len(lowerName) && h1.EqualFold(f.Name, lowerName) {
			return f.Value
		}
	}
	return nil
}

// admitCORS answers a preflight, or marks an allowed origin's answer.
func (g *Gateway) admitCORS(ex *proxy.Exchange, p *cors.Policy) bool {
	origin := field(&ex.Req, "origin")
	if len(origin) == 0 {
		return true
	}
	reqMethod := field(&ex.Req, "access-control-request-method")
	if !cors.IsPreflight(ex.Req.Method, origin, reqMethod) {
		if p.Allows(origin) {
			ex.AnswerHeaders = p.AppendActual(ex.AnswerHeaders, origin)
		}
		return true
	}
	if !p.Allows(origin) || !p.AllowsPreflight(reqMethod, field(&ex.Req, "access-control-request-headers")) {
		g.refuse(ex, proxy.ErrorAnswer{Status: 403, Class: proxy.ClassDenied,
			Message: "CORS preflight refused: origin, method or headers not allowed on this route"})
		return false
	}
	ex.AnswerHeaders = p.AppendPreflight(ex.AnswerHeaders, origin)
	g.prepareOwnAnswer(ex)
	g.proxy.Respond(ex, proxy.Response{Status: 204, Class: proxy.ClassDirect})
	return false
}

func (g *Gateway) admitBasic(ex *proxy.Exchange, ra *routeAccess) bool {
	if user, pw, ok := access.ParseBasic(field(&ex.Req, "authorization")); ok && ra.users.Check(user, pw) {
		return true
	}
	ex.AnswerHeaders = append(ex.AnswerHeaders, ra.challenge...)
	g.refuse(ex, proxy.ErrorAnswer{Status: 401, Class: proxy.ClassDenied, Message: "authentication required"})
	return false
}

// refusalHeaders are the auth service's answer headers a refusal passes
// to the client.
var refusalHeaders = []string{"Www-Authenticate", "Location", "Set-Cookie"}

// admitForward asks the auth service. A 2xx lets the request through with
// the chosen headers in place of any the client sent; a 3xx or 4xx is
// passed to the client; no verdict is a 503 (fail closed).
func (g *Gateway) admitForward(ex *proxy.Exchange, f *forwardAuth, route string) bool {
	v, err := f.fa.Check(context.Background(), authRequest(ex))
	if err != nil {
		g.log.Warn("forward auth: refusing the request", slog.String("route", route), slog.Any("error", err))
		msg := "auth service unavailable"
		if errors.Is(err, access.ErrAuthUnavailable) {
			msg = err.Error()
		}
		g.refuse(ex, proxy.ErrorAnswer{Status: 503, Class: proxy.ClassAuthUnavailable, Message: msg, RetryAfter: f.fa.Breaker().RetryAfter()})
		return false
	}
	if !v.Allowed {
		var head []byte
		for _, name := range refusalHeaders {
			for _, val := range v.Header.Values(name) {
				if !strings.ContainsAny(val, "\r\n") {
					head = append(append(append(append(head, name...), ": "...), val...), "\r\n"...)
				}
			}
		}
		g.prepareOwnAnswer(ex)
		g.proxy.Respond(ex, proxy.Response{Status: v.Status, Class: proxy.ClassDenied,
			ContentType: v.Header.Get("Content-Type"), Header: head, Body: v.Body})
		return false
	}
	replaceFields(&ex.Req, f.copy, v.Copy)
	return true
}

// authRequest is what the auth service is told about ex's request.
func authRequest(ex *proxy.Exchange) access.Request {
	r := access.Request{Method: string(ex.Req.Method), URI: string(ex.Req.Target), Host: string(ex.Req.Host),
		Proto: ex.Proto, ClientAddr: ex.ClientString(), Header: http.Header{}}
	for i := range ex.Req.Fields {
		f := &ex.Req.Fields[i]
		if h1.IsHopByHop(f.Name) || h1.EqualFold(f.Name, "content-length") || h1.EqualFold(f.Name, "host") {
			continue
		}
		r.Header.Add(string(f.Name), string(f.Value))
	}
	return r
}

// replaceFields drops the request's fields named in names (lower case)
// and appends vals, so the upstream sees only the auth service's values.
func replaceFields(req *h1.Request, names []string, vals http.Header) {
	fs := req.Fields[:0]
	for _, f := range req.Fields {
		drop := false
		for _, n := range names {
			drop = drop || (len(f.Name) == len(n) && h1.EqualFold(f.Name, n))
		}
		if !drop {
			fs = append(fs, f)
		}
	}
	for name, vs := range vals {
		for _, v := range vs {
			if !strings.ContainsAny(v, "\r\n\x00") {
				fs = append(fs, h1.Field{Name: []byte(name), Value: []byte(v)})
			}
		}
	}
	req.Fields = fs
}
