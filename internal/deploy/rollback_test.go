package deploy

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// rollbackBudget is how long after green crosses the error limit the
// gateway may still send it requests (issue: a bad green must cost less
// than a quarter of a second of traffic).
const rollbackBudget = 250 * time.Millisecond

// reported matches the counts a rollback's reason gives.
var reported = regexp.MustCompile(`answered (\d+) of (\d+) requests with 5xx`)

// TestBadGreenIsRolledBackWithin250msOfCrossingTheErrorLimit deploys a
// release that answers every request with 500 while the gateway takes 250
// requests a second (one in ten slow, so blue still finishes requests
// after the switch). It checks, from what the clients received, that green
// got no request more than 250ms after its min_requests-th answer (the
// moment its ratio crossed the limit), that the deploy counted green's
// failures from its first request (every 5xx the clients had before the
// rollback began is in the reported count), and that nothing but green's
// answers failed.
func TestBadGreenIsRolledBackWithin250msOfCrossingTheErrorLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		drivers    func(t *testing.T) map[string]Driver
		good, bad  func(t *testing.T) Request
		badVersion string
	}{
		{"process", func(*testing.T) map[string]Driver { return processDrivers() },
			func(t *testing.T) Request { return Request{Command: appCmd(t, "v1"), Version: "v1"} },
			func(t *testing.T) Request { return Request{Command: appCmd(t, "v2", "MODE=failing"), Version: "v2"} },
			"v2"},
		{"docker", func(t *testing.T) map[string]Driver {
			dk := NewDocker()
			t.Cleanup(func() { dk.Close() })
			buildImages(t, dk, "v1", "v2-failing")
			return map[string]Driver{DriverDocker: dk, DriverProcess: NewProcess()}
		},
			func(*testing.T) Request { return Request{Image: testImage + ":v1"} },
			func(*testing.T) Request { return Request{Image: testImage + ":v2-failing"} },
			"v2-failing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drivers := tc.drivers(t)
			env := startEnv(t, "")
			d, ev := env.deployer(t, drivers)
			stopAll(t, d)
			ctx := context.Background()
			if _, err := d.Deploy(ctx, tc.good(t)); err != nil {
				t.Fatal(err)
			}
			l := startLoad(t, env.url, 250)
			l.waitSent(t, 100)
			rel, err := d.Deploy(ctx, tc.bad(t))
			time.Sleep(100 * time.Millisecond)
			res := l.stop()
			if !errors.Is(err, ErrRolledBack) {
				t.Fatalf("deploy: %v; want ErrRolledBack", err)
			}
			min := d.opts.Config.MinRequests
			green := res.from(tc.badVersion)
			if len(green) < min {
				t.Fatalf("green answered %d requests; the limit cannot have been crossed before %d", len(green), min)
			}
			// The limit is crossed when green's min_requests-th answer is
			// counted; the cost of the rollback is every request sent to
			// green after that.
			crossed := green[min-1].at
			var last time.Time
			after := 0
			for _, a := range green {
				last = maxTime(last, a.sent)
				if a.sent.After(crossed) {
					after++
				}
			}
			rb, ok := ev.first(rel.Number, StepRollback, StatusBegin, "")
			if !ok {
				t.Fatal("no rollback event")
			}
			rbDone, _ := ev.first(rel.Number, StepRollback, StatusDone, "")
			seenBefore := 0
			for _, a := range green {
				if a.at.Before(rb.Time) {
					seenBefore++
				}
			}
			m := reported.FindStringSubmatch(rel.Reason)
			if m == nil {
				t.Fatalf("reason %q gives no counts", rel.Reason)
			}
			errs, _ := strconv.Atoi(m[1])
			t.Logf("%s: load %.0f req/s; green answered %d requests, all 5xx, %d of them sent after it crossed the limit, the last %s after; "+
				"rollback began %s and finished %s after crossing; reported %q; clients had %d 5xx from green when the rollback began",
				tc.name, res.rate(), len(green), after, last.Sub(crossed).Round(time.Millisecond),
				rb.Time.Sub(crossed).Round(time.Millisecond), rbDone.Time.Sub(crossed).Round(time.Millisecond), m[0], seenBefore)
			if cost := last.Sub(crossed); cost > rollbackBudget {
				t.Errorf("green was sent requests for %s after crossing the limit; want within %s", cost.Round(time.Millisecond), rollbackBudget)
			}
			// The reported count may trail the clients by answers written
			// but not yet counted when the deploy read the counters.
			if errs+5 < seenBefore {
				t.Errorf("the deploy counted %d 5xx; the clients had %d from green before the rollback began", errs, seenBefore)
			}
			if res.failed != int64(len(green)) {
				t.Errorf("%d requests failed, %d of them answered by green; blue must have answered every other:\n%v", res.failed, len(green), res.failures)
			}
			allFrom(t, env.url, 20, "v1")
		})
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
