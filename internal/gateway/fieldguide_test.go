package gateway

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/nginximport"
	"github.com/skjold-dev/skjold/internal/tcptest"
)

// The field guide's nginx config, imported as it is (only the backend
// address and the listen port are pointed at loopback test sockets), fails
// fast once its single stalled backend has failed max_fails times — the
// thing nginx itself never does with one server — and serves again after
// fail_timeout once the backend heals.
func TestFieldGuideNginxConfigFailsFastAndRecovers(t *testing.T) {
	src, err := os.ReadFile("../nginximport/testdata/fieldguide.conf")
	if err != nil {
		t.Fatal(err)
	}
	be := newSwitchable(t, "backend")
	run := func(t *testing.T, failTimeout, readTimeout string) *testGateway {
		conf := strings.NewReplacer(
			"10.0.0.5:8080", be.addr(),
			"listen 80;", "listen "+tcptest.ClosedAddr(t)+";",
			"fail_timeout=30s", "fail_timeout="+failTimeout,
			"proxy_read_timeout 2s;", "proxy_read_timeout "+readTimeout+";",
		).Replace(string(src))
		cfg, warnings, err := nginximport.Convert("fieldguide.conf", []byte(conf), nginximport.Options{})
		if err != nil || len(warnings) != 0 {
			t.Fatalf("import: %v %v", err, warnings)
		}
		cfg.Admin.Listen = "127.0.0.1:0"
		out, err := nginximport.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return startGateway(t, string(out))
	}

	t.Run("fails fast after max_fails", func(t *testing.T) {
		be.stalled.Store(true)
		defer be.stalled.Store(false)
		gw := run(t, "30s", "2s")
		c := newClient()
		for i := 0; i < 3; i++ {
			start := time.Now()
			code, _, _ := get(t, c, "http://"+gw.addr+"/api/v1/rates")
			if d := time.Since(start); code != 504 || d < 2*time.Second || d > 3*time.Second {
				t.Fatalf("stalled try %d: %d after %v, want 504 after the 2s read timeout", i, code, d)
			}
		}
		for i := 0; i < 10; i++ {
			start := time.Now()
			code, body, h := get(t, c, "http://"+gw.addr+"/api/v1/rates")
			if d := time.Since(start); code != 503 || d > 50*time.Millisecond {
				t.Fatalf("after max_fails: %d after %v (%s)", code, d, body)
			}
			if ra := h.Get("Retry-After"); ra == "" {
				t.Error("no Retry-After while the only target is ejected")
			}
		}
	})

	t.Run("recovers after fail_timeout", func(t *testing.T) {
		// Shorter timeouts so the test takes a second, not half a minute.
		be.stalled.Store(true)
		gw := run(t, "1s", "200ms")
		c := newClient()
		for i := 0; i < 3; i++ {
			get(t, c, "http://"+gw.addr+"/api/v1/rates")
		}
		if code, _, _ := get(t, c, "http://"+gw.addr+"/api/v1/rates"); code != 503 {
			t.Fatalf("not ejected: %d", code)
		}
		be.stalled.Store(false)
		waitFor(t, 3*time.Second, "the healed backend to serve again", func() bool {
			code, body, _ := get(t, c, "http://"+gw.addr+"/api/v1/rates")
			return code == 200 && body == "backend ok"
		})
	})
}
