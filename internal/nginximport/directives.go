package nginximport

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// level is the nginx context a directive appears in.
type level int

const (
	levelHTTP level = iota
	levelServer
	levelLocation
)

// nginx's defaults for the proxy directives whose Skjold defaults differ;
// Convert writes them out so the imported routes behave as nginx did.
const (
	nginxConnectTimeout = 60 * time.Second
	nginxReadTimeout    = 60 * time.Second
	nginxSendTimeout    = 60 * time.Second
	nginxMaxBodyBytes   = 1 << 20
)

// settings are the directives nginx inherits from http to server to
// location unless a lower level sets them again. nil means "not set here or
// above": nginx's default applies.
type settings struct {
	connect, read, send *time.Duration
	next                *nextUpstream
	tries               *int
	nextTimeout         *time.Duration
	maxBody             *int64
	// Client-side timeouts, taken per listener from its default server.
	keepaliveTimeout, headerTimeout *time.Duration
	// ssl is an "ssl on" in effect (deprecated, but still accepted by nginx
	// before 1.25.1): every listen of the server is TLS.
	ssl *directive
	// The checks nginx inherits level by level, each kind on its own.
	access, basicAuth, authRequest *check
	// tls are the TLS directives in effect (tls.go).
	tls tlsSettings
}

// nextUpstream is a parsed proxy_next_upstream.
type nextUpstream struct {
	off           bool
	on            []string
	nonIdempotent bool
}

// common handles the directives that may appear at several levels: the
// inherited proxy settings, proxy_set_header and proxy_http_version, include
// and everything Convert does not translate. seen holds the names already
// set in this block, since nginx rejects most directives given twice.
func (c *converter) common(d *directive, set *settings, seen map[string]bool, lvl level) error {
	switch d.name {
	case "proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout",
		"proxy_next_upstream_timeout", "proxy_next_upstream", "proxy_next_upstream_tries",
		"client_max_body_size", "keepalive_timeout", "client_header_timeout":
		if d.isBlock {
			return c.errorf(d, "%q takes no block", d.name)
		}
		if seen[d.name] {
			return c.errorf(d, "%q directive is duplicate", d.name)
		}
		seen[d.name] = true
		return c.setting(d, set, lvl)
	case "proxy_set_header":
		return c.proxySetHeader(d)
	case "ssl_certificate", "ssl_certificate_key", "ssl_protocols", "ssl_client_certificate", "ssl_verify_client":
		return c.serverTLSDirective(d, set, seen, lvl)
	case "proxy_ssl_verify", "proxy_ssl_server_name", "proxy_ssl_trusted_certificate", "proxy_ssl_name",
		"proxy_ssl_certificate", "proxy_ssl_certificate_key":
		return c.proxyTLSDirective(d, set, seen)
	case "add_header":
		return c.addHeader(d, set, seen, lvl)
	case "proxy_http_version":
		if err := c.args(d, 1, 1); err != nil {
			return err
		}
		switch d.args[0] {
		case "1.1":
			// What Skjold always speaks to upstreams.
		case "1.0":
			c.warn(d, "not translated (Skjold always speaks HTTP/1.1 to upstreams, with keepalive)")
		default:
			return c.errorf(d, "invalid value %q: expected 1.0 or 1.1", d.args[0])
		}
		return nil
	case "include":
		c.includeNotFollowed(d)
		return nil
	}
	c.untranslated(d)
	return nil
}

// untranslated reports a directive Convert has no translation for, with
// the severity and reason reason gives.
func (c *converter) untranslated(d *directive) {
	sev, why := reason(d.name)
	if d.isBlock {
		c.warnAt(sev, d, "block not translated (%s); its contents are ignored", why)
		return
	}
	c.warnAt(sev, d, "not translated (%s)", why)
}

// includeNotFollowed reports an include read without a directory to
// resolve it against (a config from stdin with no Options.IncludeDir).
// What the file holds is unknown, so it may well route or restrict.
func (c *converter) includeNotFollowed(d *directive) {
	c.reroute(d, "%s: not followed (no directory to resolve it against); import the file from disk, or paste the included file's contents here", strings.Join(d.args, " "))
}

