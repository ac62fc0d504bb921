// Package config defines Skjold's configuration: the YAML schema, its defaults
// and its validation. Loading goes load → defaults → validate (every problem,
// with file:line:column) and yields a *Config the gateway builds from.
package config

import "time"

// Config is one complete, validated Skjold configuration.
type Config struct {
	// Listeners are the addresses the gateway accepts client traffic on,
	// keyed by name. At least one is required.
	Listeners map[string]*Listener `yaml:"listeners,omitempty"`
	// Admin configures the admin API (status, reload, metrics).
	Admin Admin `yaml:"admin,omitempty"`
	// ShutdownGrace is how long in-flight requests may take to finish after
	// SIGTERM before the remaining connections are closed. Default 30s.
	ShutdownGrace Duration `yaml:"shutdown_grace,omitempty"`
	// AccessLog configures the JSON access log.
	AccessLog AccessLog `yaml:"access_log,omitempty"`
	// StateDir is where the gateway keeps what must survive a restart: the
	// target overrides set through the admin API or by a deploy
	// (targets.json). A relative path is taken from the config file's
	// directory. Default /var/lib/skjold/gateway.
	StateDir string `yaml:"state_dir,omitempty"`
	// Upstreams are the pools of targets routes forward to, keyed by name.
	Upstreams map[string]*Upstream `yaml:"upstreams,omitempty"`
	// Routes match requests to upstreams. The most specific match wins:
	// an exact host beats a wildcard host beats no host, then the longest
	// path prefix; among equals, the first listed.
	Routes []*Route `yaml:"routes,omitempty"`
	// Residency declares where stores and upstreams keep data and the
	// policy per data class (docs/residency.md). Default: no policy.
	Residency Residency `yaml:"residency,omitempty"`
	// Databases declares the database clusters services share and each
	// service's database on them (`skjold db`).
	Databases Databases `yaml:"databases,omitempty"`
	// Services are deployed blue/green by `skjold deploy`, keyed by name.
	Services map[string]*Service `yaml:"services,omitempty"`

	// Source names where the config came from (a file path), for messages.
	Source string `yaml:"-"`
	// Version is a short hash of the config's bytes, shown in /status.
	Version string `yaml:"-"`
	// Warnings are things the config allows but that are probably wrong
	// (a target certificate not verified, say); `skjold check` prints them.
	Warnings []Problem `yaml:"-"`

	// layout is where each key path sits in the file, kept from parsing
	// for Position and Given; nil for a config built in code. It is not
	// changed after Parse returns.
	layout *report
}

// Listener is one client-facing socket.
type Listener struct {
	// Address to listen on, host:port; an empty host means every
	// interface, port 0 a free port. Required.
	Address string `yaml:"address,omitempty"`
	// ReadHeaderTimeout bounds how long a client may take to send a request
	// head; trickling clients are cut after it. Default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout,omitempty"`
	// SendTimeout bounds each write of a response to the client: a client
	// that stops reading is cut after it, freeing its upstream connection
	// (nginx's send_timeout). Default 60s.
	SendTimeout Duration `yaml:"send_timeout,omitempty"`
	// IdleTimeout closes a client keepalive connection idle this long.
	// Default 75s (nginx's keepalive_timeout).
	IdleTimeout Duration `yaml:"idle_timeout,omitempty"`
	// MaxHeaderBytes limits the request head (request line and headers);
	// larger heads get 431. Default 32KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes,omitempty"`
	// MaxURIBytes limits the request target; longer ones get 414. Default 8KiB.
	MaxURIBytes ByteSize `yaml:"max_uri_bytes,omitempty"`
	// TLS, when set, makes the listener serve HTTPS (docs/tls.md).
	// Default: plain HTTP.
	TLS *ListenerTLS `yaml:"tls,omitempty"`
	// RedirectHTTPFrom is a host:port where a plain HTTP listener answers
	// every request with 308 to the same URL on https://, keeping the
	// host and the path. Needs TLS. Default: none.
	RedirectHTTPFrom string `yaml:"redirect_http_from,omitempty"`
	// HSTS, when set, adds Strict-Transport-Security with this max-age to
	// every response on this listener ("365d", "8760h"). Needs TLS.
	// Default: not sent.
	HSTS Duration `yaml:"hsts,omitempty"`
	// TrustedProxies are the proxies in front of this listener (CIDRs or
	// addresses) whose ForwardedHeader is believed: a request from one of
	// them is counted, matched by access rules and logged under the client
	// the header names, walking back past further trusted hops. Default:
	// none (the peer is the client).
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// ForwardedHeader is the header the trusted proxies name the client
	// in: x-forwarded-for or forwarded (RFC 7239). Only that one is read:
	// a proxy that passes the other through unchanged would let a client
	// name itself. Default x-forwarded-for.
	ForwardedHeader string `yaml:"forwarded_header,omitempty"`
	// ProxyProtocol: every connection starts with a PROXY protocol header
	// (v1 or v2, from a TCP load balancer), whose source address is the
	// connection's peer from then on; a connection without one is closed.
	// With TrustedProxies set, only a header from a trusted peer is
	// believed. Default false.
	ProxyProtocol bool `yaml:"proxy_protocol,omitempty"`
}

