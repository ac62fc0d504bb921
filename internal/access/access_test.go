package access

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/skjold-dev/skjold/internal/breaker"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// The first rule that holds the client decides, in the order written; a
// client no rule holds is allowed (nginx).
func TestListFirstMatchingRuleDecides(t *testing.T) {
	l := NewList([]Rule{
		{Allow: false, Prefixes: prefixes("10.1.2.3/32")},
		{Allow: true, Prefixes: prefixes("10.0.0.0/8", "2001:db8::/32")},
		{Allow: false, Prefixes: prefixes("0.0.0.0/0", "::/0")},
	})
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", false},       // denied before the allow below would take it
		{"10.9.9.9", true},        // allowed
		{"::ffff:10.9.9.9", true}, // an IPv4-mapped peer is the IPv4 client
		{"2001:db8::1", true},
		{"192.0.2.1", false}, // deny all
		{"2001:db9::1", false},
	} {
		if got := l.Allows(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.addr, got, tc.want)
		}
	}
	if !NewList([]Rule{{Allow: false, Prefixes: prefixes("10.0.0.0/8")}}).Allows(netip.MustParseAddr("192.0.2.1")) {
		t.Error("a client no rule holds was refused; nginx allows it")
	}
	if n := testing.AllocsPerRun(100, func() { l.Allows(netip.MustParseAddr("192.0.2.1")) }); n != 0 {
		t.Errorf("Allows allocates %v times", n)
	}
}