// setting parses one inherited directive into set.
func (c *converter) setting(d *directive, set *settings, lvl level) error {
	timeArg := func() (*time.Duration, error) {
		if err := c.args(d, 1, 1); err != nil {
			return nil, err
		}
		v, err := parseTime(d.args[0])
		if err != nil {
			return nil, c.errorf(d, "%v", err)
		}
		return &v, nil
	}
	var err error
	switch d.name {
	case "proxy_connect_timeout":
		set.connect, err = timeArg()
		if err == nil && *set.connect == 0 {
			err = c.errorf(d, "a zero timeout is not valid")
		}
	case "proxy_read_timeout":
		set.read, err = timeArg()
		if err == nil && *set.read == 0 {
			err = c.errorf(d, "a zero timeout is not valid")
		}
	case "proxy_send_timeout":
		set.send, err = timeArg()
		if err == nil && *set.send == 0 {
			err = c.errorf(d, "a zero timeout is not valid")
		}
	case "proxy_next_upstream_timeout":
		set.nextTimeout, err = timeArg()
	case "proxy_next_upstream_tries":
		if err := c.args(d, 1, 1); err != nil {
			return err
		}
		n, perr := parseCount(d.args[0])
		if perr != nil || n > 1000 {
			return c.errorf(d, "invalid number of tries %q", d.args[0])
		}
		v := int(n)
		set.tries = &v
	case "proxy_next_upstream":
		set.next, err = c.nextUpstream(d)
	case "client_max_body_size":
		if err := c.args(d, 1, 1); err != nil {
			return err
		}
		n, perr := parseSize(d.args[0])
		if perr != nil {
			return c.errorf(d, "%v", perr)
		}
		set.maxBody = &n
	case "keepalive_timeout":
		if lvl == levelLocation {
			c.warn(d, "not translated in a location (Skjold sets the client idle timeout per listener)")
			return nil
		}
		if err := c.args(d, 1, 2); err != nil {
			return err
		}
		v, perr := parseTime(d.args[0])
		if perr != nil {
			return c.errorf(d, "%v", perr)
		}
		if v == 0 {
			c.warn(d, "keepalive_timeout 0 (no client keepalive) is not translated; Skjold keeps client connections open for its default idle timeout")
			return nil
		}
		if len(d.args) == 2 {
			c.warn(d, "the second value (the Keep-Alive response header) is not translated")
		}
		set.keepaliveTimeout = &v
	case "client_header_timeout":
		if lvl == levelLocation {
			return c.errorf(d, "%q directive is not allowed in a location", d.name)
		}
		set.headerTimeout, err = timeArg()
		if err == nil && *set.headerTimeout == 0 {
			err = c.errorf(d, "a zero timeout is not valid")
		}
	}
	return err
}

// nextUpstream parses proxy_next_upstream's conditions.
func (c *converter) nextUpstream(d *directive) (*nextUpstream, error) {
	if err := c.args(d, 1, -1); err != nil {
		return nil, err
	}
	n := &nextUpstream{}
	var dropped []string
	for _, a := range d.args {
		switch a {
		case "off":
			n.off = true
		case "error", "timeout", "http_500", "http_502", "http_503", "http_504", "http_429":
			if !slices.Contains(n.on, a) {
				n.on = append(n.on, a)
			}
		case "non_idempotent":
			n.nonIdempotent = true
		case "invalid_header", "http_403", "http_404", "updating":
			dropped = append(dropped, a)
		default:
			return nil, c.errorf(d, "invalid value %q", a)
		}
	}
	if len(dropped) > 0 && !n.off {
		c.warn(d, "%s: not translated (Skjold retries on error, timeout, http_500, http_502, http_503, http_504 and http_429)", strings.Join(dropped, ", "))
	}
	return n, nil
}

