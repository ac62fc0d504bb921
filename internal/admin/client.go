package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/gateway"
)

// maxAnswerBytes bounds what the client reads from an answer; a status
// document for hundreds of upstreams is well under this.
const maxAnswerBytes = 32 << 20

// APIError is an answer other than the one a call expects, with the
// server's message.
type APIError struct {
	// Addr is the admin address called.
	Addr string
	// Method and Path are the call.
	Method, Path string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the server's {"error":...} text, or the start of the body
	// when it had none.
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("admin API %s: %s %s: %d %s: %s", e.Addr, e.Method, e.Path,
		e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Client calls an admin API. Its zero value is not usable; build it with
// NewClient.
type Client struct {
	addr  string
	token string
	base  string
	hc    *http.Client
}

// NewClient returns a client for the admin API at addr (host:port or
// unix:/path), sending token when it is not empty. Calls are bounded by
// their context, not by the client.
func NewClient(addr, token string) *Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // the admin API is local; never go through HTTP_PROXY
		DialContext:           d.DialContext,
		ResponseHeaderTimeout: 0, // a target switch may take minutes; ctx bounds it
		MaxIdleConns:          1,
		IdleConnTimeout:       30 * time.Second,
	}
	base := "http://" + addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://skjold-admin"
	}
	return &Client{addr: addr, token: token, base: base, hc: &http.Client{Transport: tr}}
}

// Close releases the client's idle connection.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// StatusJSON returns the GET /status document as the server wrote it.
func (c *Client) StatusJSON(ctx context.Context) ([]byte, error) {
	_, body, err := c.do(ctx, http.MethodGet, "/status", nil, http.StatusOK)
	return body, err
}

// Status returns the gateway's status.
func (c *Client) Status(ctx context.Context) (gateway.Status, error) {
	var st gateway.Status
	body, err := c.StatusJSON(ctx)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("admin API %s: GET /status: decoding the answer: %w", c.addr, err)
	}
	return st, nil
}

// Reload asks the gateway to load its config again. A rejected config is
// a result, not an error: Result is ReloadRejected and Error holds the
// report. The error is for calls that got no such answer.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	_, body, err := c.do(ctx, http.MethodPost, "/reload", nil, http.StatusOK, http.StatusUnprocessableEntity)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("admin API %s: POST /reload: decoding the answer: %w", c.addr, err)
	}
	return res, nil
}

// SetTargets switches an upstream to new targets and returns what the
// switch did. It can take as long as the request's health and drain
// timeouts together.
func (c *Client) SetTargets(ctx context.Context, upstream string, req TargetsRequest) (gateway.SwitchResult, error) {
	var res gateway.SwitchResult
	b, err := json.Marshal(req)
	if err != nil {
		return res, err
	}
	_, body, err := c.do(ctx, http.MethodPut, "/upstreams/"+url.PathEscape(upstream)+"/targets", b, http.StatusOK)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("admin API %s: PUT /upstreams/%s/targets: decoding the answer: %w", c.addr, upstream, err)
	}
	return res, nil
}

// DropTargets drops an upstream's target override: the config file's
// targets are in force again. drain bounds the wait for requests on the
// override's targets (zero: the gateway's 30s).
func (c *Client) DropTargets(ctx context.Context, upstream string, drain time.Duration) (gateway.SwitchResult, error) {
	var res gateway.SwitchResult
	path := "/upstreams/" + url.PathEscape(upstream) + "/targets"
	if drain > 0 {
		path += "?drain_timeout=" + url.QueryEscape(drain.String())
	}
	_, body, err := c.do(ctx, http.MethodDelete, path, nil, http.StatusOK)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("admin API %s: DELETE %s: decoding the answer: %w", c.addr, path, err)
	}
	return res, nil
}

// do makes one call and returns the answer's status and body; a status not
// in want is an *APIError.
func (c *Client) do(ctx context.Context, method, path string, body []byte, want ...int) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("admin API %s: %w", c.addr, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return 0, nil, fmt.Errorf("admin API %s: %s %s: %w", c.addr, method, path, err)
		}
		return 0, nil, fmt.Errorf("admin API %s: %s %s: %w (is skjold serve running with admin.listen at this address?)", c.addr, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("admin API %s: %s %s: reading the answer: %w", c.addr, method, path, err)
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp.StatusCode, b, nil
		}
	}
	return resp.StatusCode, b, &APIError{Addr: c.addr, Method: method, Path: path, StatusCode: resp.StatusCode, Message: errorMessage(b)}
}

// errorMessage extracts {"error":...} from an answer, or the start of the
// body when it is something else.
func errorMessage(b []byte) string {
	var e errorBody
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(empty answer)"
	}
	return s
}