// Admin configures the admin API listener.
type Admin struct {
	// Listen is host:port or unix:/path/to/socket. Default 127.0.0.1:9901.
	// A non-loopback address is refused unless Token, TokenFile or TokenEnv
	// is set; at most one of the three may be.
	Listen string `yaml:"listen,omitempty"`
	// Token, when set, must be sent as "Authorization: Bearer <token>" on
	// every admin call. Prefer TokenFile or TokenEnv. Default: none.
	Token string `yaml:"token,omitempty"`
	// TokenFile reads the token from a file (trailing newline trimmed).
	TokenFile string `yaml:"token_file,omitempty"`
	// TokenEnv reads the token from an environment variable.
	TokenEnv string `yaml:"token_env,omitempty"`
}

// AccessLog configures the per-request JSON log.
type AccessLog struct {
	// Enabled turns the access log on. Default true.
	Enabled *bool `yaml:"enabled,omitempty"`
	// Path is a file to append to, or "stdout" / "stderr". Default stdout.
	Path string `yaml:"path,omitempty"`
}

// Balance names a load-balancing policy.
type Balance string

// Load-balancing policies.
const (
	// RoundRobin is smooth weighted round-robin (nginx's algorithm).
	RoundRobin Balance = "round_robin"
	// LeastRequest picks the less loaded of two random targets, weighted
	// (power of two choices).
	LeastRequest Balance = "least_request"
)

// Upstream is a pool of interchangeable targets.
type Upstream struct {
	// Targets to forward to. At least one is required.
	Targets []*Target `yaml:"targets,omitempty"`
	// Balance is round_robin or least_request. Default round_robin.
	Balance Balance `yaml:"balance,omitempty"`
	// ConnectTimeout bounds establishing a TCP connection to a target.
	// Default 1s.
	ConnectTimeout Duration `yaml:"connect_timeout,omitempty"`
	// Keepalive configures the idle connection pool kept per target.
	Keepalive Keepalive `yaml:"keepalive,omitempty"`
	// MaxConcurrent caps requests in flight per target (a bulkhead); 0 means
	// no cap. Default 0.
	MaxConcurrent int `yaml:"max_concurrent,omitempty"`
	// MaxQueue is how many requests may wait for a slot when a target is at
	// MaxConcurrent; more get 503 with Retry-After. Default 0 (no waiting).
	MaxQueue int `yaml:"max_queue,omitempty"`
	// QueueTimeout bounds the wait for a slot. Default 100ms.
	QueueTimeout Duration `yaml:"queue_timeout,omitempty"`
	// PassiveHealth ejects targets that fail real requests (nginx's
	// max_fails/fail_timeout).
	PassiveHealth PassiveHealth `yaml:"passive_health,omitempty"`
	// HealthCheck, when set, probes every target actively.
	HealthCheck *HealthCheck `yaml:"health_check,omitempty"`
	// Breaker is the upstream's circuit breaker. Always on, with defaults.
	Breaker Breaker `yaml:"breaker,omitempty"`
	// RetryBudget caps retries so they cannot amplify an outage.
	RetryBudget RetryBudget `yaml:"retry_budget,omitempty"`
	// TLS, when set, makes the gateway speak HTTPS to the targets,
	// verifying their certificates. Default: plain HTTP.
	TLS *UpstreamTLS `yaml:"tls,omitempty"`
}

