package nginximport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skjold-dev/skjold/internal/config"
)

// proxyRoot is a server proxying / that the cases below add to.
const proxyRoot = "server {\nlisten 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\n"

func TestParseAcceptsDataBlocksAndQuotedConditions(t *testing.T) {
	tests := []struct{ name, src string }{
		{"map with an empty quoted key", "map $http_upgrade $connection_upgrade {\ndefault upgrade;\n'' close;\n}\n"},
		{"map with quoted and bare regex keys", "map $http_user_agent $bot {\n\"~*bot|crawl\" 1;\n~Googlebot 1;\ndefault 0;\n}\n"},
		{"types with a slash in the key", "types {\ntext/csv csv;\n\"application/vnd.ms-fontobject\" eot;\n}\n"},
		{"geo with CIDR keys", "geo $office {\ndefault 0;\n10.1.0.0/16 1;\n}\n"},
		{"split_clients with percentages", "split_clients \"${remote_addr}AAA\" $v {\n0.5% .one;\n* \"\";\n}\n"},
		{"if with a quoted string before )", "server {\nlisten 80;\nlocation / {\nif ($request_method = 'OPTIONS') { return 204; }\nproxy_pass http://127.0.0.1:9000;\n}\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if !strings.Contains(src, "server") {
				src += proxyRoot + "}\n"
			}
			_, _, err := Convert("nginx.conf", []byte(src), Options{AllowRerouting: true})
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
		})
	}
}

