package nginximport

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/config"
)

// tlsSettings are the TLS directives in effect at a level. nginx inherits
// each from http to server (the proxy_ssl ones on to location) unless the
// level sets it again; nil or empty means nginx's default.
type tlsSettings struct {
	// certs and keys are the ssl_certificate and ssl_certificate_key lines
	// of the level that sets them, paired in order.
	certs, keys []*directive
	// protocols are the ssl_protocols lines of one level; nginx adds them up.
	protocols              []*directive
	clientCA, verifyClient *directive
	// hsts is an add_header Strict-Transport-Security.
	hsts *directive
	// The upstream side.
	proxyVerify, proxyServerName, proxyTrusted, proxyName, proxyCert, proxyKey *directive
}

// serverTLS is what a server's TLS directives become on its listener.
type serverTLS struct {
	certs []*config.CertificateFiles
	// minVersion is "" when ssl_protocols was not given (Skjold's default).
	minVersion string
	clientCA   string
	// verifyAt is the ssl_verify_client line, or the server for messages.
	verifyAt *directive
	hsts     time.Duration
	hstsAt   *directive
}

// serverTLSDirective reads the server-side TLS directives, which nginx
// allows in http and server blocks only.
func (c *converter) serverTLSDirective(d *directive, set *settings, seen map[string]bool, lvl level) error {
	if lvl == levelLocation {
		return c.notAllowed(d)
	}
	first := !seen[d.name]
	seen[d.name] = true
	t := &set.tls
	switch d.name {
	case "ssl_certificate", "ssl_certificate_key":
		if err := c.args(d, 1, 1); err != nil {
			return err
		}
		list := &t.certs
		if d.name == "ssl_certificate_key" {
			list = &t.keys
		}
		if first {
			*list = nil // a level's own lines replace what it inherited
		}
		*list = append(*list, d)
	case "ssl_protocols":
		if err := c.args(d, 1, -1); err != nil {
			return err
		}
		for _, a := range d.args {
			if !slices.Contains([]string{"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, a) {
				return c.errorf(d, "invalid value %q", a)
			}
		}
		if first {
			t.protocols = nil
		}
		t.protocols = append(t.protocols, d)
	case "ssl_client_certificate", "ssl_verify_client":
		if !first {
			return c.errorf(d, "%q directive is duplicate", d.name)
		}
		if err := c.args(d, 1, 1); err != nil {
			return err
		}
		if d.name == "ssl_client_certificate" {
			t.clientCA = d
			return nil
		}
		if !slices.Contains([]string{"on", "off", "optional", "optional_no_ca"}, d.args[0]) {
			return c.errorf(d, "invalid value %q: expected on, off, optional or optional_no_ca", d.args[0])
		}
		t.verifyClient = d
	}
	return nil
}

// addHeader translates add_header Strict-Transport-Security into the TLS
// listener's hsts; other headers are not translated.
func (c *converter) addHeader(d *directive, set *settings, seen map[string]bool, lvl level) error {
	if err := c.args(d, 2, 3); err != nil {
		return err
	}
	if len(d.args) == 3 && d.args[2] != "always" {
		return c.errorf(d, "invalid parameter %q", d.args[2])
	}
	if !seen[d.name] && lvl != levelLocation {
		// A level with add_header lines does not inherit any from above.
		seen[d.name] = true
		set.tls.hsts = nil
	}
	if !strings.EqualFold(d.args[0], "Strict-Transport-Security") {
		c.untranslated(d)
		return nil
	}
	if lvl == levelLocation {
		c.warn(d, "Strict-Transport-Security in a location: not translated (Skjold sends it per TLS listener, with listeners.NAME.hsts); clients no longer get it here")
		return nil
	}
	set.tls.hsts = d
	return nil
}

// translateTLS works out a server's TLS: its TLS listens (listen ... ssl
// and, identically, every listen of a server with ssl on) and what they
// serve. When the server's TLS cannot be expressed, its TLS listens are
// left out with a Routing warning, never served as plain HTTP.
func (c *converter) translateTLS(srv *serverDef) error {
	tlsOn := false
	for i := range srv.listens {
		srv.listens[i].tls = srv.listens[i].tls || srv.set.ssl != nil
		tlsOn = tlsOn || srv.listens[i].tls
	}
	t := srv.set.tls
	if !tlsOn {
		if t.hsts != nil {
			c.warnAt(NoEffect, t.hsts, "Strict-Transport-Security on a server without TLS: browsers ignore it over plain HTTP")
		}
		return nil
	}
	st, ok, err := c.serverTLS(srv)
	if err != nil {
		return err
	}
	if !ok {
		c.skipTLSListens(srv)
		return nil
	}
	srv.tls = st
	return nil
}

// serverTLS reads the certificates, protocols, client verification and
// HSTS of a TLS server. ok is false, with a Routing warning recorded, when
// the server's TLS cannot be translated.
func (c *converter) serverTLS(srv *serverDef) (_ *serverTLS, ok bool, _ error) {
	t := srv.set.tls
	st := &serverTLS{verifyAt: srv.d}
	if len(t.certs) == 0 && srv.set.ssl != nil {
		return nil, false, c.errorf(srv.set.ssl, `no "ssl_certificate" is defined for the "ssl" directive`)
	}
	for i, cd := range t.certs {
		if i >= len(t.keys) {
			return nil, false, c.errorf(cd, `no "ssl_certificate_key" is defined for certificate %q`, cd.args[0])
		}
		kd := t.keys[i]
		if strings.Contains(cd.args[0], "$") || strings.Contains(kd.args[0], "$") {
			c.reroute(cd, "%s: certificates chosen by variables are not supported; this server's TLS listeners are not imported, so its HTTPS clients%s are not served", cd.args[0], serverNames(srv))
			return nil, false, nil
		}
		cf := &config.CertificateFiles{CertFile: c.confPath(cd.args[0]), KeyFile: c.confPath(kd.args[0])}
		if _, _, err := certs.LoadFiles(cf.CertFile, cf.KeyFile, c.now()); err != nil {
			return nil, false, c.certError(cd, cf.CertFile, err)
		}
		st.certs = append(st.certs, cf)
	}
	if len(t.protocols) > 0 {
		v, ok := c.minVersion(t.protocols, srv)
		if !ok {
			return nil, false, nil
		}
		st.minVersion = v
	}
	if err := c.clientVerification(t, st); err != nil {
		return nil, false, err
	}
	if t.hsts != nil {
		st.hsts, st.hstsAt = c.hsts(t.hsts), t.hsts
	}
	return st, true, nil
}

// certError is the error for a certificate that does not load: invalid
// (nginx -t fails on it too) unless only Skjold refuses it.
func (c *converter) certError(d *directive, file string, err error) error {
	if errors.Is(err, certs.ErrExpired) || errors.Is(err, certs.ErrNotYetValid) || errors.Is(err, certs.ErrBrokenChain) {
		return fmt.Errorf("%s:%d: %s: %w; nginx serves it, Skjold refuses to: renew or fix it, then import again", d.file, d.line, d.name, err)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", pe.Path, pe.Err)
	} else if !strings.Contains(err.Error(), file) {
		err = fmt.Errorf("%s: %w", file, err)
	}
	return c.errorf(d, "cannot load certificate %v", err)
}

// minVersion turns ssl_protocols into min_version. Skjold speaks TLS 1.2
// and 1.3 only: older versions are dropped with a warning, and a listener
// that offered only those is not translated (ok false), since none of its
// clients could connect.
func (c *converter) minVersion(ds []*directive, srv *serverDef) (string, bool) {
	var on, old []string
	for _, d := range ds {
		for _, a := range d.args {
			if !slices.Contains(on, a) {
				on = append(on, a)
			}
		}
	}
	for _, p := range []string{"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"} {
		if slices.Contains(on, p) {
			old = append(old, p)
		}
	}
	switch {
	case slices.Contains(on, "TLSv1.2"):
	case slices.Contains(on, "TLSv1.3"):
	default:
		c.reroute(ds[0], "only %s: Skjold speaks TLS 1.2 and 1.3 only, so the clients nginx served cannot connect; this server's TLS listeners are not imported, so its HTTPS clients%s are not served", strings.Join(old, ", "), serverNames(srv))
		return "", false
	}
	if len(old) > 0 {
		c.warn(ds[0], "%s: Skjold never offers these (they are insecure); clients that speak nothing newer can no longer connect", strings.Join(old, ", "))
	}
	if slices.Contains(on, "TLSv1.2") {
		return "1.2", true
	}
	return "1.3", true
}

// clientVerification translates ssl_verify_client. Skjold either requires
// a verified client certificate or asks for none, so optional and
// optional_no_ca (nginx lets clients through and the application decides)
// change who gets what; with AllowRerouting no certificate is asked for,
// which lets through everyone nginx let through.
func (c *converter) clientVerification(t tlsSettings, st *serverTLS) error {
	mode := "off"
	if t.verifyClient != nil {
		mode, st.verifyAt = t.verifyClient.args[0], t.verifyClient
	}
	switch mode {
	case "off":
		if t.clientCA != nil {
			c.warnAt(NoEffect, t.clientCA, "without ssl_verify_client nginx asks for no client certificate, and neither does Skjold")
		}
	case "on":
		if t.clientCA == nil {
			return c.errorf(t.verifyClient, "no ssl_client_certificate for ssl_verify_client")
		}
		path := c.confPath(t.clientCA.args[0])
		if _, err := certs.LoadCAs(path); err != nil {
			return c.errorf(t.clientCA, "cannot load %s: %v", path, err)
		}
		st.clientCA = path
	default:
		c.reroute(t.verifyClient, "%s: nginx lets clients without a verified certificate through and leaves the decision to the application; Skjold either requires a verified certificate (client_ca_file) or asks for none, so no client certificate is asked for", mode)
	}
	return nil
}

// hsts reads the max-age of a Strict-Transport-Security header; Skjold
// sends max-age only.
func (c *converter) hsts(d *directive) time.Duration {
	var age time.Duration
	var found bool
	var other []string
	for _, part := range strings.Split(d.args[1], ";") {
		part = strings.TrimSpace(part)
		k, v, _ := strings.Cut(part, "=")
		switch {
		case part == "":
		case strings.EqualFold(k, "max-age") && !found:
			n, err := strconv.ParseUint(strings.Trim(v, `"`), 10, 32)
			if err != nil {
				c.warn(d, "%q: not translated (Skjold sends a fixed max-age; listeners.NAME.hsts); clients no longer get Strict-Transport-Security", d.args[1])
				return 0
			}
			age, found = time.Duration(n)*time.Second, true
		default:
			other = append(other, part)
		}
	}
	switch {
	case !found || age == 0:
		c.warn(d, "%q: not translated (Skjold sends a max-age above 0; listeners.NAME.hsts); clients no longer get Strict-Transport-Security", d.args[1])
		return 0
	case len(other) > 0:
		c.warn(d, "%s: not translated: Skjold sends only max-age, so browsers no longer apply the policy to subdomains or treat it as a preload request", strings.Join(other, "; "))
	}
	return age
}

// skipTLSListens leaves out a server's TLS listens, whose translation
// failed with a Routing warning: its HTTPS clients are not served, which
// is safer than serving them plain HTTP on a TLS port.
func (c *converter) skipTLSListens(srv *serverDef) {
	srv.listens = slices.DeleteFunc(srv.listens, func(l listenDef) bool {
		if l.tls {
			srv.skippedListens++
		}
		return l.tls
	})
}

// confPath resolves a file name as nginx does: relative to its
// configuration directory. The result is absolute, so the imported config
// names the same file wherever it is written.
func (c *converter) confPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.confDir, p)
}