// Target is one backend server. The same type carries targets from the
// config file, the admin API, a deploy and the saved overrides to the
// running upstream; CheckTargets holds its rules.
type Target struct {
	// Address is host:port. Required.
	Address string `yaml:"address,omitempty" json:"address"`
	// Weight for load balancing, 1..1000. Default 1.
	Weight int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Backup targets receive traffic only when no primary target is healthy.
	// Default false.
	Backup bool `yaml:"backup,omitempty" json:"backup,omitempty"`
}

// Keepalive configures a per-target pool of idle upstream connections.
type Keepalive struct {
	// Idle is the most idle connections kept per target; 0 disables reuse.
	// Default 32.
	Idle *int `yaml:"idle,omitempty"`
	// IdleTimeout closes pooled connections idle this long. Default 60s.
	IdleTimeout Duration `yaml:"idle_timeout,omitempty"`
	// MaxRequests closes a connection after this many requests; 0 means no
	// limit. Default 0.
	MaxRequests int `yaml:"max_requests,omitempty"`
}

// PassiveHealth has nginx semantics: MaxFails failures within FailTimeout
// mark a target down for FailTimeout. Unlike nginx it applies to a
// single-target upstream too.
type PassiveHealth struct {
	// MaxFails failures within FailTimeout eject the target; 0 disables
	// passive health. Default 1 (nginx's default).
	MaxFails *int `yaml:"max_fails,omitempty"`
	// FailTimeout is both the counting window and how long a target stays
	// down. Default 10s.
	FailTimeout Duration `yaml:"fail_timeout,omitempty"`
}

// HealthCheck probes targets with HTTP GET.
type HealthCheck struct {
	// Path to GET. Default /health.
	Path string `yaml:"path,omitempty"`
	// Interval between probes of one target. Default 5s.
	Interval Duration `yaml:"interval,omitempty"`
	// Timeout for one probe. Default 1s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// ExpectStatus lists accepted status codes or ranges ("200-399").
	// Default ["200-399"].
	ExpectStatus []string `yaml:"expect_status,omitempty"`
	// Rise consecutive passes mark a down target up. Default 2.
	Rise int `yaml:"rise,omitempty"`
	// Fall consecutive failures mark an up target down. Default 3.
	Fall int `yaml:"fall,omitempty"`
	// Host header to send. Default: the target address.
	Host string `yaml:"host,omitempty"`
}

// Breaker configures a circuit breaker. It opens on any enabled trigger.
type Breaker struct {
	// Disabled turns the breaker off. Default false.
	Disabled bool `yaml:"disabled,omitempty"`
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row; 0 disables the trigger. Default 5.
	ConsecutiveFailures *int `yaml:"consecutive_failures,omitempty"`
	// FailureRatio opens the breaker when the ratio of failures in Window
	// reaches it (with at least MinRequests calls); 0 disables. Default 0.5.
	FailureRatio *float64 `yaml:"failure_ratio,omitempty"`
	// SlowCallRatio opens the breaker when this ratio of calls in Window took
	// longer than SlowCallDuration; 0 disables. Default 0.
	SlowCallRatio float64 `yaml:"slow_call_ratio,omitempty"`
	// SlowCallDuration is what counts as slow. Default 1s.
	SlowCallDuration Duration `yaml:"slow_call_duration,omitempty"`
	// Window is the rolling window for the ratios. Default 10s.
	Window Duration `yaml:"window,omitempty"`
	// MinRequests in Window before a ratio can open the breaker. Default 20.
	MinRequests int `yaml:"min_requests,omitempty"`
	// OpenFor is how long the breaker stays open the first time. Default 5s.
	OpenFor Duration `yaml:"open_for,omitempty"`
	// MaxOpenFor caps the doubling of OpenFor on repeated failed probes.
	// Default 60s.
	MaxOpenFor Duration `yaml:"max_open_for,omitempty"`
	// HalfOpenProbes is how many probe requests are let through when
	// half-open; all must succeed to close. Default 3.
	HalfOpenProbes int `yaml:"half_open_probes,omitempty"`
}

// RetryBudget limits retries to a fraction of an upstream's requests.
type RetryBudget struct {
	// Ratio of retries to requests over the last 10s. Default 0.2.
	Ratio *float64 `yaml:"ratio,omitempty"`
	// MinPerSecond retries are always allowed, so low traffic can retry.
	// Default 10.
	MinPerSecond *int `yaml:"min_per_second,omitempty"`
}

