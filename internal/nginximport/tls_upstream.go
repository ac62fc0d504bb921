package nginximport

import (
	"fmt"
	"strings"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/config"
)

// proxyTLSDirective reads the proxy_ssl directives that become an
// upstream's tls section; nginx inherits them down to the location.
func (c *converter) proxyTLSDirective(d *directive, set *settings, seen map[string]bool) error {
	if seen[d.name] {
		return c.errorf(d, "%q directive is duplicate", d.name)
	}
	seen[d.name] = true
	if err := c.args(d, 1, 1); err != nil {
		return err
	}
	t := &set.tls
	switch d.name {
	case "proxy_ssl_verify", "proxy_ssl_server_name":
		if d.args[0] != "on" && d.args[0] != "off" {
			return c.errorf(d, "invalid value %q: it must be \"on\" or \"off\"", d.args[0])
		}
		if d.name == "proxy_ssl_verify" {
			t.proxyVerify = d
		} else {
			t.proxyServerName = d
		}
	case "proxy_ssl_trusted_certificate":
		t.proxyTrusted = d
	case "proxy_ssl_name":
		t.proxyName = d
	case "proxy_ssl_certificate":
		t.proxyCert = d
	case "proxy_ssl_certificate_key":
		t.proxyKey = d
	}
	return nil
}

// upstreamTLS is the tls section a proxy_pass https:// needs, from the
// location's proxy_ssl settings. dropWhy is set when the location cannot
// be translated.
//
// nginx does not verify upstream certificates unless proxy_ssl_verify is
// on; Skjold does by default. The import keeps nginx's behaviour
// (insecure_skip_verify: true) with a warning, since turning verification
// on would break every working setup whose backend has a self-signed or
// private certificate, the usual reason it was left off. See
// docs/nginx-import.md.
func (c *converter) upstreamTLS(pass *directive, set settings) (_ *config.UpstreamTLS, dropWhy string, _ error) {
	s := set.tls
	t := &config.UpstreamTLS{}
	if s.proxyVerify != nil && s.proxyVerify.args[0] == "on" {
		if s.proxyTrusted == nil {
			return nil, "", c.errorf(s.proxyVerify, "no proxy_ssl_trusted_certificate for proxy_ssl_verify")
		}
		path := c.confPath(s.proxyTrusted.args[0])
		if _, err := certs.LoadCAs(path); err != nil {
			return nil, "", c.errorf(s.proxyTrusted, "cannot load %s: %v", path, err)
		}
		t.CAFile = path
	} else {
		t.InsecureSkipVerify = true
		c.warn(pass, "nginx does not verify the upstream's certificate (proxy_ssl_verify is off by default), so the import keeps it unverified (insecure_skip_verify: true) and the traffic flows as before; anyone on the network path to the upstream can read and change it: set proxy_ssl_verify on with proxy_ssl_trusted_certificate, or tls.ca_file without insecure_skip_verify")
	}
	if n := s.proxyName; n != nil && n.args[0] != "$proxy_host" {
		name := strings.ToLower(n.args[0])
		if strings.Contains(name, "$") || !config.ValidHostName(name) {
			c.warn(n, "%s: not translated: Skjold checks the certificate against (and sends as SNI) the target's host name; set tls.server_name", n.args[0])
		} else {
			t.ServerName = name
		}
	}
	if s.proxyServerName != nil && s.proxyServerName.args[0] == "off" {
		c.note(s.proxyServerName, "Skjold always sends the name it verifies as SNI")
	}
	if s.proxyCert != nil {
		if s.proxyKey == nil {
			return nil, "", c.errorf(s.proxyCert, `no "proxy_ssl_certificate_key" is defined for certificate %q`, s.proxyCert.args[0])
		}
		if strings.Contains(s.proxyCert.args[0], "$") || strings.Contains(s.proxyKey.args[0], "$") {
			return nil, "proxy_ssl_certificate " + s.proxyCert.args[0] + ": client certificates chosen by variables are not supported", nil
		}
		t.ClientCertFile, t.ClientKeyFile = c.confPath(s.proxyCert.args[0]), c.confPath(s.proxyKey.args[0])
		if _, _, err := certs.LoadFiles(t.ClientCertFile, t.ClientKeyFile, c.now()); err != nil {
			return nil, "", c.certError(s.proxyCert, t.ClientCertFile, err)
		}
	}
	return t, "", nil
}

// upstreamTLSConflict settles the protocol of an upstream block from the
// routes that use it: Skjold speaks to an upstream one way, while nginx
// chooses per proxy_pass. The first route decides; a later one that
// differs is not imported, and the reason is returned.
func (c *converter) upstreamTLSConflict(r *routeDef, u *upstreamDef) string {
	want := r.tls
	if want != nil && want.CAFile != "" && want.ServerName == "" && u.block {
		// nginx verifies the name proxy_pass gives ($proxy_host), which
		// for an upstream block is the block's name, not a server's.
		clone := *want
		clone.ServerName = strings.ToLower(r.host)
		want = &clone
	}
	if u.tlsFrom == nil {
		u.tlsFrom, u.up.TLS = r, want
		return ""
	}
	have := u.up.TLS
	if (have == nil) == (want == nil) && (have == nil || *have == *want) {
		return ""
	}
	scheme := "http://"
	if have != nil {
		scheme = "https://"
	}
	from := u.tlsFrom.d
	return fmt.Sprintf("upstream %s is proxied to over %s by the location on %s:%d with other settings; Skjold speaks to an upstream one way, so this location is not imported", r.host, scheme, from.file, from.line)
}
