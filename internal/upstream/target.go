package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Active health as reported by the health checker.
const (
	activeUnknown int32 = iota
	activeUp
	activeDown
)

// Target is one backend server with its connection pool, its passive
// health, its bulkhead and its counters. A Target outlives config reloads
// as long as its upstream still lists its address, so none of that state is
// lost on reload.
type Target struct {
	Addr string

	pool pool

	// Passive health (nginx's max_fails/fail_timeout).
	downUntil atomic.Int64 // unix nanos; 0 when up
	pmu       sync.Mutex
	fails     int
	nfails    atomic.Int32 // mirrors fails for the lock-free fast path
	failStart time.Time

	active atomic.Int32

	inflight atomic.Int64
	// Bulkhead: slots has capacity MaxConcurrent when limited.
	bulk atomic.Pointer[bulkhead]

	requests  atomic.Uint64
	failures  atomic.Uint64
	discarded [DiscardReasonCount]atomic.Uint64
	retired   atomic.Bool
}

// TargetStats is a point-in-time view of a target for status pages.
type TargetStats struct {
	Address   string    `json:"address"`
	Weight    int       `json:"weight"`
	Backup    bool      `json:"backup,omitempty"`
	Active    string    `json:"active_health"`  // unknown, up, down
	Passive   string    `json:"passive_health"` // up, down
	DownUntil time.Time `json:"passive_down_until,omitzero"`
	Fails     int       `json:"recent_failures"`
	InFlight  int64     `json:"in_flight"`
	Requests  uint64    `json:"requests"`
	Failures  uint64    `json:"failures"`
	IdleConns int       `json:"idle_connections"`
}

func newTarget(addr string) *Target {
	return &Target{Addr: addr}
}

// passivelyDown reports whether passive health has ejected the target.
func (t *Target) passivelyDown(now int64) bool {
	d := t.downUntil.Load()
	return d != 0 && now < d
}

// eligible reports whether the target may receive a request now.
func (t *Target) eligible(now int64) bool {
	return !t.passivelyDown(now) && t.active.Load() != activeDown
}

// ReportFailure records a failed attempt (connect error, timeout, reset or
// a status the route counts as failure). maxFails failures within
// failTimeout eject the target for failTimeout. A target whose ejection has
// just ended and that fails again is ejected at once, as nginx does.
func (t *Target) ReportFailure(now time.Time, maxFails int, failTimeout time.Duration) {
	t.failures.Add(1)
	if maxFails <= 0 {
		return
	}
	t.pmu.Lock()
	if t.fails < maxFails && now.Sub(t.failStart) > failTimeout {
		t.fails, t.failStart = 0, now
	}
	t.fails++
	t.nfails.Store(int32(t.fails))
	if t.fails >= maxFails {
		t.downUntil.Store(now.Add(failTimeout).UnixNano())
	}
	t.pmu.Unlock()
}

// ReportSuccess records an attempt that got a response that is not a
// failure; it clears the failure count, unless the target is ejected (a
// request that started before the ejection does not end it).
func (t *Target) ReportSuccess(now int64) {
	if t.nfails.Load() == 0 || t.passivelyDown(now) {
		return
	}
	t.pmu.Lock()
	t.fails = 0
	t.nfails.Store(0)
	t.downUntil.Store(0)
	t.pmu.Unlock()
}

// SetActive records the active health checker's verdict.
func (t *Target) SetActive(up bool) {
	if up {
		t.active.Store(activeUp)
	} else {
		t.active.Store(activeDown)
	}
}

// ResetActive forgets the active health verdict (the upstream no longer
// has a health check).
func (t *Target) ResetActive() { t.active.Store(activeUnknown) }

// ActiveState is "unknown", "up" or "down".
func (t *Target) ActiveState() string {
	switch t.active.Load() {
	case activeUp:
		return "up"
	case activeDown:
		return "down"
	}
	return "unknown"
}

// Retired reports whether the target has left its upstream (a reload or
// target switch removed it); it gets no new requests.
func (t *Target) Retired() bool { return t.retired.Load() }

// InFlight is the number of requests being forwarded to the target.
func (t *Target) InFlight() int64 { return t.inflight.Load() }

// Discarded is how many of the target's connections were closed for
// reason instead of going back to the pool.
func (t *Target) Discarded(reason DiscardReason) uint64 {
	if reason >= DiscardReasonCount {
		return 0
	}
	return t.discarded[reason].Load()
}

func (t *Target) stats(now time.Time) TargetStats {
	s := TargetStats{
		Address:  t.Addr,
		Active:   t.ActiveState(),
		Passive:  "up",
		InFlight: t.inflight.Load(),
		Requests: t.requests.Load(),
		Failures: t.failures.Load(),
	}
	if d := t.downUntil.Load(); d != 0 && now.UnixNano() < d {
		s.Passive = "down"
		s.DownUntil = time.Unix(0, d)
	}
	t.pmu.Lock()
	s.Fails = t.fails
	t.pmu.Unlock()
	s.IdleConns = t.pool.idleCount()
	return s
}
