package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotHealthy: the new instance did not pass its health check in time,
// or exited first. The previous release kept serving.
var ErrNotHealthy = errors.New("new release never became healthy")

// probeResult is the outcome of one health probe.
type probeResult struct {
	ok     bool
	status int
	body   string
	err    error
}

func (r probeResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	s := fmt.Sprintf("%d %s", r.status, http.StatusText(r.status))
	if r.body != "" {
		s += ", body: " + r.body
	}
	return s
}

// HealthError explains a new instance that never became healthy: the last
// probe's answer and the instance's last log lines.
type HealthError struct {
	Instance *Instance
	URL      string
	// Passes in a row at the end, and how many were needed.
	Passes, Need int
	// Waited is how long the deploy waited.
	Waited time.Duration
	// Last is the last failed probe, as text.
	Last string
	// Exited says how the instance ended, when it did.
	Exited string
	// Logs are the instance's last output lines.
	Logs []string
}

func (e *HealthError) Error() string {
	var b strings.Builder
	if e.Exited != "" {
		fmt.Fprintf(&b, "%v: the new instance (%s) %s after %s, before passing its health check",
			ErrNotHealthy, e.Instance, e.Exited, roundDur(e.Waited))
	} else {
		fmt.Fprintf(&b, "%v: GET %s did not pass %d times in a row within %s (%d in a row at the end)",
			ErrNotHealthy, e.URL, e.Need, roundDur(e.Waited), e.Passes)
	}
	if e.Last != "" {
		fmt.Fprintf(&b, "\nlast probe: %s", e.Last)
	}
	if len(e.Logs) > 0 {
		fmt.Fprintf(&b, "\nlast %d log lines of %s:", len(e.Logs), e.Instance)
		for i := 0; i < len(e.Logs); {
			j := i + 1
			for j < len(e.Logs) && e.Logs[j] == e.Logs[i] {
				j++
			}
			b.WriteString("\n  | ")
			b.WriteString(e.Logs[i])
			if j-i > 1 {
				fmt.Fprintf(&b, "  (%d times)", j-i)
			}
			i = j
		}
	} else {
		b.WriteString("\n(the instance wrote no output)")
	}
	return b.String()
}

func (e *HealthError) Unwrap() error { return ErrNotHealthy }

// bodyExcerpt is how much of a failed probe's body is shown.
const bodyExcerpt = 200

// probe makes one health check request.
func probe(ctx context.Context, hc *http.Client, url string, timeout time.Duration) probeResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return probeResult{err: err}
	}
	req.Header.Set("User-Agent", "skjold-deploy")
	resp, err := hc.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return probeResult{err: fmt.Errorf("no answer within %s", timeout)}
		}
		return probeResult{err: errors.Unwrap(err)} // drop the "Get URL:" prefix; the URL is printed once
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	res := probeResult{ok: resp.StatusCode >= 200 && resp.StatusCode < 300, status: resp.StatusCode}
	if !res.ok {
		res.body = excerpt(b)
	}
	return res
}

// excerpt makes a one-line, bounded, printable excerpt of a body.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if len(s) > bodyExcerpt {
		cut := bodyExcerpt
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		return ""
	}
	return fmt.Sprintf("%q", s)
}

// waitHealthy probes inst until it passes Successes times in a row, the
// deadline passes, or it exits.
func (d *Deployer) waitHealthy(ctx context.Context, release int, drv Driver, inst *Instance) error {
	h := d.opts.Config.Health
	need := h.Successes
	url := "http://" + inst.Address + h.Path
	sc := d.begin(release, StepHealth, "GET %s, %d passes in a row needed", url, need)
	start := time.Now()
	deadline := start.Add(h.Deadline.D())
	passes := 0
	var last probeResult
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			sc.fail("interrupted")
			return context.Cause(ctx)
		case <-timer.C:
		}
		probeStart := time.Now()
		res := probe(ctx, d.hc, url, h.Timeout.D())
		if res.ok {
			passes++
			if passes >= need {
				sc.done("%d passes in a row", passes)
				return nil
			}
			sc.progress("%d/%d passes", passes, need)
		} else {
			passes = 0
			last = res
			sc.progress("0/%d passes; last: %s", need, res)
			if exited, how, err := drv.Exited(ctx, inst); err == nil && exited {
				return d.healthFailed(ctx, sc, drv, inst, url, passes, need, time.Since(start), last, how)
			}
		}
		next := probeStart.Add(h.Interval.D())
		if next.After(deadline) {
			return d.healthFailed(ctx, sc, drv, inst, url, passes, need, time.Since(start), last, "")
		}
		timer.Reset(time.Until(next))
	}
}

// logLines is how many of an instance's last log lines a failure shows.
const logLines = 20

func (d *Deployer) healthFailed(ctx context.Context, sc *stepClock, drv Driver, inst *Instance, url string,
	passes, need int, waited time.Duration, last probeResult, exited string) error {
	he := &HealthError{Instance: inst, URL: url, Passes: passes, Need: need, Waited: waited, Exited: exited}
	if last.err != nil || last.status != 0 {
		he.Last = last.String()
	}
	logs, err := drv.Logs(context.WithoutCancel(ctx), inst, logLines)
	if err != nil {
		logs = []string{"(could not read the logs: " + err.Error() + ")"}
	}
	he.Logs = logs
	if exited != "" {
		sc.fail("the instance %s", exited)
	} else {
		sc.fail("not healthy within %s; last probe: %s", roundDur(waited), he.Last)
	}
	return he
}
