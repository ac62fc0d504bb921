package proxy

import (
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// Route is what the proxy needs to know about the route a request matched.
// It is built once per config snapshot and read concurrently.
type Route struct {
	Name     string
	Upstream *upstream.Upstream
	// StripPrefix removes the matched prefix from the forwarded path.
	StripPrefix bool
	// Connect overrides the upstream's connect timeout when non-zero.
	Connect time.Duration
	// Response bounds one try until the response head arrives, and each
	// read of the response body after that.
	Response time.Duration
	// Send bounds each write of the request to the upstream.
	Send time.Duration
	// Total bounds the whole request, retries included, until the
	// response head is sent to the client.
	Total time.Duration
	// Tries is the most attempts, counting the first.
	Tries int
	// RetryOn says which failures are retried. Its statuses are also the
	// route's failure statuses: answers with them count as failures for
	// passive health and the breakers (see verdict). Errors and timeouts
	// count whatever RetryOn says.
	RetryOn RetryOn
	// RetryTimeout bounds the time spent retrying (0: only Total).
	RetryTimeout time.Duration
	// NonIdempotent allows retrying any method after it was sent.
	NonIdempotent bool
	// BufferBytes is how much of a request body is held for resending.
	BufferBytes int64
	// MaxBody rejects larger request bodies with 413 (0: no limit).
	MaxBody int64
	// Breaker is the route's own breaker; nil when it has none.
	Breaker *breaker.Breaker
	// Upgrades are the protocols, lower case, a client may switch to
	// (Upgrade header names such as "websocket"); nil allows none. A
	// request asking for another is forwarded without its Upgrade header.
	Upgrades []string
}

// RetryOn is a set of retry conditions.
type RetryOn struct {
	Error   bool // connect error, reset or malformed response before any response byte
	Timeout bool // connect or response timeout
	// Statuses is a bit set over the status codes below.
	Statuses uint8
}

// Retryable statuses, as nginx names them in proxy_next_upstream.
var retryStatuses = [...]int{429, 500, 502, 503, 504}

// StatusBit returns the RetryOn.Statuses bit for code, or 0 if code cannot
// be retried on.
func StatusBit(code int) uint8 {
	for i, c := range retryStatuses {
		if c == code {
			return 1 << i
		}
	}
	return 0
}

func (r RetryOn) status(code int) bool {
	b := StatusBit(code)
	return b != 0 && r.Statuses&b != 0
}