// Route maps matching requests to an upstream.
type Route struct {
	// Name identifies the route in logs and metrics; unique. Default: its
	// hosts and path prefix ("api.example.com/api/"), made unique with its
	// methods or a counter if another route has that name.
	Name string `yaml:"name,omitempty"`
	// Match selects requests.
	Match Match `yaml:"match,omitempty"`
	// Upstream to forward to. Required, unless the route has respond or
	// redirect.
	Upstream string `yaml:"upstream,omitempty"`
	// StripPrefix removes the matched path prefix before forwarding
	// (a remaining empty path becomes "/"). Default false.
	StripPrefix bool `yaml:"strip_prefix,omitempty"`
	// Timeouts for requests on this route.
	Timeouts Timeouts `yaml:"timeouts,omitempty"`
	// Retry policy.
	Retry Retry `yaml:"retry,omitempty"`
	// Breaker, when set, adds a circuit breaker for this route alone, in
	// addition to the upstream's.
	Breaker *Breaker `yaml:"breaker,omitempty"`
	// MaxBodyBytes rejects larger request bodies with 413; 0 means no limit.
	// Default 10MiB.
	MaxBodyBytes *ByteSize `yaml:"max_body_bytes,omitempty"`
	// Listeners restricts the route to these listeners. Default: all.
	Listeners []string `yaml:"listeners,omitempty"`
	// DataClasses the route carries (for the residency policy).
	DataClasses []string `yaml:"data_classes,omitempty"`
	// Upgrades are the protocols (Upgrade header names, such as websocket)
	// a client may switch this route's connections to; Parse lower-cases
	// them. A request asking for any other upgrade (h2c, say) is forwarded
	// as a plain request, without its Upgrade header, and a backend that
	// switches protocols on it anyway gets a 502: a tunnel would let the
	// client talk to the backend past routing. An empty list allows none.
	// Default [websocket].
	Upgrades []string `yaml:"upgrades,omitempty"`
	// RateLimit, when set, limits how fast requests may arrive on the
	// route, per client address, header value or for the whole route
	// (429 past it). Default: no limit.
	RateLimit *RateLimit `yaml:"rate_limit,omitempty"`
	// Access lists allow and deny rules on the client address, checked in
	// the order written: the first entry that holds the client decides
	// (403 for deny); a client none holds is allowed, as in nginx, so end
	// with {deny: [all]} to refuse the rest. Default: everyone.
	Access []*AccessRule `yaml:"access,omitempty"`
	// BasicAuth, when set, asks for a user from an htpasswd file (401
	// with WWW-Authenticate otherwise). Default: none.
	BasicAuth *BasicAuth `yaml:"basic_auth,omitempty"`
	// ForwardAuth, when set, asks an auth service about each request.
	// Default: none.
	ForwardAuth *ForwardAuth `yaml:"forward_auth,omitempty"`
	// CORS, when set, answers preflights and marks allowed origins'
	// answers. Default: none (no Access-Control-* headers are added).
	CORS *CORS `yaml:"cors,omitempty"`
	// Respond, when set, answers the route's requests without an upstream.
	Respond *Respond `yaml:"respond,omitempty"`
	// Redirect, when set, redirects the route's requests without an
	// upstream.
	Redirect *Redirect `yaml:"redirect,omitempty"`
	// Maintenance, when set, says how the route answers while in
	// maintenance; every route can be switched into maintenance at run
	// time, with a JSON 503 when it has no section. Default: off.
	Maintenance *Maintenance `yaml:"maintenance,omitempty"`
	// Line is where the route starts in its file, for messages; set by
	// Parse.
	Line int `yaml:"-"`
}

// Match selects requests for a route.
type Match struct {
	// PathPrefix matches on segment boundaries: "/api/v1" and "/api/v1/"
	// both match "/api/v1/x" and never "/api/v1evil". Default "/".
	PathPrefix string `yaml:"path_prefix,omitempty"`
	// Hosts the route answers for, without port; "*.example.com" matches
	// one or more leading labels. Parse lower-cases them. Default: any host.
	Hosts []string `yaml:"hosts,omitempty"`
	// Methods the route accepts, upper case; others fall through to later
	// routes. Default: any method.
	Methods []string `yaml:"methods,omitempty"`
}