// proxySetHeader accepts the headers Skjold already sends and warns about
// the rest.
func (c *converter) proxySetHeader(d *directive) error {
	if err := c.args(d, 2, 2); err != nil {
		return err
	}
	name, value := strings.ToLower(d.args[0]), d.args[1]
	switch {
	case name == "connection" && value == "":
		// Skjold manages upstream connections itself and never forwards the
		// client's Connection header, which is what this line asks nginx for.
	case name == "host" && (value == "$host" || value == "$http_host"):
		c.note(d, "Host %s: Skjold forwards the client's Host header by default", value)
	case name == "x-forwarded-for" && (value == "$proxy_add_x_forwarded_for" || value == "$remote_addr"):
		c.note(d, "X-Forwarded-For %s: Skjold appends the client address to X-Forwarded-For by default", value)
	case name == "x-forwarded-proto" && value == "$scheme":
		c.note(d, "X-Forwarded-Proto %s: Skjold sets X-Forwarded-Proto by default", value)
	case name == "x-forwarded-host" && (value == "$host" || value == "$http_host"):
		c.note(d, "X-Forwarded-Host %s: Skjold sets X-Forwarded-Host by default", value)
	case name == "upgrade" && value == "$http_upgrade",
		name == "connection" && (strings.EqualFold(value, "upgrade") || value == "$connection_upgrade"):
		c.note(d, "%s %s: Skjold passes protocol upgrades (WebSocket) through by default", d.args[0], value)
	case name == "x-real-ip":
		c.warn(d, "X-Real-IP %s: not translated: Skjold cannot set request headers yet and passes an X-Real-IP the client sent through unchanged; backends must take the client address from the last X-Forwarded-For entry, which Skjold appends", value)
	default:
		c.warn(d, "%s %q: not translated (Skjold cannot set request headers yet); the upstream no longer gets this header", d.args[0], value)
	}
	return nil
}

// args checks the argument count; max < 0 means no upper bound.
func (c *converter) args(d *directive, lo, hi int) error {
	if d.isBlock {
		return c.errorf(d, "%q takes no block", d.name)
	}
	if len(d.args) < lo || (hi >= 0 && len(d.args) > hi) {
		return c.errorf(d, "invalid number of arguments in %q directive", d.name)
	}
	return nil
}

