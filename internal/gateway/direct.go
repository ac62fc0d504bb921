package gateway

import (
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/proxy"
)

// directAnswer is a route's respond or redirect, written out at build time
// so answering costs no allocation.
type directAnswer struct {
	status      int
	contentType string
	header      []byte
	body        []byte
	// location is a redirect's target; nil for respond.
	location []config.RedirectPart
}

// buildDirect builds a route's direct answer; nil when it forwards. A
// body_file is read again on every reload.
func buildDirect(rc *config.Route) (*directAnswer, error) {
	switch {
	case rc.Respond != nil:
		r := rc.Respond
		d := &directAnswer{status: r.Status, contentType: "text/plain; charset=utf-8", body: []byte(r.Body)}
		if r.BodyFile != "" {
			b, err := os.ReadFile(r.BodyFile)
			if err != nil {
				return nil, err
			}
			d.body = b
		}
		names := make([]string, 0, len(r.Headers))
		for name := range r.Headers {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if http.CanonicalHeaderKey(name) == "Content-Type" {
				d.contentType = r.Headers[name]
				continue
			}
			d.header = append(d.header, name+": "+r.Headers[name]+"\r\n"...)
		}
		return d, nil
	case rc.Redirect != nil:
		parts, err := config.ParseRedirect(rc.Redirect.To)
		if err != nil {
			return nil, err
		}
		return &directAnswer{status: rc.Redirect.Status, location: parts}, nil
	}
	return nil, nil
}

// answerDirect writes the route's own answer.
func (g *Gateway) answerDirect(ex *proxy.Exchange, d *directAnswer) {
	g.prepareOwnAnswer(ex)
	head := d.header
	if d.location != nil {
		// AnswerHeaders is the exchange's own reused buffer: the Location
		// line costs no allocation once it has grown.
		h := append(ex.AnswerHeaders, "Location: "...)
		for _, p := range d.location {
			switch p.Var {
			case "":
				h = append(h, p.Text...)
			case "$scheme":
				h = append(h, ex.Proto...)
			case "$host":
				h = append(h, ex.Req.Host...)
			case "$request_uri":
				h = append(h, ex.Req.Target...)
			}
		}
		ex.AnswerHeaders = append(h, "\r\n"...)
	}
	g.proxy.Respond(ex, proxy.Response{Status: d.status, Class: proxy.ClassDirect, ContentType: d.contentType, Header: head, Body: d.body})
}

// bodyType guesses a body file's Content-Type from its extension.
func bodyType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "text/plain; charset=utf-8"
}