// Timeouts bound each phase of a proxied request.
type Timeouts struct {
	// Connect overrides the upstream's connect timeout for this route.
	// Default: the upstream's ConnectTimeout.
	Connect Duration `yaml:"connect,omitempty"`
	// Response bounds one try: from sending the request until the response
	// head arrives, and between reads of the body (nginx's
	// proxy_read_timeout). At most Total. Default 30s.
	Response Duration `yaml:"response,omitempty"`
	// Send bounds writing the request to the upstream between writes
	// (nginx's proxy_send_timeout). Default 30s.
	Send Duration `yaml:"send,omitempty"`
	// Total is the deadline for the whole request including retries, until
	// the response head is sent to the client. Default 60s.
	Total Duration `yaml:"total,omitempty"`
}

// Retry configures retrying a request on another target.
type Retry struct {
	// Tries is the most attempts in total, counting the first; 1 disables
	// retries. Default 2.
	Tries int `yaml:"tries,omitempty"`
	// On lists the conditions to retry on: "error" (connect error or reset
	// before the response), "timeout", and status codes "http_500",
	// "http_502", "http_503", "http_504", "http_429". Default [error,
	// timeout].
	On []string `yaml:"on,omitempty"`
	// Timeout bounds the time spent retrying (nginx's
	// proxy_next_upstream_timeout); 0 means only Total bounds it. Default 0.
	Timeout Duration `yaml:"timeout,omitempty"`
	// NonIdempotent allows retrying POST and PATCH after the request was
	// sent. Requests with an Idempotency-Key header are always retryable.
	// Default false.
	NonIdempotent bool `yaml:"non_idempotent,omitempty"`
	// BufferBytes is how much of a request body is buffered so a retry can
	// resend it; larger bodies are streamed and not retried after sending.
	// Default 64KiB.
	BufferBytes *ByteSize `yaml:"buffer_bytes,omitempty"`
}

// Conditions a route may retry on (Retry.On), named as nginx's
// proxy_next_upstream names them.
const (
	// RetryOnError retries after a connect error, or a connection reset or
	// closed before any of the response arrived.
	RetryOnError = "error"
	// RetryOnTimeout retries after a connect or response timeout.
	RetryOnTimeout = "timeout"
	// RetryOnHTTP500 and the others retry when the upstream answers with
	// that status.
	RetryOnHTTP500 = "http_500"
	RetryOnHTTP502 = "http_502"
	RetryOnHTTP503 = "http_503"
	RetryOnHTTP504 = "http_504"
	RetryOnHTTP429 = "http_429"
)

// UpgradeWebSocket is the WebSocket protocol's Upgrade name (RFC 6455),
// the one upgrade routes allow by default.
const UpgradeWebSocket = "websocket"

// Default values, in one place. docs/config.md lists the same.
const (
	DefaultAdminListen          = "127.0.0.1:9901"
	DefaultShutdownGrace        = 30 * time.Second
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultClientSendTimeout    = 60 * time.Second
	DefaultIdleTimeout          = 75 * time.Second
	DefaultMaxHeaderBytes       = 32 << 10
	DefaultMaxURIBytes          = 8 << 10
	DefaultConnectTimeout       = 1 * time.Second
	DefaultKeepaliveIdle        = 32
	DefaultKeepaliveIdleTimeout = 60 * time.Second
	DefaultQueueTimeout         = 100 * time.Millisecond
	DefaultMaxFails             = 1
	DefaultFailTimeout          = 10 * time.Second
	DefaultHealthPath           = "/health"
	DefaultHealthInterval       = 5 * time.Second
	DefaultHealthTimeout        = 1 * time.Second
	DefaultHealthRise           = 2
	DefaultHealthFall           = 3
	DefaultConsecutiveFailures  = 5
	DefaultFailureRatio         = 0.5
	DefaultSlowCallDuration     = 1 * time.Second
	DefaultBreakerWindow        = 10 * time.Second
	DefaultMinRequests          = 20
	DefaultOpenFor              = 5 * time.Second
	DefaultMaxOpenFor           = 60 * time.Second
	DefaultHalfOpenProbes       = 3
	DefaultRetryBudgetRatio     = 0.2
	DefaultRetryBudgetMin       = 10
	DefaultResponseTimeout      = 30 * time.Second
	DefaultSendTimeout          = 30 * time.Second
	DefaultTotalTimeout         = 60 * time.Second
	DefaultTries                = 2
	DefaultMaxBodyBytes         = 10 << 20
	DefaultRetryBufferBytes     = 64 << 10
)
