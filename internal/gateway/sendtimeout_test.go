package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A client that stops reading a large response is cut after send_timeout,
// and the request stops occupying its target.
func TestClientThatStopsReadingIsCutAfterSendTimeout(t *testing.T) {
	big := strings.Repeat("x", 32<<20)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(big))
	}))
	defer be.Close()
	gw := startGateway(t, fmt.Sprintf(`
listeners: {public: {address: "127.0.0.1:0", send_timeout: 300ms}}
upstreams: {app: {targets: [{address: %q}]}}
routes: [{match: {path_prefix: /}, upstream: app}]
`, hostPort(be.URL)))
	c, err := net.Dial("tcp", gw.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := c.Write([]byte("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// Never read. The gateway must give up on us and free the target.
	waitFor(t, 5*time.Second, "the request to stop occupying its target", func() bool {
		st := gw.Status()
		return len(st.Upstreams) == 1 && st.Upstreams[0].Targets[0].Requests == 1 && st.Upstreams[0].InFlight == 0
	})
}
