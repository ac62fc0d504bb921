package proxy

import "github.com/skjold-dev/skjold/internal/breaker"

// Class is what a request came to when it did not simply get the
// upstream's answer: the kind of failure, as the access log's "error"
// field and the fast-failure metric's reason label name it.
type Class uint8

// Classes. ClassNone is an upstream answer passed on as it is.
const (
	ClassNone            Class = iota
	ClassConnect               // could not connect to the target
	ClassReset                 // the connection broke before a response
	ClassTimeout               // no response in time
	ClassBadResponse           // the upstream's response did not parse, or switched protocols unasked
	ClassStatus                // the upstream answered with a failure status
	ClassUpstreamAbort         // the response broke after it started
	ClassBreakerOpen           // a circuit breaker refused the request
	ClassNoTarget              // no healthy target to try
	ClassBulkheadFull          // every healthy target is at its concurrency limit
	ClassClientGone            // the client left before its answer
	ClassBodyTooLarge          // the request body is over the route's limit
	ClassBadRequest            // the request was malformed
	ClassNoRoute               // no route matches the request
	ClassRateLimited           // the route's rate limit refused the request
	ClassDenied                // the route's access rules, auth or CORS refused the request
	ClassAuthUnavailable       // the route's auth service gave no verdict (fail closed)
	ClassMaintenance           // the route is in maintenance
	ClassDirect                // the route answered itself (respond, redirect, CORS preflight)
)

// String is the class's name in logs and metrics ("" for ClassNone).
func (c Class) String() string {
	switch c {
	case ClassNone:
		return ""
	case ClassConnect:
		return "connect"
	case ClassReset:
		return "reset"
	case ClassTimeout:
		return "timeout"
	case ClassBadResponse:
		return "bad_response"
	case ClassStatus:
		return "status"
	case ClassUpstreamAbort:
		return "upstream_abort"
	case ClassBreakerOpen:
		return "breaker_open"
	case ClassNoTarget:
		return "no_healthy_target"
	case ClassBulkheadFull:
		return "bulkhead_full"
	case ClassClientGone:
		return "client_gone"
	case ClassBodyTooLarge:
		return "body_too_large"
	case ClassBadRequest:
		return "bad_request"
	case ClassNoRoute:
		return "no_route"
	case ClassRateLimited:
		return "rate_limited"
	case ClassDenied:
		return "denied"
	case ClassAuthUnavailable:
		return "auth_unavailable"
	case ClassMaintenance:
		return "maintenance"
	case ClassDirect:
		return "direct"
	}
	return "unknown"
}

// verdict is the one place that decides what a try's outcome means for
// the target's passive health and for the upstream's and the route's
// breakers. It depends on the outcome alone, never on what the route
// retries: a connect error, reset, timeout or unusable response is the
// target's failure whatever the retry policy (nginx counts errors and
// timeouts for max_fails the same way); an answer is a failure when its
// status is one the route lists as a failure status; the client leaving,
// or sending too large a body, is nobody's failure.
func (r *Route) verdict(a attempt) breaker.Outcome {
	switch a.class {
	case ClassNone, ClassStatus:
		if r.RetryOn.status(a.status) {
			return breaker.Failure
		}
		return breaker.Success
	case ClassConnect, ClassReset, ClassTimeout, ClassBadResponse, ClassUpstreamAbort:
		if a.untried {
			return breaker.Ignored
		}
		return breaker.Failure
	}
	return breaker.Ignored
}