func TestParseStillRejectsBracesInDataBlocksAndTextAfterQuotes(t *testing.T) {
	for _, src := range []string{
		"map $a $b { x { } }",
		"server { listen 80; location / { if ($a = 'b'x) { return 204; } } }",
	} {
		if _, _, err := Convert("nginx.conf", []byte(src), Options{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", src, err)
		}
	}
}

// TestDroppedLocationsRefuseAndSayWhereRequestsGo: a location that cannot
// become a route refuses the import, naming the location and the route
// its requests would match, unless AllowRerouting.
func TestDroppedLocationsRefuseAndSayWhereRequestsGo(t *testing.T) {
	tests := []struct {
		name, loc, want string
	}{
		{"return", "location /logs/ { return 404; }", `nginx.conf:4: location: changes who gets what: /logs/: nginx answers every request with return 404; not imported, so requests for /logs/ will match route "/" → upstream 127_0_0_1_9000`},
		{"deny all", "location /logs/ { deny all; }", `/logs/: nginx refuses every request with 403 (deny all); not imported, so requests for /logs/ will match route "/"`},
		{"regex", `location ~ \.php$ { proxy_pass http://127.0.0.1:9001; }`, `~ \.php$: regular-expression locations are not supported yet; not imported, so requests matching ~ \.php$ will match route "/"`},
		{"exact", "location = /status { proxy_pass http://127.0.0.1:9001; }", `= /status: exact-match locations are not supported yet; not imported, so requests for = /status will match route "/"`},
		{"static files", "location /static/ { root /srv; }", `/static/: no proxy_pass, so nginx answers these requests itself`},
		{"https upstream with a client certificate chosen by a variable", "location /pay/ { proxy_pass https://127.0.0.1:9443; proxy_ssl_certificate $c.pem; proxy_ssl_certificate_key $c.key; }", `/pay/: proxy_ssl_certificate $c.pem: client certificates chosen by variables are not supported; not imported, so requests for /pay/ will match route "/"`},
		{"unix upstream", "location /app/ { proxy_pass http://unix:/run/app.sock:/; }", `Skjold dials upstreams over TCP only, not unix sockets; not imported, so requests for /app/ will match route "/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(proxyRoot + tt.loc + "\n}\n")
			_, ws, err := Convert("nginx.conf", src, Options{})
			if !errors.Is(err, ErrRerouting) || !strings.Contains(err.Error(), "nginx.conf:4 location") {
				t.Fatalf("err = %v, want ErrRerouting naming nginx.conf:4 location", err)
			}
			if !hasWarning(ws, Routing, tt.want) {
				t.Errorf("no Routing warning containing %q in:\n%s", tt.want, strings.Join(Report(ws), "\n"))
			}
			cfg, ws2, err := Convert("nginx.conf", src, Options{AllowRerouting: true})
			if err != nil {
				t.Fatalf("with AllowRerouting: %v", err)
			}
			mustLoad(t, cfg)
			if len(cfg.Routes) != 1 || cfg.Routes[0].Match.PathPrefix != "/" || !hasWarning(ws2, Routing, tt.want) {
				t.Errorf("with AllowRerouting: routes %+v, warnings %v", cfg.Routes, Report(ws2))
			}
		})
	}
}

func TestLostChecksOnImportedRoutesRefuse(t *testing.T) {
	tests := []struct{ name, loc, want string }{
		{"auth_basic", `location /upload/ { auth_basic "Uploads"; proxy_pass http://127.0.0.1:9001; }`, `nginx asks for a password (auth_basic "Uploads"); Skjold cannot yet, so requests for /upload/ reach route "/upload/" → upstream 127_0_0_1_9001 without it`},
		{"allow and deny", "location /admin/ { allow 10.0.0.0/8; deny all; proxy_pass http://127.0.0.1:9001; }", "lets through only the clients its rules allow (allow 10.0.0.0/8; deny all)"},
		{"limit_except restricts methods", "location /api/ { limit_except GET { deny all; } proxy_pass http://127.0.0.1:9001; }", "restricts methods other than GET to the rules of limit_except (deny all)"},
		{"if that answers", "location /api/ { if ($request_method = 'OPTIONS') { return 204; } proxy_pass http://127.0.0.1:9001; }", "handles requests where if ($request_method = OPTIONS) holds itself (return 204)"},
		{"auth inherited from the server", `auth_basic "All";` + "\nlocation /api/ { proxy_pass http://127.0.0.1:9001; }", `reach route "/api/" → upstream 127_0_0_1_9001 without it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ws, err := Convert("nginx.conf", []byte(proxyRoot+tt.loc+"\n}\n"), Options{})
			if !errors.Is(err, ErrRerouting) {
				t.Fatalf("err = %v, want ErrRerouting", err)
			}
			if !hasWarning(ws, Routing, tt.want) {
				t.Errorf("no Routing warning containing %q in:\n%s", tt.want, strings.Join(Report(ws), "\n"))
			}
			if hasWarning(ws, Routing, "rate") {
				t.Errorf("a check is described as rate limiting:\n%s", strings.Join(Report(ws), "\n"))
			}
		})
	}
}

func TestAuthBasicOffLiftsTheInheritedCheck(t *testing.T) {
	src := "server {\nlisten 80;\nauth_basic \"All\";\nlocation / { auth_basic off; proxy_pass http://127.0.0.1:9000; }\n}\n"
	if _, ws, err := Convert("nginx.conf", []byte(src), Options{}); err != nil {
		t.Fatalf("err = %v\n%s", err, strings.Join(Report(ws), "\n"))
	}
}

// TestNamedServerWithoutRootDoesNotLeakToOtherServers: nginx answers a
// server's uncovered paths itself; in Skjold they would fall through to
// another server's any-host route.
func TestNamedServerWithoutRootDoesNotLeakToOtherServers(t *testing.T) {
	src := "server { listen 80; location / { proxy_pass http://127.0.0.1:9000; } }\n" +
		"server {\nlisten 80;\nserver_name api.example.com;\nlocation /v1/ { proxy_pass http://127.0.0.1:9001; }\n}\n"
	_, ws, err := Convert("nginx.conf", []byte(src), Options{})
	if !errors.Is(err, ErrRerouting) || !hasWarning(ws, Routing, `requests outside its locations itself; in Skjold they will match route "/" → upstream 127_0_0_1_9000`) {
		t.Fatalf("err = %v, warnings:\n%s", err, strings.Join(Report(ws), "\n"))
	}
}

func TestTryFilesToANamedLocationProxies(t *testing.T) {
	for name, src := range map[string]string{
		"in a location":    "server {\nlisten 80;\nroot /srv;\nlocation / { try_files $uri @app; }\nlocation @app { proxy_pass http://127.0.0.1:9000; proxy_read_timeout 7s; }\n}\n",
		"at server level":  "server {\nlisten 80;\nroot /srv;\ntry_files $uri/index.html $uri @app;\nlocation @app { proxy_pass http://127.0.0.1:9000; proxy_read_timeout 7s; }\n}\n",
		"with an upstream": "upstream app { server 127.0.0.1:9000; }\nserver {\nlisten 80;\nlocation / { try_files $uri @app; }\nlocation @app { proxy_pass http://app; proxy_read_timeout 7s; }\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, ws, err := Convert("nginx.conf", []byte(src), Options{})
			if err != nil {
				t.Fatalf("err = %v\n%s", err, strings.Join(Report(ws), "\n"))
			}
			mustLoad(t, cfg)
			if len(cfg.Routes) != 1 || cfg.Routes[0].Match.PathPrefix != "/" || cfg.Routes[0].Timeouts.Response != dur("7s") {
				t.Errorf("routes = %+v, want / with the named location's 7s", cfg.Routes)
			}
			if !hasWarning(ws, Behaviour, "hands the rest to @app, which proxies") {
				t.Errorf("warnings:\n%s", strings.Join(Report(ws), "\n"))
			}
		})
	}
}

// TestUntranslatableTLSServersAreNeverServedAsPlainHTTP: listen 443 ssl
// and listen 443 with ssl on import to the same TLS listener
// (TestTLSListenSpellingsImportToTheSameTLSListener); when the server's
// TLS cannot be translated (certificates chosen by a variable), both
// spellings are refused alike, and under AllowRerouting the TLS listener
// is left out rather than becoming plain HTTP on :443.
func TestUntranslatableTLSServersAreNeverServedAsPlainHTTP(t *testing.T) {
	// ssl on makes every listen of its server TLS, so the plain listener is
	// in a server of its own.
	plain := "server {\nlisten 80;\nlocation / { proxy_pass http://127.0.0.1:9000; }\n}\n"
	certs := "ssl_certificate $ssl_server_name.pem;\nssl_certificate_key $ssl_server_name.key;\n"
	body := "location / { proxy_pass http://127.0.0.1:9001; }\n}\n"
	spellings := map[string]string{
		"listen ssl":        plain + "server {\nlisten 443 ssl;\n" + certs + body,
		"ssl on":            plain + "server {\nlisten 443;\nssl on;\n" + certs + body,
		"http-level ssl on": "ssl on;\n" + certs + "server {\nlisten 443;\n" + body,
	}
	for name, src := range spellings {
		t.Run(name, func(t *testing.T) {
			_, ws, err := Convert("nginx.conf", []byte(src), Options{})
			if !errors.Is(err, ErrRerouting) || !hasWarning(ws, Routing, "certificates chosen by variables are not supported; this server's TLS listeners are not imported") {
				t.Fatalf("err = %v, warnings:\n%s", err, strings.Join(Report(ws), "\n"))
			}
			cfg, _, err := Convert("nginx.conf", []byte(src), Options{AllowRerouting: true})
			if errors.Is(err, ErrNothingToImport) {
				return // only the TLS listener: nothing served, as wanted
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range cfg.Listeners {
				if strings.HasSuffix(l.Address, ":443") {
					t.Errorf("a plain HTTP listener on %s", l.Address)
				}
			}
		})
	}
	a, _, err := Convert("a.conf", []byte(spellings["listen ssl"]), Options{AllowRerouting: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Convert("a.conf", []byte(spellings["ssl on"]), Options{AllowRerouting: true})
	if err != nil {
		t.Fatal(err)
	}
	ya, _ := Marshal(a)
	yb, _ := Marshal(b)
	if string(ya) != string(yb) {
		t.Errorf("the two spellings import differently:\n%s\n---\n%s", ya, yb)
	}
}

func TestNoEffectWarningsFoldIntoOneLine(t *testing.T) {
	src := "worker_processes 2;\npid /run/nginx.pid;\nevents {}\nhttp {\nsendfile on;\n" + proxyRoot + "sendfile off;\n}\n}\n"
	_, ws, err := Convert("nginx.conf", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := Report(ws)
	want := "no effect in Skjold, nothing to do: worker_processes (nginx.conf:1), pid (nginx.conf:2), events (nginx.conf:3), sendfile (nginx.conf:5, nginx.conf:9)"
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("report = %q, want only %q", lines, want)
	}
}

func TestProxyHeadersAndAddHeaderChangeBehaviour(t *testing.T) {
	src := proxyRoot + "proxy_set_header X-Real-IP $remote_addr;\nproxy_set_header X-Team pay;\nadd_header X-Frame-Options DENY;\n}\n"
	_, ws, err := Convert("nginx.conf", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"X-Real-IP $remote_addr: not translated: Skjold cannot set request headers yet and passes an X-Real-IP the client sent through unchanged", `X-Team "pay": not translated (Skjold cannot set request headers yet)`, "Skjold does not add response headers yet"} {
		if !hasWarning(ws, Behaviour, want) {
			t.Errorf("no Behaviour warning %q in:\n%s", want, strings.Join(Report(ws), "\n"))
		}
	}
}

func TestUnixUpstreamServersAreReported(t *testing.T) {
	src := "upstream app { server unix:/run/app.sock; server 127.0.0.1:9000; }\n" + "server { listen 80; location / { proxy_pass http://app; } }\n"
	cfg, ws, err := Convert("nginx.conf", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Upstreams["app"].Targets) != 1 || !hasWarning(ws, Behaviour, "unix:/run/app.sock: Skjold dials upstreams over TCP only") {
		t.Errorf("targets %+v, warnings:\n%s", cfg.Upstreams["app"].Targets, strings.Join(Report(ws), "\n"))
	}
}

// writeTree writes files (name → content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func convertFile(t *testing.T, path string) (*config.Config, []Warning, error) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Convert(filepath.Base(path), src, Options{File: path})
}

func TestIncludeFollowsFilesGlobsAndNestedIncludesFromTheConfigDir(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"nginx.conf":             "http {\ninclude conf.d/*.conf;\ninclude absent/*.conf;\n}\n",
		"conf.d/b.conf":          "server { listen 8082; location / { proxy_pass http://127.0.0.1:9002; include snippets/t.conf; } }\n",
		"conf.d/a.conf":          "server { listen 8081; location / { proxy_pass http://127.0.0.1:9001; } }\n",
		"snippets/t.conf":        "proxy_read_timeout 9s;\n",
		"conf.d/snippets/t.conf": "this file is not the one nginx reads;\n",
	})
	cfg, ws, err := convertFile(t, filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatalf("err = %v\n%s", err, strings.Join(Report(ws), "\n"))
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0].Upstream != "127_0_0_1_9001" || cfg.Routes[1].Timeouts.Response != dur("9s") {
		t.Errorf("routes = %+v %+v; want a.conf then b.conf, b with 9s", cfg.Routes[0], cfg.Routes[1])
	}
}

func TestIncludeErrorsNameTheIncludingLine(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing file", map[string]string{"nginx.conf": "server {\ninclude nope.conf;\n}\n"}, "nginx.conf:2: include nope.conf: "},
		{"loop", map[string]string{"nginx.conf": "include a.conf;\n", "a.conf": "\ninclude nginx.conf;\n"}, "a.conf:2: include nginx.conf: include loop: "},
		{"error inside the included file", map[string]string{"nginx.conf": "include a.conf;\n", "a.conf": "server {\nlisten 80\n}\n"}, `a.conf:3: unexpected "}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, tt.files)
			_, _, err := convertFile(t, filepath.Join(dir, "nginx.conf"))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func hasWarning(ws []Warning, sev Severity, substr string) bool {
	for _, w := range ws {
		if w.Severity == sev && strings.Contains(w.String(), substr) {
			return true
		}
	}
	return false
}
