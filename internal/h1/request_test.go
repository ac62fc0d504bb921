package h1

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// req builds a request head from lines, each ended by CRLF, plus the empty
// line.
func req(lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n\r\n"
}

func TestParseRequestAcceptsValidRequests(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, r *Request)
	}{
		{"simple get", req("GET /index.html HTTP/1.1", "Host: example.com"), func(t *testing.T, r *Request) {
			want(t, "Method", r.Method, "GET")
			want(t, "Target", r.Target, "/index.html")
			want(t, "Path", r.Path, "/index.html")
			want(t, "Query", r.Query, "")
			want(t, "Host", r.Host, "example.com")
			if r.Minor != 1 || r.ContentLength != -1 || r.Chunked || r.HasBody() {
				t.Errorf("Minor=%d ContentLength=%d Chunked=%v", r.Minor, r.ContentLength, r.Chunked)
			}
		}},
		{"query split at first question mark", req("GET /a/b?x=1&y=?2 HTTP/1.1", "Host: example.com"), func(t *testing.T, r *Request) {
			want(t, "Path", r.Path, "/a/b")
			want(t, "Query", r.Query, "x=1&y=?2")
			want(t, "Target", r.Target, "/a/b?x=1&y=?2")
		}},
		{"empty query", req("GET /a? HTTP/1.1", "Host: h"), func(t *testing.T, r *Request) {
			want(t, "Path", r.Path, "/a")
			want(t, "Query", r.Query, "")
		}},
		{"post with length", req("POST /submit HTTP/1.1", "Host: example.com", "Content-Length: 11"), func(t *testing.T, r *Request) {
			if r.ContentLength != 11 || r.Chunked || !r.HasBody() {
				t.Errorf("ContentLength=%d Chunked=%v", r.ContentLength, r.Chunked)
			}
		}},
		{"post with zero length has no body", req("POST / HTTP/1.1", "Host: h", "Content-Length: 0"), func(t *testing.T, r *Request) {
			if r.ContentLength != 0 || r.HasBody() {
				t.Errorf("ContentLength=%d HasBody=%v", r.ContentLength, r.HasBody())
			}
		}},
		{"post chunked", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked"), func(t *testing.T, r *Request) {
			if !r.Chunked || r.ContentLength != -1 || !r.HasBody() {
				t.Errorf("ContentLength=%d Chunked=%v", r.ContentLength, r.Chunked)
			}
		}},
		{"chunked is case insensitive and trimmed", req("POST / HTTP/1.1", "Host: h", "transfer-encoding:   Chunked  "), func(t *testing.T, r *Request) {
			if !r.Chunked {
				t.Error("not chunked")
			}
		}},
		{"identical content-length headers collapse", req("POST / HTTP/1.1", "Host: h", "Content-Length: 7", "content-length: 7"), func(t *testing.T, r *Request) {
			if r.ContentLength != 7 {
				t.Errorf("ContentLength=%d", r.ContentLength)
			}
		}},
		{"identical content-length list collapses", req("POST / HTTP/1.1", "Host: h", "Content-Length: 7, 7,7"), func(t *testing.T, r *Request) {
			if r.ContentLength != 7 {
				t.Errorf("ContentLength=%d", r.ContentLength)
			}
		}},
		{"largest content-length", req("POST / HTTP/1.1", "Host: h", "Content-Length: 999999999999999999"), func(t *testing.T, r *Request) {
			if r.ContentLength != 999999999999999999 {
				t.Errorf("ContentLength=%d", r.ContentLength)
			}
		}},
		{"absolute form replaces host", req("GET http://Example.com:8080/p?q=1 HTTP/1.1", "Host: other.example"), func(t *testing.T, r *Request) {
			want(t, "Host", r.Host, "Example.com:8080")
			want(t, "Target", r.Target, "/p?q=1")
			want(t, "Path", r.Path, "/p")
			want(t, "Query", r.Query, "q=1")
		}},
		{"absolute form https without path", req("GET HTTPS://example.com HTTP/1.1", "Host: example.com"), func(t *testing.T, r *Request) {
			want(t, "Host", r.Host, "example.com")
			want(t, "Target", r.Target, "/")
			want(t, "Path", r.Path, "/")
		}},
		{"absolute form supplies host for 1.1", req("GET http://example.com/ HTTP/1.1"), func(t *testing.T, r *Request) {
			want(t, "Host", r.Host, "example.com")
		}},
		{"options asterisk", req("OPTIONS * HTTP/1.1", "Host: example.com"), func(t *testing.T, r *Request) {
			want(t, "Target", r.Target, "*")
			want(t, "Path", r.Path, "*")
		}},
		{"http/1.0 without host", req("GET / HTTP/1.0"), func(t *testing.T, r *Request) {
			if r.Minor != 0 || len(r.Host) != 0 {
				t.Errorf("Minor=%d Host=%q", r.Minor, r.Host)
			}
		}},
		{"ipv6 host with port", req("GET / HTTP/1.1", "Host: [::1]:8443"), func(t *testing.T, r *Request) {
			want(t, "Host", r.Host, "[::1]:8443")
		}},
		{"header names are case insensitive", req("GET / HTTP/1.1", "hOsT: example.com"), func(t *testing.T, r *Request) {
			want(t, "Host", r.Host, "example.com")
		}},
		{"value whitespace trimmed, inner kept", req("GET / HTTP/1.1", "Host: h", "X-A: \t a  b \t"), func(t *testing.T, r *Request) {
			want(t, "X-A", r.Fields[1].Value, "a  b")
		}},
		{"empty value", req("GET / HTTP/1.1", "Host: h", "X-Empty:"), func(t *testing.T, r *Request) {
			want(t, "X-Empty", r.Fields[1].Value, "")
		}},
		{"obs-text in value", req("GET / HTTP/1.1", "Host: h", "X-Name: caf\xc3\xa9"), func(t *testing.T, r *Request) {
			want(t, "X-Name", r.Fields[1].Value, "caf\xc3\xa9")
		}},
		{"fields kept in wire order", req("GET / HTTP/1.1", "Host: h", "B: 2", "A: 1", "B: 3"), func(t *testing.T, r *Request) {
			var got []string
			for _, f := range r.Fields {
				got = append(got, string(f.Name)+"="+string(f.Value))
			}
			if s := strings.Join(got, ","); s != "Host=h,B=2,A=1,B=3" {
				t.Errorf("fields = %s", s)
			}
		}},
		{"expect 100-continue", req("PUT / HTTP/1.1", "Host: h", "Content-Length: 3", "Expect: 100-Continue"), func(t *testing.T, r *Request) {
			if !r.Expect100 {
				t.Error("Expect100 not set")
			}
		}},
		{"lf only line endings", "POST /x HTTP/1.1\nHost: h\nContent-Length: 2\n\n", func(t *testing.T, r *Request) {
			want(t, "Host", r.Host, "h")
			if r.ContentLength != 2 {
				t.Errorf("ContentLength=%d", r.ContentLength)
			}
		}},
		{"leading empty lines", "\r\n\r\n" + req("GET / HTTP/1.1", "Host: h"), func(t *testing.T, r *Request) {
			want(t, "Method", r.Method, "GET")
		}},
		{"extension method", req("PURGE /cache HTTP/1.1", "Host: h"), func(t *testing.T, r *Request) {
			want(t, "Method", r.Method, "PURGE")
		}},
	}
	for _, tt := range tests {
		for rname, mk := range readers(tt.raw) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				var r Request
				if err := readRequest(bufio.NewReaderSize(mk(), 64), &r); err != nil {
					t.Fatalf("parse: %v", err)
				}
				tt.check(t, &r)
			})
		}
	}
}

