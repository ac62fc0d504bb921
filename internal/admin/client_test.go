package admin

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
	"github.com/skjold-dev/skjold/internal/tcptest"
)

func TestClientReadsStatusOverTCPAndUnix(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "unix:" + socketPath(t)} {
		s, fg := start(t, Options{Listen: listen, Token: "tok"})
		c := NewClient(s.Addr(), "tok")
		defer c.Close()
		st, err := c.Status(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", listen, err)
		}
		if !reflect.DeepEqual(st.Upstreams[0].Breaker, fg.status.Upstreams[0].Breaker) || st.ConfigVersion != fg.status.ConfigVersion {
			t.Errorf("%s: status %+v does not match the gateway's", listen, st)
		}
		raw, err := c.StatusJSON(t.Context())
		if err != nil || !strings.HasPrefix(string(raw), "{\n  \"config_version\"") {
			t.Errorf("%s: StatusJSON = %q, %v", listen, raw, err)
		}
	}
}

func TestClientReloadReturnsRejectionAsResult(t *testing.T) {
	var reject atomic.Bool
	reject.Store(true)
	s, _ := start(t, Options{Reload: func(context.Context) (gateway.ReloadReport, error) {
		if reject.Load() {
			return gateway.ReloadReport{}, &config.ValidationError{Problems: []config.Problem{{File: "gw.yaml", Line: 3, Column: 5, Path: "routes", Message: "bad"}}}
		}
		return gateway.ReloadReport{Version: "abc123"}, nil
	}})
	c := NewClient(s.Addr(), "")
	defer c.Close()
	res, err := c.Reload(t.Context())
	if err != nil || !reflect.DeepEqual(res, ReloadResult{Result: ReloadRejected, Error: "gw.yaml:3:5: routes: bad"}) {
		t.Errorf("rejected reload: %+v, %v", res, err)
	}
	reject.Store(false)
	res, err = c.Reload(t.Context())
	if err != nil || !reflect.DeepEqual(res, ReloadResult{Result: ReloadApplied, Version: "abc123"}) {
		t.Errorf("applied reload: %+v, %v", res, err)
	}
}

func TestClientSetTargets(t *testing.T) {
	s, fg := start(t, Options{})
	c := NewClient(s.Addr(), "")
	defer c.Close()
	res, err := c.SetTargets(t.Context(), "fx", TargetsRequest{Targets: []config.Target{{Address: "127.0.0.1:9002", Weight: 2}}, DrainTimeout: "5s"})
	if err != nil || res.Upstream != "fx" || len(res.Targets) != 1 {
		t.Fatalf("SetTargets: %+v, %v", res, err)
	}
	if sw := fg.switchCalls()[0].sw; sw.Targets[0].Weight != 2 || sw.DrainTimeout.String() != "5s" {
		t.Errorf("switch sent %+v", sw)
	}
	_, err = c.SetTargets(t.Context(), "nope", TargetsRequest{Targets: []config.Target{{Address: "127.0.0.1:9002"}}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Message != `unknown upstream "nope"` {
		t.Errorf("unknown upstream: %v", err)
	}
}

func TestClientReportsAPIErrors(t *testing.T) {
	s, _ := start(t, Options{Token: "right"})
	c := NewClient(s.Addr(), "wrong")
	defer c.Close()
	_, err := c.Status(t.Context())
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Message != "wrong admin token" {
		t.Fatalf("wrong token: %v", err)
	}
	if want := "admin API " + s.Addr() + ": GET /status: 401 Unauthorized: wrong admin token"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestClientSaysWhereItFailedToConnect(t *testing.T) {
	addr := tcptest.ClosedAddr(t)
	c := NewClient(addr, "")
	defer c.Close()
	_, err := c.Status(t.Context())
	if err == nil || !strings.Contains(err.Error(), "admin API "+addr+": GET /status") || !strings.Contains(err.Error(), "is skjold serve running") {
		t.Errorf("error %v, want the address and a hint", err)
	}
}
