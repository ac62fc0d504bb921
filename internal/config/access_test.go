package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func policyRoute(extra string) string {
	return "routes:\n  - match: {path_prefix: /api/}\n    upstream: fx\n" + extra
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAccessProblemsNameTheirLine(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	md5 := writeFile(t, "users", "alice:"+string(hash)+"\nbob:$apr1$x$y\n")
	empty := writeFile(t, "empty", "# nobody\n")
	checkProblemCases(t, []problemCase{
		{"bad cidr", doc(policyRoute("    access:\n      - allow: [10.0.0.0/33] #<\n")), "routes[0].access[0].allow[0]", "expected a CIDR"},
		{"both allow and deny", doc(policyRoute("    access:\n      - {allow: [all], deny: [all]} #<\n")), "routes[0].access[0]", "either allow or deny"},
		{"neither", doc(policyRoute("    access:\n      - {} #<\n")), "routes[0].access[0]", "either allow or deny"},
		{"htpasswd not bcrypt", doc(policyRoute("    basic_auth:\n      htpasswd_file: " + md5 + " #<\n")), "routes[0].basic_auth.htpasswd_file", md5 + ":2: user \"bob\": not a bcrypt hash (Apache MD5"},
		{"htpasswd missing", doc(policyRoute("    basic_auth:\n      htpasswd_file: /nonexistent/users #<\n")), "routes[0].basic_auth.htpasswd_file", "cannot be read"},
		{"htpasswd empty", doc(policyRoute("    basic_auth:\n      htpasswd_file: " + empty + " #<\n")), "routes[0].basic_auth.htpasswd_file", "lists no users"},
		{"htpasswd unset", doc(policyRoute("    basic_auth: {realm: x} #<\n")), "routes[0].basic_auth.htpasswd_file", "is required"},
		{"forward auth url", doc(policyRoute("    forward_auth:\n      url: ftp://auth #<\n")), "routes[0].forward_auth.url", "expected an http:// or https:// URL"},
		{"forward auth copies Host", doc(policyRoute("    forward_auth:\n      url: http://127.0.0.1:4181/auth\n      copy_headers: [X-User, Content-Length] #<\n")), "routes[0].forward_auth.copy_headers[1]", "cannot be set"},
		{"forward auth zero timeout", doc(policyRoute("    forward_auth:\n      url: http://127.0.0.1:4181/auth\n      timeout: 0s #<\n")), "routes[0].forward_auth.timeout", "leave the key out"},
		{"cors star with credentials", doc(policyRoute("    cors:\n      allow_credentials: true\n      allow_origins: ['*'] #<\n")), "routes[0].cors.allow_origins[0]", "cannot be used with allow_credentials"},
		{"cors origin with path", doc(policyRoute("    cors:\n      allow_origins:\n        - https://app.example.com/x #<\n")), "routes[0].cors.allow_origins[0]", "expected an origin"},
		{"cors without origins", doc(policyRoute("    cors: {max_age: 10m} #<\n")), "routes[0].cors.allow_origins", "is required"},
	})
}

func TestDirectResponseProblemsNameTheirLine(t *testing.T) {
	direct := func(extra string) string {
		return "routes:\n  - match: {path_prefix: /api/}\n" + extra
	}
	checkProblemCases(t, []problemCase{
		{"redirect without target", doc(direct("    redirect: {status: 301} #<\n")), "routes[0].redirect.to", "is required"},
		{"redirect unknown variable", doc(direct("    redirect:\n      to: https://$hostname/ #<\n")), "routes[0].redirect.to", "unknown variable"},
		{"redirect status", doc(direct("    redirect:\n      to: https://x/\n      status: 200 #<\n")), "routes[0].redirect.status", "expected 301, 302"},
		{"respond and upstream", doc(direct("    upstream: fx #<\n    respond: {status: 204}\n")), "routes[0].upstream", "answers itself"},
		{"respond status", doc(direct("    respond:\n      status: 99 #<\n")), "routes[0].respond.status", "between 200 and 599"},
		{"respond sets content-length", doc(direct("    respond:\n      headers:\n        Content-Length: '5' #<\n")), "routes[0].respond.headers.Content-Length", "cannot be set"},
		{"respond body and file", doc(direct("    respond:\n      body: hi\n      body_file: /etc/hostname #<\n")), "routes[0].respond.body_file", "only one of"},
		{"respond body file missing", doc(direct("    respond:\n      body_file: /nonexistent/body #<\n")), "routes[0].respond.body_file", "cannot be read"},
		{"no upstream and no answer", doc("routes:\n  - match: {path_prefix: /api/} #<\n    name: x\n"), "routes[0].upstream", "is required"},
		{"maintenance body missing", doc(policyRoute("    maintenance:\n      body_file: /nonexistent/m.html #<\n")), "routes[0].maintenance.body_file", "cannot be read"},
	})
}

func TestParseRedirectSplitsVariables(t *testing.T) {
	parts, err := ParseRedirect("https://$host:8443$request_uri#$scheme")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text + "{" + p.Var + "}")
	}
	if got := b.String(); got != "https://{}{$host}:8443{}{$request_uri}#{}{$scheme}" {
		t.Errorf("parts %s", got)
	}
}