func bcryptOf(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestHtpasswdRefusesEveryHashButBcryptNamingTheLine(t *testing.T) {
	good := "alice:" + bcryptOf(t, "pw") + "\n"
	for _, tc := range []struct {
		name, file string
		line       int
		msg        string
	}{
		{"apr1", good + "# c\nbob:$apr1$abc$xyz\n", 3, "Apache MD5"},
		{"sha", "\n" + good + "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 3, "SHA-1"},
		{"crypt", "bob:abJnggxhB/yWI\n", 1, "crypt(3) DES or plain text"},
		{"sha512 crypt", "bob:$6$salt$hash\n", 1, "crypt(3), $6$"},
		{"truncated bcrypt", "bob:$2y$10$short\n", 1, "malformed bcrypt"},
		{"no colon", good + "bob\n", 2, `expected "user:hash"`},
		{"twice", good + good, 2, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHtpasswd("users.htpasswd", []byte(tc.file))
			var fe *FileError
			if !errors.As(err, &fe) || fe.Line != tc.line || fe.File != "users.htpasswd" {
				t.Fatalf("err %v, want a FileError at users.htpasswd:%d", err, tc.line)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestHtpasswdChecksPasswordsAndUnknownUsersCostTheSame(t *testing.T) {
	h, err := ParseHtpasswd("f", []byte("alice:"+bcryptOf(t, "secret")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Check([]byte("alice"), []byte("secret")) {
		t.Error("the right password was refused")
	}
	if h.Check([]byte("alice"), []byte("wrong")) || h.Check([]byte("mallory"), []byte("secret")) {
		t.Error("a wrong password or unknown user was let in")
	}
	// An unknown user is compared against a bcrypt hash of the file's
	// cost (at least the default), never answered at once.
	c, err := bcrypt.Cost(h.dummy)
	if err != nil || c < bcrypt.DefaultCost {
		t.Errorf("dummy hash cost %d (%v), want at least %d", c, err, bcrypt.DefaultCost)
	}
	start := time.Now()
	h.Check([]byte("mallory"), []byte("x"))
	if d := time.Since(start); d < time.Millisecond {
		t.Errorf("an unknown user was answered in %s, without a bcrypt comparison", d)
	}
}

func TestParseBasicReadsRFC7617Credentials(t *testing.T) {
	for _, tc := range []struct {
		in, user, pw string
		ok           bool
	}{
		{"Basic YWxpY2U6c2VjcmV0", "alice", "secret", true},
		{"basic YWxpY2U6c2U6Y3JldA==", "alice", "se:cret", true}, // a colon in the password
		{"Bearer abc", "", "", false},
		{"Basic !!!", "", "", false},
		{"Basic YWxpY2U=", "", "", false}, // no colon
	} {
		u, p, ok := ParseBasic([]byte(tc.in))
		if ok != tc.ok || string(u) != tc.user || string(p) != tc.pw {
			t.Errorf("%q: %q %q %v, want %q %q %v", tc.in, u, p, ok, tc.user, tc.pw, tc.ok)
		}
	}
}

func newAuth(url string, timeout time.Duration) *ForwardAuth {
	f := NewForwardAuth(ForwardAuthSettings{URL: url, Timeout: timeout, CopyHeaders: []string{"X-User"},
		Breaker: breaker.Settings{ConsecutiveFailures: 2, OpenFor: time.Minute, MaxOpenFor: time.Minute, HalfOpenProbes: 1, Window: 10 * time.Second, MinRequests: 20}})
	return f
}

func authRequest() Request {
	return Request{Method: "POST", URI: "/api/x?y=1", Host: "gw.test", Proto: "https", ClientAddr: "192.0.2.9",
		Header: http.Header{"Authorization": {"Bearer t"}}}
}

func TestForwardAuthVerdicts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Forwarded-Uri") != "/api/x?y=1" || r.Header.Get("X-Forwarded-Method") != "POST" ||
			r.Header.Get("X-Forwarded-For") != "192.0.2.9" || r.Header.Get("Authorization") != "Bearer t" {
			w.WriteHeader(418)
			return
		}
		switch r.URL.Query().Get("as") {
		case "ok":
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Other", "not copied")
		case "denied":
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.WriteHeader(401)
			w.Write([]byte("log in first"))
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	v, err := newAuth(srv.URL+"?as=ok", time.Second).Check(ctx, authRequest())
	if err != nil || !v.Allowed || v.Copy.Get("X-User") != "alice" || v.Copy.Get("X-Other") != "" {
		t.Errorf("2xx: %+v %v, want allowed with X-User alone", v, err)
	}
	v, err = newAuth(srv.URL+"?as=denied", time.Second).Check(ctx, authRequest())
	if err != nil || v.Allowed || v.Status != 401 || string(v.Body) != "log in first" || v.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401: %+v %v, want the refusal as the service gave it", v, err)
	}
}

// A service that stalls, fails or is gone gives an error within the
// timeout, never a verdict that lets the request through, and after two
// failures the breaker refuses without asking.
func TestForwardAuthFailsClosedWithinItsTimeout(t *testing.T) {
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	go func() { // accepts and never answers
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer fail.Close()
	gone, _ := net.Listen("tcp", "127.0.0.1:0")
	goneAddr := gone.Addr().String()
	gone.Close()

	for _, tc := range []struct{ name, url string }{
		{"stalls", "http://" + stall.Addr().String() + "/auth"},
		{"answers 500", fail.URL},
		{"refuses connections", "http://" + goneAddr + "/auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuth(tc.url, 200*time.Millisecond)
			defer f.Close()
			for i := range 2 {
				start := time.Now()
				v, err := f.Check(context.Background(), authRequest())
				if d := time.Since(start); d > time.Second {
					t.Errorf("try %d took %s, past the 200ms timeout", i, d)
				}
				if !errors.Is(err, ErrAuthUnavailable) || v.Allowed {
					t.Fatalf("try %d: %+v %v, want ErrAuthUnavailable", i, v, err)
				}
			}
			start := time.Now()
			_, err := f.Check(context.Background(), authRequest())
			if !errors.Is(err, ErrAuthUnavailable) || !strings.Contains(err.Error(), "breaker open") || time.Since(start) > 50*time.Millisecond {
				t.Errorf("third try: %v after %s, want the open breaker at once", err, time.Since(start))
			}
		})
	}
}
