package cors

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyAllowsListedOriginsMethodsAndHeaders(t *testing.T) {
	p := New(Settings{Origins: []string{"https://app.example.com"}, Methods: []string{"PUT", "DELETE"},
		Headers: []string{"Content-Type", "X-Api-Key"}, Expose: []string{"X-Request-Id"}, Credentials: true, MaxAge: 10 * time.Minute})
	for _, tc := range []struct {
		origin, method, headers string
		want                    bool
	}{
		{"https://app.example.com", "PUT", "content-type, x-api-key", true},
		{"https://app.example.com", "GET", "", true}, // simple method
		{"https://app.example.com", "PATCH", "", false},
		{"https://app.example.com", "PUT", "X-Evil", false},
		{"https://evil.example.com", "PUT", "", false},
		{"https://app.example.com.evil.com", "GET", "", false},
	} {
		got := p.Allows([]byte(tc.origin)) && p.AllowsPreflight([]byte(tc.method), []byte(tc.headers))
		if got != tc.want {
			t.Errorf("%s %s [%s]: %v, want %v", tc.origin, tc.method, tc.headers, got, tc.want)
		}
	}
	pre := string(p.AppendPreflight(nil, []byte("https://app.example.com")))
	for _, want := range []string{"Access-Control-Allow-Origin: https://app.example.com\r\n", "Access-Control-Allow-Methods: PUT, DELETE\r\n",
		"Access-Control-Allow-Headers: Content-Type, X-Api-Key\r\n", "Access-Control-Max-Age: 600\r\n", "Access-Control-Allow-Credentials: true\r\n", "Vary: Origin\r\n"} {
		if !strings.Contains(pre, want) {
			t.Errorf("preflight lines lack %q:\n%s", want, pre)
		}
	}
	act := string(p.AppendActual(nil, []byte("https://app.example.com")))
	if !strings.Contains(act, "Access-Control-Expose-Headers: X-Request-Id\r\n") || strings.Contains(act, "Max-Age") {
		t.Errorf("actual lines:\n%s", act)
	}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = p.AppendActual(buf[:0], []byte("https://app.example.com")) }); n != 0 {
		t.Errorf("AppendActual allocates %v times", n)
	}
	if !New(Settings{Origins: []string{"*"}}).Allows([]byte("https://any.example")) {
		t.Error("* does not allow any origin")
	}
}