// reason says how much a directive Convert does not translate matters,
// and why, for the warning.
func reason(name string) (Severity, string) {
	switch {
	case strings.HasPrefix(name, "gzip"), name == "brotli":
		return Behaviour, "Skjold does not compress"
	case name == "ssl_stapling", name == "ssl_stapling_verify":
		return NoEffect, "Skjold always staples an OCSP response when the certificate names a responder"
	case name == "ssl_stapling_file", name == "ssl_stapling_responder":
		return Behaviour, "Skjold staples only what the responder named in the certificate answers; a file or another responder is not used"
	case name == "ssl_crl", name == "proxy_ssl_crl":
		return Behaviour, "Skjold does not check certificate revocation lists; a revoked certificate is accepted"
	case strings.HasPrefix(name, "ssl"), strings.HasPrefix(name, "proxy_ssl"):
		return NoEffect, "Skjold chooses its own TLS parameters: TLS 1.2 and 1.3 with AEAD ciphers only and session tickets whose keys rotate"
	case name == "http2":
		return Behaviour, "Skjold serves HTTP/1.1; clients fall back to it"
	case strings.HasPrefix(name, "proxy_cache"), strings.HasPrefix(name, "proxy_store"),
		name == "expires", name == "etag":
		return Behaviour, "Skjold does not cache"
	case name == "root", name == "alias", name == "index", name == "autoindex",
		name == "sendfile", name == "tcp_nopush", name == "tcp_nodelay", name == "aio", name == "directio",
		strings.HasPrefix(name, "open_file_cache"), name == "types", name == "default_type",
		name == "log_not_found", name == "disable_symlinks", name == "types_hash_max_size",
		name == "types_hash_bucket_size":
		return NoEffect, "Skjold does not serve files"
	case name == "map", name == "geo", name == "split_clients", name == "set":
		return NoEffect, "defines variables; Skjold has none, and the directives using them are reported where they are used"
	case name == "error_page", name == "proxy_intercept_errors":
		return Behaviour, "Skjold answers errors with its own JSON bodies and passes upstream errors through"
	case name == "limit_req_zone", name == "limit_conn_zone":
		return NoEffect, "defines a zone; limit_req and limit_conn are reported where they are used"
	case strings.HasPrefix(name, "limit_"):
		return Behaviour, "Skjold does not rate- or connection-limit clients yet; see max_concurrent and retry_budget"
	case name == "auth_basic_user_file":
		return NoEffect, "the password file of auth_basic, which is reported where it is used"
	case strings.HasPrefix(name, "auth_"), name == "satisfy":
		return Routing, "Skjold does not do access control yet"
	case name == "add_header", name == "more_set_headers":
		return Behaviour, "Skjold does not add response headers yet; clients no longer get this header"
	case name == "proxy_hide_header", name == "proxy_pass_header", name == "proxy_redirect",
		name == "proxy_cookie_domain", name == "proxy_cookie_path":
		return Behaviour, "Skjold passes response headers through unchanged"
	case strings.HasPrefix(name, "proxy_buffer"), name == "proxy_buffers", name == "proxy_busy_buffers_size",
		name == "proxy_request_buffering", name == "proxy_max_temp_file_size", name == "proxy_temp_path",
		name == "proxy_temp_file_write_size", name == "client_body_buffer_size", name == "client_body_temp_path",
		name == "client_header_buffer_size", name == "output_buffers", name == "postpone_output":
		return NoEffect, "Skjold streams bodies and sizes its buffers itself"
	case name == "error_log", name == "log_subrequest":
		return NoEffect, "Skjold logs errors to stderr as JSON"
	case name == "access_log", name == "log_format":
		return Behaviour, "Skjold writes one JSON access log, configured under access_log"
	case name == "resolver", name == "resolver_timeout":
		return NoEffect, "Skjold resolves upstream names with the system resolver"
	case name == "stream", name == "mail":
		return Behaviour, "Skjold proxies HTTP only; these ports are not served"
	case name == "grpc_pass", name == "fastcgi_pass", name == "uwsgi_pass", name == "scgi_pass", name == "memcached_pass",
		strings.HasPrefix(name, "fastcgi_"), strings.HasPrefix(name, "uwsgi_"), strings.HasPrefix(name, "scgi_"), strings.HasPrefix(name, "grpc_"):
		return Behaviour, "Skjold proxies HTTP only"
	case name == "server_tokens", name == "server_names_hash_bucket_size", name == "server_names_hash_max_size",
		name == "variables_hash_max_size", name == "variables_hash_bucket_size", name == "proxy_headers_hash_max_size",
		name == "proxy_headers_hash_bucket_size", name == "map_hash_bucket_size", name == "map_hash_max_size",
		name == "charset", name == "source_charset", name == "absolute_redirect", name == "port_in_redirect",
		name == "server_name_in_redirect", name == "merge_slashes", name == "ignore_invalid_headers",
		name == "underscores_in_headers", name == "reset_timedout_connection", name == "lingering_close",
		name == "lingering_time", name == "lingering_timeout", name == "msie_padding", name == "msie_refresh":
		return NoEffect, "tunes nginx itself; Skjold has no equivalent"
	case name == "events", name == "worker_processes", name == "worker_connections",
		name == "worker_rlimit_nofile", name == "user", name == "pid", name == "daemon",
		name == "load_module", name == "env", name == "pcre_jit", name == "master_process",
		name == "multi_accept", name == "use", name == "accept_mutex", name == "thread_pool",
		name == "worker_shutdown_timeout", name == "worker_cpu_affinity", name == "worker_priority",
		name == "lock_file", name == "timer_resolution", name == "working_directory":
		return NoEffect, "nginx process setting; Skjold has no equivalent"
	}
	return Behaviour, "no Skjold equivalent"
}

func (c *converter) errorf(d *directive, format string, args ...any) error {
	return &Error{File: d.file, Line: d.line, Message: d.name + ": " + fmt.Sprintf(format, args...)}
}

func (c *converter) notAllowed(d *directive) error {
	return &Error{File: d.file, Line: d.line, Message: fmt.Sprintf("%q directive is not allowed here", d.name)}
}
