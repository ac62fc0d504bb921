package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// UserAgent is sent with every probe, so targets can tell probes from
// traffic in their logs.
const UserAgent = "skjold-health/1"

// maxBody is how much of a probe's response body is read; the rest is
// dropped with the connection. Enough for any health document, small
// enough that a target streaming a file cannot hold a probe.
const maxBody = 64 << 10

// NewClient returns the client for health probes, the one the gateway's
// checkers, deploy's health gate and New (when given none) use. It never
// reuses connections, so each probe also proves the target still accepts
// new ones, and Stop leaves no idle connection goroutines behind. It
// ignores HTTP_PROXY and friends: probes go straight to the target. It
// never follows a redirect: a probe judges the target, not wherever it
// points. It sets no timeouts of its own because each probe carries a
// deadline (Spec.Timeout, deploy's health timeout) that bounds dial,
// request and response alike.
func NewClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            (&net.Dialer{KeepAlive: -1}).DialContext,
			DisableKeepAlives:      true,
			DisableCompression:     true,
			MaxResponseHeaderBytes: maxBody,
		},
		CheckRedirect: noRedirect,
	}
}

// noRedirect makes the client hand back a 3xx as the response: a probe
// judges the target, not wherever it points.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// httpProbe GETs spec.Path from addr and judges the response.
func (c *Checker) httpProbe(ctx context.Context, addr string, spec Spec) result {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	u := &url.URL{Scheme: "http", Host: addr}
	path, query, _ := strings.Cut(spec.Path, "?")
	u.Path, u.RawQuery = path, query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return result{err: "bad probe request: " + err.Error()}
	}
	req.Header.Set("User-Agent", UserAgent)
	if spec.Host != "" {
		req.Host = spec.Host
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return result{err: describeErr(ctx, err, spec.Timeout)}
	}
	_, readErr := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if !spec.accepts(resp.StatusCode) {
		return result{status: resp.StatusCode, err: "status " + strconv.Itoa(resp.StatusCode)}
	}
	if readErr != nil {
		return result{status: resp.StatusCode, err: "reading body: " + describeErr(ctx, readErr, spec.Timeout)}
	}
	return result{ok: true, status: resp.StatusCode}
}

// describeErr turns a transport error into a short reason such as
// "connect: connection refused" or "timeout after 1s".
func describeErr(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timeout after " + timeout.String()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		var dns *net.DNSError
		if errors.As(op.Err, &dns) {
			return "resolve " + dns.Name + ": " + dns.Err
		}
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return "connect: " + sys.Err.Error()
		}
		return "connect: " + op.Err.Error()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		// A deadline of the caller's own client, not Spec.Timeout.
		return "timeout: " + unwrapURL(err).Error()
	}
	if hungUp(err) {
		return "connection closed before a complete response"
	}
	if errors.As(err, &op) {
		return fmt.Sprintf("%s: %v", op.Op, op.Err)
	}
	return unwrapURL(err).Error()
}

// hungUp reports whether err means the target closed or reset the
// connection instead of answering. Which of these a client sees depends on
// a race between its write and the close, so they get one message.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// net/http does not export this error; it means the same when the
		// connection was fresh, as every connection of ours is.
		strings.Contains(err.Error(), "server closed idle connection")
}

// unwrapURL drops *url.Error's `Get "http://…":` prefix, which repeats
// the address the message is already attached to.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
