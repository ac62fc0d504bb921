package nginximport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/certs/certstest"
	"github.com/skjold-dev/skjold/internal/config"
)

// tlsDir is an nginx configuration directory holding a CA (ca.pem), a
// server certificate for app.example.com (app.pem, app.key), an RSA one
// (rsa.pem, rsa.key), a client certificate (client.pem, client.key) and
// an expired certificate (old.pem, old.key), as relative paths in an nginx
// file name them.
func tlsDir(t *testing.T) string {
	t.Helper()
	ca := certstest.NewCA(t, "Test CA")
	dir := filepath.Dir(ca.File)
	link := func(from, to string) {
		t.Helper()
		if err := os.Rename(from, filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	app := ca.Issue(certstest.Options{}, "app.example.com")
	link(app.CertFile, "app.pem")
	link(app.KeyFile, "app.key")
	rsa := ca.Issue(certstest.Options{Key: certstest.RSA}, "app.example.com")
	link(rsa.CertFile, "rsa.pem")
	link(rsa.KeyFile, "rsa.key")
	client := ca.Issue(certstest.Options{Client: true}, "gateway.example.com")
	link(client.CertFile, "client.pem")
	link(client.KeyFile, "client.key")
	old := ca.Issue(certstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), Lifetime: time.Hour}, "old.example.com")
	link(old.CertFile, "old.pem")
	link(old.KeyFile, "old.key")
	return dir
}

// convertTLS converts src with dir as nginx's configuration directory.
func convertTLS(t *testing.T, dir, src string, allow bool) (*config.Config, []Warning, error) {
	t.Helper()
	return Convert("nginx.conf", []byte(src), Options{IncludeDir: dir, AllowRerouting: allow})
}

// mustConvertTLS converts src, which must import and load.
func mustConvertTLS(t *testing.T, dir, src string) (*config.Config, []Warning) {
	t.Helper()
	cfg, ws, err := convertTLS(t, dir, src, false)
	if err != nil {
		t.Fatalf("%v\nwarnings:\n%s", err, strings.Join(Report(ws), "\n"))
	}
	mustLoad(t, cfg)
	return cfg, ws
}

const (
	appCert  = "ssl_certificate app.pem;\nssl_certificate_key app.key;\n"
	proxyApp = "location / { proxy_pass http://127.0.0.1:9001; }\n"
)

func TestTLSListenSpellingsImportToTheSameTLSListener(t *testing.T) {
	dir := tlsDir(t)
	spellings := map[string]string{
		"listen ssl":        "server {\nlisten 443 ssl;\nserver_name app.example.com;\n" + appCert + proxyApp + "}\n",
		"ssl on":            "server {\nlisten 443;\nssl on;\nserver_name app.example.com;\n" + appCert + proxyApp + "}\n",
		"http-level ssl on": "ssl on;\n" + appCert + "server {\nlisten 443;\nserver_name app.example.com;\n" + proxyApp + "}\n",
	}
	var first []byte
	for _, name := range []string{"listen ssl", "ssl on", "http-level ssl on"} {
		t.Run(name, func(t *testing.T) {
			cfg, ws := mustConvertTLS(t, dir, spellings[name])
			for _, w := range ws {
				if w.Severity == Routing || w.Directive != "server_name" && w.Severity == Behaviour {
					t.Errorf("unexpected warning %s", w)
				}
			}
			l := cfg.Listeners["https_443"]
			if l == nil || l.Address != ":443" || l.TLS == nil {
				t.Fatalf("listeners = %+v, want https_443 on :443 with tls", cfg.Listeners)
			}
			want := []*config.CertificateFiles{{CertFile: filepath.Join(dir, "app.pem"), KeyFile: filepath.Join(dir, "app.key")}}
			if len(l.TLS.Certificates) != 1 || *l.TLS.Certificates[0] != *want[0] {
				t.Errorf("certificates = %+v, want %+v", l.TLS.Certificates, want[0])
			}
			y, err := Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = y
			} else if string(y) != string(first) {
				t.Errorf("imports differently from listen ... ssl:\n%s\n---\n%s", y, first)
			}
		})
	}
}