func want(t *testing.T, what string, got []byte, w string) {
	t.Helper()
	if string(got) != w {
		t.Errorf("%s = %q, want %q", what, got, w)
	}
}

func TestParseRequestRejectsBadHeads(t *testing.T) {
	long := "/" + strings.Repeat("a", testMaxURI)
	tests := []struct {
		name    string
		raw     string
		wantErr error
	}{
		// Limits and versions.
		{"uri one byte over limit", req("GET "+long+" HTTP/1.1", "Host: h"), ErrURITooLong},
		{"absolute uri over limit", req("GET http://h"+long+" HTTP/1.1", "Host: h"), ErrURITooLong},
		{"http/2.0", req("GET / HTTP/2.0", "Host: h"), ErrVersion},
		{"http/1.2", req("GET / HTTP/1.2", "Host: h"), ErrVersion},
		{"http/0.9 style", req("GET / HTTP/0.9"), ErrVersion},
		{"http/2 without minor", req("GET / HTTP/2", "Host: h"), ErrMalformed},
		{"lower case protocol name", req("GET / http/1.1", "Host: h"), ErrMalformed},
		{"garbage version", req("GET / FOO/1.1", "Host: h"), ErrMalformed},
		{"non-digit version", req("GET / HTTP/a.b", "Host: h"), ErrMalformed},
		{"version with extra digits", req("GET / HTTP/1.10", "Host: h"), ErrMalformed},
		{"missing version", req("GET /", "Host: h"), ErrMalformed},
		{"only method", req("GET", "Host: h"), ErrMalformed},
		{"empty request line", "\r\nX: y\r\n\r\n", ErrMalformed},

		// Request line shape.
		{"two spaces after method", req("GET  / HTTP/1.1", "Host: h"), ErrMalformed},
		{"trailing space after version", req("GET / HTTP/1.1 ", "Host: h"), ErrMalformed},
		{"tab separator", req("GET\t/ HTTP/1.1", "Host: h"), ErrMalformed},
		{"non-token method", req("G(T / HTTP/1.1", "Host: h"), ErrMalformed},
		{"leading space before method", req(" GET / HTTP/1.1", "Host: h"), ErrMalformed},
		{"space in target", req("GET /a b HTTP/1.1", "Host: h"), ErrMalformed},
		{"raw utf-8 in target", req("GET /caf\xc3\xa9 HTTP/1.1", "Host: h"), ErrMalformed},
		{"del in target", req("GET /a\x7f HTTP/1.1", "Host: h"), ErrMalformed},
		{"nul in target", req("GET /a\x00 HTTP/1.1", "Host: h"), ErrMalformed},
		{"fragment in path", req("GET /a#frag HTTP/1.1", "Host: h"), ErrMalformed},
		{"fragment in query", req("GET /a?b=1#frag HTTP/1.1", "Host: h"), ErrMalformed},
		{"fragment in absolute form", req("GET http://h/a?b#c HTTP/1.1", "Host: h"), ErrMalformed},
		{"relative target", req("GET a/b HTTP/1.1", "Host: h"), ErrMalformed},
		{"asterisk for get", req("GET * HTTP/1.1", "Host: h"), ErrMalformed},
		{"authority form", req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"), ErrMalformed},
		{"other scheme", req("GET ftp://h/ HTTP/1.1", "Host: h"), ErrMalformed},
		{"absolute form query without path", req("GET http://h?x HTTP/1.1", "Host: h"), ErrMalformed},
		{"bare cr in request line", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", ErrMalformed},

		// Header syntax.
		{"obs-fold with space", req("GET / HTTP/1.1", "Host: h", "X-A: 1", " folded"), ErrMalformed},
		{"obs-fold with tab", req("GET / HTTP/1.1", "Host: h", "X-A: 1", "\tfolded"), ErrMalformed},
		{"whitespace before first field", req("GET / HTTP/1.1", " Host: h"), ErrMalformed},
		{"space before colon", req("GET / HTTP/1.1", "Host : h"), ErrMalformed},
		{"tab before colon", req("GET / HTTP/1.1", "Host\t: h"), ErrMalformed},
		{"space before colon on content-length", req("POST / HTTP/1.1", "Host: h", "Content-Length : 5"), ErrMalformed},
		{"line without colon", req("GET / HTTP/1.1", "Host: h", "NoColon"), ErrMalformed},
		{"empty name", req("GET / HTTP/1.1", "Host: h", ": v"), ErrMalformed},
		{"non-token name", req("GET / HTTP/1.1", "Host: h", "X(A): v"), ErrMalformed},
		{"utf-8 name", req("GET / HTTP/1.1", "Host: h", "X-\xc3\xa9: v"), ErrMalformed},
		{"bare cr inside value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", ErrMalformed},
		{"bare cr at value end then lf", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\r\n\r\n", ErrMalformed},
		{"bare cr as a line", "GET / HTTP/1.1\r\nHost: h\r\n\r\r\n\r\n", ErrMalformed},
		{"nul in value", req("GET / HTTP/1.1", "Host: h", "X-A: a\x00b"), ErrMalformed},
		{"escape in value", req("GET / HTTP/1.1", "Host: h", "X-A: a\x1bb"), ErrMalformed},
		{"del in value", req("GET / HTTP/1.1", "Host: h", "X-A: a\x7fb"), ErrMalformed},
		{"vertical tab in value", req("GET / HTTP/1.1", "Host: h", "X-A: a\x0bb"), ErrMalformed},

		// Smuggling shapes.
		{"content-length and transfer-encoding", req("POST / HTTP/1.1", "Host: h", "Content-Length: 5", "Transfer-Encoding: chunked"), ErrAmbiguousLength},
		{"transfer-encoding and content-length", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked", "Content-Length: 0"), ErrAmbiguousLength},
		{"two different content-lengths", req("POST / HTTP/1.1", "Host: h", "Content-Length: 5", "Content-Length: 6"), ErrAmbiguousLength},
		{"content-length list with different values", req("POST / HTTP/1.1", "Host: h", "Content-Length: 5, 6"), ErrAmbiguousLength},
		{"content-length with plus", req("POST / HTTP/1.1", "Host: h", "Content-Length: +5"), ErrAmbiguousLength},
		{"negative content-length", req("POST / HTTP/1.1", "Host: h", "Content-Length: -1"), ErrAmbiguousLength},
		{"hex content-length", req("POST / HTTP/1.1", "Host: h", "Content-Length: 0x5"), ErrAmbiguousLength},
		{"content-length with inner space", req("POST / HTTP/1.1", "Host: h", "Content-Length:  5 5"), ErrAmbiguousLength},
		{"empty content-length", req("POST / HTTP/1.1", "Host: h", "Content-Length:"), ErrAmbiguousLength},
		{"content-length with empty list element", req("POST / HTTP/1.1", "Host: h", "Content-Length: 5,,5"), ErrAmbiguousLength},
		{"content-length with leading comma", req("POST / HTTP/1.1", "Host: h", "Content-Length: ,5"), ErrAmbiguousLength},
		{"content-length with trailing comma", req("POST / HTTP/1.1", "Host: h", "Content-Length: 5,"), ErrAmbiguousLength},
		{"content-length with 19 digits", req("POST / HTTP/1.1", "Host: h", "Content-Length: 1000000000000000000"), ErrAmbiguousLength},
		{"content-length with unicode digit", req("POST / HTTP/1.1", "Host: h", "Content-Length: \xd9\xa5"), ErrAmbiguousLength},
		{"chunked then identity", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked, identity"), ErrUnsupportedCoding},
		{"identity", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: identity"), ErrUnsupportedCoding},
		{"xchunked", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: xchunked"), ErrUnsupportedCoding},
		{"chunked with trailing junk", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked x"), ErrUnsupportedCoding},
		{"chunked with trailing comma", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked,"), ErrUnsupportedCoding},
		{"chunked with parameter", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked;q=1"), ErrUnsupportedCoding},
		{"quoted chunked", req("POST / HTTP/1.1", "Host: h", `Transfer-Encoding: "chunked"`), ErrUnsupportedCoding},
		{"gzip then chunked", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: gzip, chunked"), ErrUnsupportedCoding},
		{"empty transfer-encoding", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding:"), ErrUnsupportedCoding},
		{"repeated transfer-encoding", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), ErrUnsupportedCoding},
		{"repeated transfer-encoding with identity", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding: identity", "Transfer-Encoding: chunked"), ErrUnsupportedCoding},
		{"transfer-encoding in http/1.0", req("POST / HTTP/1.0", "Transfer-Encoding: chunked"), ErrAmbiguousLength},
		{"transfer-encoding with space before colon", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding : chunked"), ErrMalformed},
		{"transfer-encoding folded", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding:", " chunked"), ErrMalformed},
		{"transfer-encoding with vertical tab", req("POST / HTTP/1.1", "Host: h", "Transfer-Encoding:\x0bchunked"), ErrMalformed},

		// Host.
		{"missing host in 1.1", req("GET / HTTP/1.1"), ErrHost},
		{"two host headers", req("GET / HTTP/1.1", "Host: a", "Host: a"), ErrHost},
		{"two different host headers", req("GET / HTTP/1.1", "Host: a", "Host: b"), ErrHost},
		{"two host headers in 1.0", req("GET / HTTP/1.0", "Host: a", "Host: b"), ErrHost},
		{"host with space", req("GET / HTTP/1.1", "Host: a b"), ErrHost},
		{"host with userinfo", req("GET / HTTP/1.1", "Host: a@b"), ErrHost},
		{"host with slash", req("GET / HTTP/1.1", "Host: a/b"), ErrHost},
		{"host list", req("GET / HTTP/1.1", "Host: a,b"), ErrHost},
		{"absolute form with empty authority", req("GET http:///a HTTP/1.1", "Host: h"), ErrHost},
		{"absolute form with only scheme and query", req("GET https://?a HTTP/1.1", "Host: h"), ErrMalformed},
		{"absolute form with userinfo", req("GET http://user@h/ HTTP/1.1", "Host: h"), ErrHost},
		{"absolute form with invalid host header", req("GET http://h/ HTTP/1.1", "Host: a b"), ErrHost},
		{"absolute form with two host headers", req("GET http://h/ HTTP/1.1", "Host: a", "Host: b"), ErrHost},

		// Expect.
		{"expect other than 100-continue", req("PUT / HTTP/1.1", "Host: h", "Expect: 200-ok"), ErrMalformed},
		{"expect list", req("PUT / HTTP/1.1", "Host: h", "Expect: 100-continue, x"), ErrMalformed},
	}
	for _, tt := range tests {
		for rname, mk := range readers(tt.raw) {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				var r Request
				err := readRequest(bufio.NewReaderSize(mk(), 64), &r)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var he *HeadError
				if !errors.As(err, &he) {
					t.Fatalf("err %v is not a *HeadError", err)
				}
				wantStatus := 400
				switch tt.wantErr {
				case ErrURITooLong:
					wantStatus = 414
				case ErrVersion:
					wantStatus = 505
				}
				if got := Status(err); got != wantStatus {
					t.Fatalf("Status = %d, want %d", got, wantStatus)
				}
			})
		}
	}
}

func TestParseRequestHeadTooLargeIs431(t *testing.T) {
	raw := req("GET / HTTP/1.1", "Host: h", "X-Big: "+strings.Repeat("b", testHeadLimit))
	for rname, mk := range readers(raw) {
		t.Run(rname, func(t *testing.T) {
			var r Request
			err := readRequest(bufio.NewReaderSize(mk(), 4096), &r)
			if !errors.Is(err, ErrHeadTooLarge) || Status(err) != 431 {
				t.Fatalf("err = %v (status %d), want ErrHeadTooLarge (431)", err, Status(err))
			}
		})
	}
}

func TestParseRequestAcceptsURIAtTheLimit(t *testing.T) {
	target := "/" + strings.Repeat("a", testMaxURI-1)
	var r Request
	if err := ParseRequest([]byte(req("GET "+target+" HTTP/1.1", "Host: h")), Limits{MaxURI: testMaxURI}, &r); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if len(r.Target) != testMaxURI {
		t.Fatalf("Target is %d bytes", len(r.Target))
	}
	// A zero MaxURI means no limit of its own.
	if err := ParseRequest([]byte(req("GET "+target+"bbbb HTTP/1.1", "Host: h")), Limits{}, &r); err != nil {
		t.Fatalf("parse with no URI limit: %v", err)
	}
}

func TestParseRequestRejectsUnterminatedHead(t *testing.T) {
	// ParseRequest is given heads by ReadHead, but must not trust them.
	for _, head := range []string{
		"", "GET / HTTP/1.1", "GET / HTTP/1.1\r\nHost: h", "GET / HTTP/1.1\r\nHost: h\r",
		// Lines complete, but the empty line that ends the head is missing.
		"GET / HTTP/1.0\r\n", "GET / HTTP/1.1\r\nHost: h\r\n",
	} {
		var r Request
		if err := ParseRequest([]byte(head), Limits{}, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRequest(%q) = %v, want ErrMalformed", head, err)
		}
	}
}

func TestParseRequestKeepAlive(t *testing.T) {
	tests := []struct {
		name       string
		version    string
		connection []string
		want       bool
	}{
		{"1.1 default", "HTTP/1.1", nil, true},
		{"1.1 close", "HTTP/1.1", []string{"Connection: close"}, false},
		{"1.1 close any case", "HTTP/1.1", []string{"Connection: CLOSE"}, false},
		{"1.1 close in list", "HTTP/1.1", []string{"Connection: X-Foo, close"}, false},
		{"1.1 close in second header", "HTTP/1.1", []string{"Connection: keep-alive", "Connection: close"}, false},
		{"1.1 keep-alive", "HTTP/1.1", []string{"Connection: keep-alive"}, true},
		{"1.1 unrelated token", "HTTP/1.1", []string{"Connection: closed"}, true},
		{"1.0 default", "HTTP/1.0", nil, false},
		{"1.0 keep-alive", "HTTP/1.0", []string{"Connection: Keep-Alive"}, true},
		{"1.0 keep-alive and close", "HTTP/1.0", []string{"Connection: keep-alive, close"}, false},
		{"1.0 close", "HTTP/1.0", []string{"Connection: close"}, false},
		{"1.0 keep-alive in list", "HTTP/1.0", []string{"Connection: te,keep-alive"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := append([]string{"GET / " + tt.version, "Host: h"}, tt.connection...)
			var r Request
			if err := ParseRequest([]byte(req(lines...)), Limits{}, &r); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.KeepAlive != tt.want {
				t.Fatalf("KeepAlive = %v, want %v", r.KeepAlive, tt.want)
			}
		})
	}
}

func TestParseRequestUpgradeNeedsBothHeadersIn11(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  bool
	}{
		{"websocket", []string{"GET /ws HTTP/1.1", "Host: h", "Connection: Upgrade", "Upgrade: websocket"}, true},
		{"token in list", []string{"GET /ws HTTP/1.1", "Host: h", "Connection: keep-alive, upgrade", "upgrade: websocket"}, true},
		{"upgrade header only", []string{"GET /ws HTTP/1.1", "Host: h", "Upgrade: websocket"}, false},
		{"connection token only", []string{"GET /ws HTTP/1.1", "Host: h", "Connection: upgrade"}, false},
		{"neither", []string{"GET /ws HTTP/1.1", "Host: h"}, false},
		// RFC 9110 section 7.8: Upgrade in an HTTP/1.0 request is ignored.
		{"http/1.0", []string{"GET /ws HTTP/1.0", "Connection: Upgrade", "Upgrade: websocket"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest([]byte(req(tt.lines...)), Limits{}, &r); err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.Upgrade != tt.want {
				t.Fatalf("Upgrade = %v, want %v", r.Upgrade, tt.want)
			}
		})
	}
}

func TestParseRequestIgnoresExpectIn10(t *testing.T) {
	// RFC 9110 section 10.1.1: a 100-continue expectation in an HTTP/1.0
	// request must be ignored; a 1.0 client cannot take a 100 response.
	var r Request
	if err := ParseRequest([]byte(req("PUT / HTTP/1.0", "Content-Length: 1", "Expect: 100-continue")), Limits{}, &r); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if r.Expect100 {
		t.Fatal("Expect100 set for an HTTP/1.0 request")
	}
}

func TestParseRequestConnTokens(t *testing.T) {
	var r Request
	raw := req("GET / HTTP/1.1", "Host: h", "Connection: X-Secret ,, keep-alive", "Connection: Upgrade")
	if err := ParseRequest([]byte(raw), Limits{}, &r); err != nil {
		t.Fatalf("parse: %v", err)
	}
	var got []string
	for _, tok := range r.ConnTokens {
		got = append(got, string(tok))
	}
	if s := strings.Join(got, "|"); s != "X-Secret|keep-alive|Upgrade" {
		t.Fatalf("ConnTokens = %s", s)
	}
	if !listedIn([]byte("x-secret"), r.ConnTokens) {
		t.Fatal("listedIn does not find a Connection-listed header")
	}
}

func TestParseRequestProxyHeaders(t *testing.T) {
	tests := []struct {
		name      string
		lines     []string
		requestID string
		xff       string
		idemKey   bool
	}{
		{"none", nil, "", "", false},
		{"request id", []string{"X-Request-ID: abc-123"}, "abc-123", "", false},
		{"request id any case", []string{"x-request-id:  abc "}, "abc", "", false},
		{"xff", []string{"X-Forwarded-For: 10.0.0.1, 10.0.0.2"}, "", "10.0.0.1, 10.0.0.2", false},
		{"repeated xff last wins", []string{"X-Forwarded-For: 10.0.0.1", "X-Forwarded-For: 10.0.0.2"}, "", "10.0.0.2", false},
		{"idempotency key", []string{"Idempotency-Key: k1"}, "", "", true},
		{"all", []string{"IDEMPOTENCY-KEY: k", "X-Forwarded-For: 1.2.3.4", "X-Request-Id: r"}, "r", "1.2.3.4", true},
		{"similar names do not count", []string{"X-Request-IDs: r", "X-Forwarded-Fo: 1", "Idempotency-Keys: k"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			lines := append([]string{"POST / HTTP/1.1", "Host: h"}, tt.lines...)
			if err := ParseRequest([]byte(req(lines...)), Limits{}, &r); err != nil {
				t.Fatalf("parse: %v", err)
			}
			want(t, "RequestID", r.RequestID, tt.requestID)
			want(t, "XFF", r.XFF, tt.xff)
			if r.IdempotencyKey != tt.idemKey {
				t.Errorf("IdempotencyKey = %v, want %v", r.IdempotencyKey, tt.idemKey)
			}
		})
	}
}

func TestParseRequestResetsReusedRequest(t *testing.T) {
	var r Request
	first := req("POST http://a/x HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Connection: upgrade, close",
		"Upgrade: ws", "Expect: 100-continue", "Idempotency-Key: k", "X-Request-ID: id", "X-Forwarded-For: 1.1.1.1")
	if err := ParseRequest([]byte(first), Limits{}, &r); err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := ParseRequest([]byte(req("GET /y HTTP/1.1", "Host: b")), Limits{}, &r); err != nil {
		t.Fatalf("second: %v", err)
	}
	if r.Chunked || r.ContentLength != -1 || !r.KeepAlive || r.Upgrade || r.Expect100 || r.IdempotencyKey ||
		r.RequestID != nil || r.XFF != nil || len(r.ConnTokens) != 0 || len(r.Fields) != 1 || string(r.Host) != "b" {
		t.Fatalf("state leaked from the first request: %+v", r)
	}
	// A failed parse must not leave the previous request's framing behind.
	if err := ParseRequest([]byte(req("POST / HTTP/1.1", "Host: h", "Content-Length: 5", "Transfer-Encoding: chunked")), Limits{}, &r); err == nil {
		t.Fatal("ambiguous request accepted")
	}
	if err := ParseRequest([]byte(req("GET / HTTP/1.1", "Host: h")), Limits{}, &r); err != nil || r.Chunked || r.ContentLength != -1 {
		t.Fatalf("after a failed parse: err=%v Chunked=%v ContentLength=%d", err, r.Chunked, r.ContentLength)
	}
}

func TestParsePipelinedRequestsWithBodies(t *testing.T) {
	stream := "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n" +
		"\r\n" + // a stray CRLF between requests is allowed
		"GET /c HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /d HTTP/1.0\r\nContent-Length: 3\r\n\r\nxyz"
	type msg struct{ path, body string }
	wantMsgs := []msg{{"/a", "hello"}, {"/b", "abcdefg"}, {"/c", ""}, {"/d", "xyz"}}
	for rname, mk := range readers(stream) {
		t.Run(rname, func(t *testing.T) {
			br := bufio.NewReaderSize(mk(), 64)
			var r Request
			var body BodyReader
			for i, w := range wantMsgs {
				if err := readRequest(br, &r); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				want(t, "Path", r.Path, w.path)
				kind := NoBody
				switch {
				case r.Chunked:
					kind = ChunkedBody
				case r.ContentLength > 0:
					kind = LengthBody
				}
				body.Reset(br, kind, r.ContentLength)
				got := readAllSmall(t, &body)
				if got != w.body {
					t.Fatalf("request %d body = %q, want %q", i, got, w.body)
				}
				if !body.Done() {
					t.Fatalf("request %d: body not Done after EOF", i)
				}
			}
			if err := readRequest(br, &r); err != io.EOF {
				t.Fatalf("after last request: %v, want io.EOF", err)
			}
		})
	}
}
