package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRedirectHTTPFromAnswers308ToTheSameURLOnHTTPS(t *testing.T) {
	f := startTLSGateway(t, "")
	// The same gateway with a redirect socket, on the TLS listener's port.
	y := strings.Replace(f.yaml, "    hsts: 365d\n", "    hsts: 365d\n    redirect_http_from: 127.0.0.1:0\n", 1)
	y = strings.Replace(y, "127.0.0.1:0\n    read_header_timeout", f.addr+"\n    read_header_timeout", 1)
	if _, err := f.Apply(mustParse(t, y)); err != nil {
		t.Fatal(err)
	}
	plain := f.Addrs()["public"+redirectSuffix]
	if plain == "" {
		t.Fatalf("no redirect socket in %v", f.Addrs())
	}
	_, tlsPort, _ := net.SplitHostPort(f.addr)
	for _, tc := range []struct {
		method, target, host, want string
	}{
		{"GET", "/orders?id=7&x=%2F", "api.example.com", "https://api.example.com:" + tlsPort + "/orders?id=7&x=%2F"},
		{"HEAD", "/", "api.example.com:8080", "https://api.example.com:" + tlsPort + "/"},
		{"POST", "/upload", "[::1]:80", "https://[::1]:" + tlsPort + "/upload"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			c, err := net.Dial("tcp", plain)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", tc.method, tc.target, tc.host)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: tc.method})
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 308 || resp.Header.Get("Location") != tc.want {
				t.Fatalf("%d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
			// The connection carries on (keep-alive) for a bodiless request.
			fmt.Fprintf(c, "GET /again HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
			if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != 308 {
				t.Fatalf("second request on the connection: %v %v", resp, err)
			}
		})
	}
	// A malformed request still gets its 400, not a redirect.
	if code, _ := rawRequest(t, plain, "GET /x HTTP/1.1\r\n\r\n"); code != 400 {
		t.Errorf("request without Host: %d, want 400", code)
	}
	// A reload that drops redirect_http_from closes its socket.
	if _, err := f.Apply(mustParse(t, strings.Replace(y, "    redirect_http_from: 127.0.0.1:0\n", "", 1))); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Addrs()["public"+redirectSuffix]; ok {
		t.Error("redirect socket still listed after a reload that dropped it")
	}
	waitFor(t, 5*time.Second, "the redirect socket to close", func() bool {
		c, err := net.Dial("tcp", plain)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}