// listenerTLS is the tls section of a TLS listener: the certificates of
// every server on it (the default server's first, as nginx serves them to
// clients without SNI), and the default server's protocols, client
// verification and HSTS, which Skjold sets per listener. Servers that
// require client certificates differently are a change in who gets what.
func (c *converter) listenerTLS(l *config.Listener, def *serverDef) {
	l.TLS = &config.ListenerTLS{MinVersion: def.tls.minVersion, ClientCAFile: def.tls.clientCA}
	l.HSTS = config.Duration(def.tls.hsts)
	add := func(st *serverTLS) {
		for _, cf := range st.certs {
			if !slices.ContainsFunc(l.TLS.Certificates, func(have *config.CertificateFiles) bool { return *have == *cf }) {
				l.TLS.Certificates = append(l.TLS.Certificates, cf)
			}
		}
	}
	add(def.tls)
	for _, srv := range c.servers {
		if srv == def || srv.tls == nil || !slices.Contains(srv.addrs, l.Address) {
			continue
		}
		add(srv.tls)
		if len(srv.routes) == 0 {
			continue
		}
		if srv.tls.clientCA != def.tls.clientCA {
			asks := "asks for none"
			if def.tls.clientCA != "" {
				asks = "requires them, signed by a CA in " + def.tls.clientCA
			}
			c.reroute(srv.tls.verifyAt, "client certificates are asked for differently than by the default server for %s; Skjold asks for them per listener, as the default server does: it %s", l.Address, asks)
		}
		if srv.tls.hsts != def.tls.hsts {
			at := srv.tls.hstsAt
			if at == nil {
				at = srv.d
			}
			c.warn(at, "Strict-Transport-Security differs from the default server's for %s; Skjold sends it per listener, as the default server does", l.Address)
		}
	}
}

// checkDefaultCertificates refuses, as nginx does, a TLS address whose
// default server has no certificate.
func (c *converter) checkDefaultCertificates(defaults map[string]*serverDef) error {
	for _, srv := range c.servers {
		for i, l := range srv.listens {
			addr := srv.addrOf[i]
			if c.tlsAddrs[addr] && defaults[addr] == srv && (srv.tls == nil || len(srv.tls.certs) == 0) {
				return c.errorf(l.d, `no "ssl_certificate" is defined for the "listen ... ssl" directive`)
			}
		}
	}
	return nil
}

// serverNames is " for a.com, b.com", or "" for a server without names.
func serverNames(srv *serverDef) string {
	if len(srv.hosts) == 0 {
		return ""
	}
	return " for " + strings.Join(srv.hosts, ", ")
}
