package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
	"github.com/skjold-dev/skjold/internal/health"
)

// ReloadResult is the body of a POST /reload answer.
type ReloadResult struct {
	// Result is "applied" or "rejected".
	Result string `json:"result"`
	// Version is the config version now in force, when applied.
	Version string `json:"version,omitempty"`
	// Warnings, when applied, are what the operator should know: above
	// all, upstreams whose file targets a runtime override replaces.
	Warnings []string `json:"warnings,omitempty"`
	// Error is the full report, one problem per line, when rejected.
	Error string `json:"error,omitempty"`
}

// The values of ReloadResult.Result.
const (
	ReloadApplied  = "applied"
	ReloadRejected = "rejected"
)

// errorBody is every error answer: {"error":"..."}.
type errorBody struct {
	Error string `json:"error"`
}

// handler serves the admin endpoints.
type handler struct {
	gw       Gateway
	reload   ReloadFunc
	gatherer prometheus.Gatherer
	log      *slog.Logger
}

// routes builds the mux. Each path also gets a method-less pattern so a
// wrong method is answered with JSON and an Allow header instead of the
// mux's plain-text 405.
func (h *handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(method, path string, fn http.HandlerFunc) {
		mux.HandleFunc(method+" "+path, fn)
		allow := method
		switch method {
		case http.MethodGet:
			allow = "GET, HEAD"
		case http.MethodDelete: // the targets path also takes PUT
			allow = "PUT, DELETE"
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; use "+allow)
		})
	}
	handle(http.MethodGet, "/status", h.status)
	handle(http.MethodGet, "/healthz", h.healthz)
	handle(http.MethodGet, "/readyz", h.readyz)
	handle(http.MethodPost, "/reload", h.doReload)
	mux.HandleFunc("PUT /upstreams/{name}/targets", h.putTargets)
	handle(http.MethodDelete, "/upstreams/{name}/targets", h.deleteTargets)
	handle(http.MethodGet, "/metrics", h.metrics())
	handle(http.MethodPut, "/routes/{name}/maintenance", h.putMaintenance)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no admin endpoint "+r.URL.Path+"; see GET /status, /healthz, /readyz, /metrics, POST /reload, PUT and DELETE /upstreams/{name}/targets, PUT /routes/{name}/maintenance")
	})
	return mux
}

func (h *handler) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.gw.Status())
}

// healthz says the process is alive; it does not consult the gateway.
func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz says whether the gateway should receive traffic: a config is
// applied and it is not shutting down.
func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if !h.gw.Ready() {
		writeError(w, http.StatusServiceUnavailable, "not ready: no config applied yet, or shutting down")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

func (h *handler) doReload(w http.ResponseWriter, r *http.Request) {
	if h.reload == nil {
		writeError(w, http.StatusNotImplemented, "reload is not available: this gateway was started without a config source")
		return
	}
	rep, err := h.reload(r.Context())
	if err != nil {
		report := err.Error()
		// A validation report reads best on its own: one problem per line,
		// without the wrapping prefix on the first.
		if ve, ok := errors.AsType[*config.ValidationError](err); ok {
			report = ve.Error()
		}
		h.log.Warn("config reload rejected; the running config keeps serving", "error", err)
		writeJSON(w, http.StatusUnprocessableEntity, ReloadResult{Result: ReloadRejected, Error: report})
		return
	}
	writeJSON(w, http.StatusOK, ReloadResult{Result: ReloadApplied, Version: rep.Version, Warnings: rep.Warnings})
}

// putTargets switches an upstream to new targets.
func (h *handler) putTargets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	r.Body = http.MaxBytesReader(w, r.Body, maxTargetsBody)
	sw, err := decodeTargets(r.Body)
	if err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, err.Error())
		return
	}
	// The switch may wait for health checks and then for the old targets
	// to drain; let the answer be written after both.
	budget := sw.HealthTimeout + sw.DrainTimeout + writeTimeout
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(budget))

	res, err := h.gw.SetTargets(r.Context(), name, sw)
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, gateway.ErrUnknownUpstream):
			status = http.StatusNotFound
		case errors.Is(err, health.ErrNotHealthy):
			status = http.StatusConflict
		}
		h.log.Warn("target switch failed; nothing was switched", "upstream", name, "error", err)
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// deleteTargets drops an upstream's target override: the config file's
// targets are in force again. ?drain_timeout= bounds the drain (default
// 30s).
func (h *handler) deleteTargets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	drain, err := switchTimeout(r.URL.Query().Get("drain_timeout"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "drain_timeout: "+err.Error())
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(drain + writeTimeout))
	res, err := h.gw.DropTargets(r.Context(), name, drain)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, gateway.ErrUnknownUpstream) {
			status = http.StatusNotFound
		}
		h.log.Warn("dropping the target override failed; nothing changed", "upstream", name, "error", err)
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) metrics() http.HandlerFunc {
	if h.gatherer == nil {
		return func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "metrics are not enabled on this gateway")
		}
	}
	ph := promhttp.HandlerFor(h.gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return ph.ServeHTTP
}

// requireToken answers 401 unless the request carries the bearer token.
// Both sides are hashed before the constant-time compare so that neither
// the token's content nor its length leaks through timing.
func requireToken(token string, log *slog.Logger, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, got, ok := strings.Cut(auth, " ")
		// RFC 9110 section 11.1: the scheme is case-insensitive.
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="skjold admin"`)
			writeError(w, http.StatusUnauthorized, "this admin API needs Authorization: Bearer <token>")
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			log.Warn("admin call refused: wrong token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="skjold admin", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "wrong admin token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// commonHeaders keeps admin answers out of caches and browsers' guesses.
func commonHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}