func TestTLSCertificatesResolveAsNginxDoes(t *testing.T) {
	dir := tlsDir(t)
	abs := func(n string) string { return filepath.Join(dir, n) }
	cases := []struct {
		name, conf string
		want       []string // cert, key, cert, key...
	}{
		{"relative to the configuration directory", "server {\nlisten 443 ssl;\n" + appCert + proxyApp + "}", []string{abs("app.pem"), abs("app.key")}},
		{"absolute paths kept", "server {\nlisten 443 ssl;\nssl_certificate " + abs("app.pem") + ";\nssl_certificate_key " + abs("app.key") + ";\n" + proxyApp + "}", []string{abs("app.pem"), abs("app.key")}},
		{"several pairs become several certificates, in order", "server {\nlisten 443 ssl;\nssl_certificate app.pem;\nssl_certificate_key app.key;\nssl_certificate rsa.pem;\nssl_certificate_key rsa.key;\n" + proxyApp + "}", []string{abs("app.pem"), abs("app.key"), abs("rsa.pem"), abs("rsa.key")}},
		{"inherited from http", appCert + "server {\nlisten 443 ssl;\n" + proxyApp + "}", []string{abs("app.pem"), abs("app.key")}},
		{"a server's own replace http's", appCert + "server {\nlisten 443 ssl;\nssl_certificate rsa.pem;\nssl_certificate_key rsa.key;\n" + proxyApp + "}", []string{abs("rsa.pem"), abs("rsa.key")}},
		{"servers sharing a listener: the default server's first", "server {\nlisten 443 ssl;\nserver_name b.example.com;\nssl_certificate rsa.pem;\nssl_certificate_key rsa.key;\n" + proxyApp + "}\nserver {\nlisten 443 ssl default_server;\nserver_name app.example.com;\n" + appCert + "location / { proxy_pass http://127.0.0.1:9002; }\n}", []string{abs("app.pem"), abs("app.key"), abs("rsa.pem"), abs("rsa.key")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := mustConvertTLS(t, dir, tc.conf)
			var got []string
			for _, cf := range cfg.Listeners["https_443"].TLS.Certificates {
				got = append(got, cf.CertFile, cf.KeyFile)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("certificates = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTLSBadCertificatesAreRefusedNamingTheLine: what nginx -t rejects is
// ErrInvalid at the line nginx names; a certificate nginx would serve but
// Skjold cannot (expired) is refused too, saying so.
func TestTLSBadCertificatesAreRefusedNamingTheLine(t *testing.T) {
	dir := tlsDir(t)
	cases := []struct {
		name, conf, want string
		invalid          bool
	}{
		{"a certificate without its key", "server {\nlisten 443 ssl;\nssl_certificate app.pem;\n" + proxyApp + "}", `nginx.conf:3: ssl_certificate: no "ssl_certificate_key" is defined for certificate "app.pem"`, true},
		{"a missing file", "server {\nlisten 443 ssl;\nssl_certificate missing.pem;\nssl_certificate_key app.key;\n" + proxyApp + "}", "nginx.conf:3: ssl_certificate: cannot load certificate " + filepath.Join(dir, "missing.pem"), true},
		{"a key for another certificate", "server {\nlisten 443 ssl;\nssl_certificate app.pem;\nssl_certificate_key rsa.key;\n" + proxyApp + "}", "does not match", true},
		{"the default server without a certificate", "server {\nlisten 443 ssl;\n" + proxyApp + "}", `nginx.conf:2: listen: no "ssl_certificate" is defined for the "listen ... ssl" directive`, true},
		{"ssl on without a certificate", "server {\nlisten 443;\nssl on;\n" + proxyApp + "}", `nginx.conf:3: ssl: no "ssl_certificate" is defined for the "ssl" directive`, true},
		{"a certificate in a location", "server {\nlisten 443 ssl;\n" + appCert + "location / {\nssl_certificate app.pem;\nproxy_pass http://127.0.0.1:9001; }\n}", `nginx.conf:6: "ssl_certificate" directive is not allowed here`, true},
		{"an expired certificate", "server {\nlisten 443 ssl;\nssl_certificate old.pem;\nssl_certificate_key old.key;\n" + proxyApp + "}", "nginx.conf:3: ssl_certificate: " + filepath.Join(dir, "old.pem") + ": certificate has expired", false},
		{"an unknown protocol", "server {\nlisten 443 ssl;\n" + appCert + "ssl_protocols TLSv1.2 TLSv9;\n" + proxyApp + "}", `nginx.conf:5: ssl_protocols: invalid value "TLSv9"`, true},
		{"ssl_verify_client on without a CA", "server {\nlisten 443 ssl;\n" + appCert + "ssl_verify_client on;\n" + proxyApp + "}", "nginx.conf:5: ssl_verify_client: no ssl_client_certificate for ssl_verify_client", true},
		{"a missing client CA file", "server {\nlisten 443 ssl;\n" + appCert + "ssl_verify_client on;\nssl_client_certificate nope.pem;\n" + proxyApp + "}", "nginx.conf:6: ssl_client_certificate: cannot load", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := convertTLS(t, dir, tc.conf, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if errors.Is(err, ErrInvalid) != tc.invalid {
				t.Errorf("errors.Is(err, ErrInvalid) = %v, want %v (nginx -t rejects it: %v)", !tc.invalid, tc.invalid, tc.invalid)
			}
		})
	}
}

func TestTLSProtocolsBecomeMinVersion(t *testing.T) {
	dir := tlsDir(t)
	cases := []struct {
		protocols string
		want      string // min_version; "" when the listener is not imported
		warn      string // a Behaviour warning expected, if any
	}{
		{"ssl_protocols TLSv1.2 TLSv1.3;", "1.2", ""},
		{"ssl_protocols TLSv1.3;", "1.3", ""},
		{"ssl_protocols TLSv1.2;", "1.2", ""},
		{"ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;", "1.2", "TLSv1, TLSv1.1: Skjold never offers"},
		{"ssl_protocols SSLv3 TLSv1.3;", "1.3", "SSLv3: Skjold never offers"},
		{"ssl_protocols TLSv1.1;\nssl_protocols TLSv1.3;", "1.3", "TLSv1.1: Skjold never offers"}, // nginx adds the lines up
	}
	for _, tc := range cases {
		t.Run(tc.protocols, func(t *testing.T) {
			cfg, ws := mustConvertTLS(t, dir, "server {\nlisten 443 ssl;\n"+appCert+tc.protocols+"\n"+proxyApp+"}")
			if got := cfg.Listeners["https_443"].TLS.MinVersion; got != tc.want {
				t.Errorf("min_version = %q, want %q", got, tc.want)
			}
			if tc.warn != "" && !hasWarning(ws, Behaviour, tc.warn) {
				t.Errorf("no warning %q:\n%s", tc.warn, strings.Join(Report(ws), "\n"))
			}
		})
	}
	t.Run("only protocols Skjold never offers", func(t *testing.T) {
		src := "server {\nlisten 443 ssl;\n" + appCert + "ssl_protocols TLSv1 TLSv1.1;\n" + proxyApp + "}\nserver { listen 80; " + proxyApp + "}"
		_, ws, err := convertTLS(t, dir, src, false)
		if !errors.Is(err, ErrRerouting) || !hasWarning(ws, Routing, "nginx.conf:5: ssl_protocols: changes who gets what: only TLSv1, TLSv1.1") {
			t.Fatalf("err = %v, warnings:\n%s", err, strings.Join(Report(ws), "\n"))
		}
		cfg, _, err := convertTLS(t, dir, src, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cfg.Listeners["https_443"]; ok || len(cfg.Listeners) != 1 {
			t.Errorf("listeners = %v, want only the plain one (the TLS clients nginx served cannot connect to Skjold)", cfg.Listeners)
		}
	})
}

func TestTLSClientCertificates(t *testing.T) {
	dir := tlsDir(t)
	server := func(extra string) string {
		return "server {\nlisten 443 ssl;\n" + appCert + extra + "\n" + proxyApp + "}\nserver { listen 80; " + proxyApp + "}"
	}
	t.Run("ssl_verify_client on requires them", func(t *testing.T) {
		cfg, _ := mustConvertTLS(t, dir, server("ssl_client_certificate ca.pem;\nssl_verify_client on;"))
		if got := cfg.Listeners["https_443"].TLS.ClientCAFile; got != filepath.Join(dir, "ca.pem") {
			t.Errorf("client_ca_file = %q", got)
		}
	})
	t.Run("a CA without ssl_verify_client asks for none", func(t *testing.T) {
		cfg, ws := mustConvertTLS(t, dir, server("ssl_client_certificate ca.pem;"))
		if got := cfg.Listeners["https_443"].TLS.ClientCAFile; got != "" {
			t.Errorf("client_ca_file = %q, want none", got)
		}
		if !hasWarning(ws, NoEffect, "ssl_client_certificate") {
			t.Errorf("warnings:\n%s", strings.Join(Report(ws), "\n"))
		}
	})
	for _, mode := range []string{"optional", "optional_no_ca"} {
		t.Run("ssl_verify_client "+mode+" is refused", func(t *testing.T) {
			src := server("ssl_client_certificate ca.pem;\nssl_verify_client " + mode + ";")
			_, ws, err := convertTLS(t, dir, src, false)
			if !errors.Is(err, ErrRerouting) || !hasWarning(ws, Routing, "nginx.conf:6: ssl_verify_client: changes who gets what: "+mode) {
				t.Fatalf("err = %v, warnings:\n%s", err, strings.Join(Report(ws), "\n"))
			}
			cfg, _, err := convertTLS(t, dir, src, true)
			if err != nil {
				t.Fatal(err)
			}
			mustLoad(t, cfg)
			if got := cfg.Listeners["https_443"].TLS.ClientCAFile; got != "" {
				t.Errorf("with AllowRerouting client_ca_file = %q, want none (nginx let clients without one through)", got)
			}
		})
	}
	t.Run("servers of one listener that disagree are refused", func(t *testing.T) {
		src := "server {\nlisten 443 ssl;\nserver_name app.example.com;\n" + appCert + proxyApp + "}\n" +
			"server {\nlisten 443 ssl;\nserver_name admin.example.com;\nssl_client_certificate ca.pem;\nssl_verify_client on;\nlocation / { proxy_pass http://127.0.0.1:9002; }\n}"
		_, ws, err := convertTLS(t, dir, src, false)
		if !errors.Is(err, ErrRerouting) || !hasWarning(ws, Routing, "nginx.conf:12: ssl_verify_client: changes who gets what: client certificates are asked for differently") {
			t.Fatalf("err = %v, warnings:\n%s", err, strings.Join(Report(ws), "\n"))
		}
	})
}

func TestTLSRedirectServerBecomesRedirectHTTPFrom(t *testing.T) {
	dir := tlsDir(t)
	tlsServer := "server {\nlisten 443 ssl;\nserver_name app.example.com;\n" + appCert + proxyApp + "}\n"
	for _, target := range []string{"https://$host$request_uri", "https://$server_name$request_uri"} {
		t.Run(target, func(t *testing.T) {
			src := "server {\nlisten 80;\nlisten [::]:80;\nserver_name app.example.com;\nreturn 301 " + target + ";\n}\n" + tlsServer
			cfg, ws := mustConvertTLS(t, dir, src)
			if len(cfg.Listeners) != 1 || cfg.Listeners["https_443"].RedirectHTTPFrom != ":80" {
				t.Errorf("listeners = %+v, want https_443 redirecting from :80", cfg.Listeners)
			}
			if !hasWarning(ws, Behaviour, "nginx.conf:5: return: changes behaviour: redirect_http_from :80 on listener https_443: Skjold answers 308") {
				t.Errorf("warnings:\n%s", strings.Join(Report(ws), "\n"))
			}
			if hasWarning(ws, Behaviour, "404") || hasWarning(ws, Behaviour, "nothing to import") {
				t.Errorf("the redirect server is still reported as dropped:\n%s", strings.Join(Report(ws), "\n"))
			}
		})
	}
	cases := []struct{ name, src, why string }{
		{"the port also serves routes", "server {\nlisten 80;\nserver_name app.example.com;\nreturn 301 https://$host$request_uri;\n}\nserver { listen 80; server_name other.example.com; location / { proxy_pass http://127.0.0.1:9002; } }\n" + tlsServer, "other servers listen on :80"},
		{"no TLS listener on 443", "server {\nlisten 80;\nreturn 301 https://$host$request_uri;\n}\nserver {\nlisten 8443 ssl;\n" + appCert + proxyApp + "}\n", "no TLS listener on port 443"},
		{"another target", "server {\nlisten 80;\nreturn 301 https://www.example.com$request_uri;\n}\n" + tlsServer, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ws, err := convertTLS(t, dir, tc.src, true)
			if err != nil {
				t.Fatal(err)
			}
			mustLoad(t, cfg)
			for name, l := range cfg.Listeners {
				if l.RedirectHTTPFrom != "" {
					t.Errorf("listener %s redirects from %s", name, l.RedirectHTTPFrom)
				}
			}
			if tc.why != "" && !hasWarning(ws, Behaviour, tc.why) {
				t.Errorf("no warning saying %q:\n%s", tc.why, strings.Join(Report(ws), "\n"))
			}
		})
	}
}

func TestTLSStrictTransportSecurityBecomesHSTS(t *testing.T) {
	dir := tlsDir(t)
	cases := []struct {
		name, header string
		want         time.Duration
		warn         string
	}{
		{"max-age", `add_header Strict-Transport-Security "max-age=31536000" always;`, 365 * 24 * time.Hour, ""},
		{"without always", `add_header Strict-Transport-Security max-age=63072000;`, 2 * 365 * 24 * time.Hour, ""},
		{"includeSubDomains dropped", `add_header Strict-Transport-Security "max-age=31536000; includeSubDomains; preload" always;`, 365 * 24 * time.Hour, "includeSubDomains; preload: not translated"},
		{"a value Skjold cannot send", `add_header Strict-Transport-Security "$hsts_value";`, 0, "not translated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ws := mustConvertTLS(t, dir, "server {\nlisten 443 ssl;\n"+appCert+tc.header+"\n"+proxyApp+"}")
			if got := cfg.Listeners["https_443"].HSTS.D(); got != tc.want {
				t.Errorf("hsts = %v, want %v", got, tc.want)
			}
			if tc.warn != "" && !hasWarning(ws, Behaviour, tc.warn) {
				t.Errorf("no warning %q:\n%s", tc.warn, strings.Join(Report(ws), "\n"))
			}
			if hasWarning(ws, Behaviour, "does not add response headers") {
				t.Errorf("reported as an untranslated header:\n%s", strings.Join(Report(ws), "\n"))
			}
		})
	}
	t.Run("in a location", func(t *testing.T) {
		cfg, ws := mustConvertTLS(t, dir, "server {\nlisten 443 ssl;\n"+appCert+"location / {\nadd_header Strict-Transport-Security max-age=60;\nproxy_pass http://127.0.0.1:9001; }\n}")
		if cfg.Listeners["https_443"].HSTS != 0 || !hasWarning(ws, Behaviour, "nginx.conf:6: add_header: changes behaviour: Strict-Transport-Security in a location") {
			t.Errorf("hsts = %v, warnings:\n%s", cfg.Listeners["https_443"].HSTS, strings.Join(Report(ws), "\n"))
		}
	})
	t.Run("on plain HTTP", func(t *testing.T) {
		cfg, ws := mustConvertTLS(t, dir, "server {\nlisten 80;\nadd_header Strict-Transport-Security max-age=60;\n"+proxyApp+"}")
		if cfg.Listeners["http_80"].HSTS != 0 || !hasWarning(ws, NoEffect, "browsers ignore it over plain HTTP") {
			t.Errorf("hsts = %v, warnings:\n%s", cfg.Listeners["http_80"].HSTS, strings.Join(Report(ws), "\n"))
		}
	})
}

func TestTLSToUpstreams(t *testing.T) {
	dir := tlsDir(t)
	abs := func(n string) string { return filepath.Join(dir, n) }
	loc := func(body string) string {
		return "server {\nlisten 80;\nlocation / {\n" + body + "\n}\n}"
	}
	cases := []struct {
		name, conf string
		upstream   string
		want       config.UpstreamTLS
		target     string
		warn       string
	}{
		{"nginx's default: not verified", loc("proxy_pass https://127.0.0.1:9443;"), "127_0_0_1_9443",
			config.UpstreamTLS{InsecureSkipVerify: true}, "127.0.0.1:9443", "nginx.conf:4: proxy_pass: changes behaviour: nginx does not verify"},
		{"port 443 by default", loc("proxy_pass https://localhost;"), "localhost_443",
			config.UpstreamTLS{InsecureSkipVerify: true}, "localhost:443", ""},
		{"verified", loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate ca.pem;\nproxy_ssl_name app.example.com;"), "127_0_0_1_9443",
			config.UpstreamTLS{CAFile: abs("ca.pem"), ServerName: "app.example.com"}, "127.0.0.1:9443", ""},
		{"an upstream block is verified against its name", "upstream app.example.com { server 127.0.0.1:9443; }\n" + loc("proxy_pass https://app.example.com;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate ca.pem;"), "app_example_com",
			config.UpstreamTLS{CAFile: abs("ca.pem"), ServerName: "app.example.com"}, "127.0.0.1:9443", ""},
		{"a client certificate", loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_certificate client.pem;\nproxy_ssl_certificate_key client.key;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate ca.pem;"), "127_0_0_1_9443",
			config.UpstreamTLS{CAFile: abs("ca.pem"), ClientCertFile: abs("client.pem"), ClientKeyFile: abs("client.key")}, "127.0.0.1:9443", ""},
		{"inherited from the server", "server {\nlisten 80;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate ca.pem;\nlocation / { proxy_pass https://127.0.0.1:9443; }\n}", "127_0_0_1_9443",
			config.UpstreamTLS{CAFile: abs("ca.pem")}, "127.0.0.1:9443", ""},
		{"a name with variables", loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate ca.pem;\nproxy_ssl_name $host;"), "127_0_0_1_9443",
			config.UpstreamTLS{CAFile: abs("ca.pem")}, "127.0.0.1:9443", "nginx.conf:7: proxy_ssl_name: changes behaviour: $host: not translated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ws := mustConvertTLS(t, dir, tc.conf)
			u := cfg.Upstreams[tc.upstream]
			if u == nil || u.TLS == nil {
				t.Fatalf("upstreams = %+v, want %s with tls", cfg.Upstreams, tc.upstream)
			}
			if *u.TLS != tc.want {
				t.Errorf("tls = %+v, want %+v", *u.TLS, tc.want)
			}
			if len(u.Targets) != 1 || u.Targets[0].Address != tc.target {
				t.Errorf("targets = %+v, want %s", u.Targets, tc.target)
			}
			if tc.warn != "" && !hasWarning(ws, Behaviour, tc.warn) {
				t.Errorf("no warning %q:\n%s", tc.warn, strings.Join(Report(ws), "\n"))
			}
			if !tc.want.InsecureSkipVerify && hasWarning(ws, Behaviour, "does not verify") {
				t.Errorf("warns about verification it does:\n%s", strings.Join(Report(ws), "\n"))
			}
		})
	}
	bad := []struct{ name, conf, want string }{
		{"verify without a CA", loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_verify on;"), "nginx.conf:5: proxy_ssl_verify: no proxy_ssl_trusted_certificate for proxy_ssl_verify"},
		{"a missing CA", loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate nope.pem;"), "nginx.conf:6: proxy_ssl_trusted_certificate: cannot load"},
		{"a client certificate without its key", loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_certificate client.pem;"), `nginx.conf:5: proxy_ssl_certificate: no "proxy_ssl_certificate_key" is defined for certificate "client.pem"`},
		{"proxy_ssl_verify maybe", loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_verify maybe;"), `nginx.conf:5: proxy_ssl_verify: invalid value "maybe"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := convertTLS(t, dir, tc.conf, true)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	t.Run("an unverified CA file is not read, as in nginx", func(t *testing.T) {
		cfg, _ := mustConvertTLS(t, dir, loc("proxy_pass https://127.0.0.1:9443;\nproxy_ssl_trusted_certificate nope.pem;"))
		if tls := cfg.Upstreams["127_0_0_1_9443"].TLS; tls.CAFile != "" || !tls.InsecureSkipVerify {
			t.Errorf("tls = %+v", *tls)
		}
	})
	t.Run("one upstream block over http and https", func(t *testing.T) {
		src := "upstream app { server 127.0.0.1:9443; }\nserver {\nlisten 80;\nlocation / { proxy_pass http://app; }\nlocation /secure/ { proxy_pass https://app; }\n}"
		_, ws, err := convertTLS(t, dir, src, false)
		if !errors.Is(err, ErrRerouting) || !hasWarning(ws, Routing, "nginx.conf:5: location: changes who gets what: /secure/: upstream app is proxied to over http:// by the location on nginx.conf:4") {
			t.Fatalf("err = %v, warnings:\n%s", err, strings.Join(Report(ws), "\n"))
		}
	})
	t.Run("one address over http and https", func(t *testing.T) {
		cfg, _ := mustConvertTLS(t, dir, "server {\nlisten 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\nlocation /s/ { proxy_pass https://127.0.0.1:9000; }\n}")
		if len(cfg.Upstreams) != 2 || cfg.Routes[0].Upstream == cfg.Routes[1].Upstream {
			t.Errorf("upstreams = %v, routes to %s and %s: want one per protocol", cfg.Upstreams, cfg.Routes[0].Upstream, cfg.Routes[1].Upstream)
		}
	})
}
