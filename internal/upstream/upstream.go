// Package upstream holds the pools of targets routes forward to: per-target
// keepalive connections, passive health, bulkheads, load balancing (smooth
// weighted round-robin, or least-requests with power of two choices), the
// upstream's circuit breaker and its retry budget. Its state survives config
// reloads through a Registry.
package upstream

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skjold-dev/skjold/internal/breaker"
	"github.com/skjold-dev/skjold/internal/config"
)

// Balance policies.
const (
	RoundRobin   = "round_robin"
	LeastRequest = "least_request"
)

// Settings configure an upstream; see config.Upstream for each field's
// meaning and default.
type Settings struct {
	Balance            string
	ConnectTimeout     time.Duration
	MaxIdle            int
	IdleTimeout        time.Duration
	MaxRequestsPerConn int
	MaxConcurrent      int
	MaxQueue           int
	QueueTimeout       time.Duration
	MaxFails           int
	FailTimeout        time.Duration
	BreakerDisabled    bool
	Breaker            breaker.Settings
	RetryBudgetRatio   float64
	RetryBudgetMin     int
	// TLS makes connections to the targets TLS (NewTLS); nil: plain TCP.
	TLS *TLS
}

type member struct {
	t      *Target
	weight int
	backup bool
	cw     int // smooth weighted round-robin's current weight
}

// Upstream is one snapshot of a pool of targets. A reload builds a new
// Upstream that shares the old one's targets, breaker and budget.
type Upstream struct {
	Name string
	set  Settings
	// members: primaries first, then backups.
	members  []member
	nPrimary int
	mu       sync.Mutex // guards members[].cw
	dialer   net.Dialer

	// next is the snapshot of this upstream that replaced this one.
	next atomic.Pointer[Upstream]

	// Breaker is nil when disabled.
	Breaker *breaker.Breaker
	Budget  *RetryBudget

	// staged is what Registry.Commit still has to apply; nil once it did.
	staged *staged
}

// Latest returns the newest snapshot of this upstream: u itself unless a
// reload or target switch has replaced it.
func (u *Upstream) Latest() *Upstream {
	for {
		n := u.next.Load()
		if n == nil {
			return u
		}
		u = n
	}
}

// Settings returns the upstream's settings.
func (u *Upstream) Settings() *Settings { return &u.set }

// Tried is a set of member indexes already attempted by one request.
type Tried uint64

func (t Tried) has(i int) bool { return i < 64 && t&(1<<uint(i)) != 0 }

// With returns the set with member i added.
func (t Tried) With(i int) Tried {
	if i >= 64 {
		return t
	}
	return t | 1<<uint(i)
}

// ErrNoHealthyTarget: every target is ejected, down or already tried.
var ErrNoHealthyTarget = errors.New("no healthy target")

// Pick chooses a target that is not in tried and is healthy: passive health
// has not ejected it and active health does not say down. Backups are used
// only when no primary qualifies. It returns the member index for Tried.
func (u *Upstream) Pick(tried Tried, now time.Time) (*Target, int, error) {
	ns := now.UnixNano()
	if i := u.pick(0, u.nPrimary, tried, ns); i >= 0 {
		return u.members[i].t, i, nil
	}
	if i := u.pick(u.nPrimary, len(u.members), tried, ns); i >= 0 {
		return u.members[i].t, i, nil
	}
	return nil, -1, ErrNoHealthyTarget
}

// CanPick reports whether Pick would find a target now, without choosing
// one (round-robin state is left as it is).
func (u *Upstream) CanPick(tried Tried, now time.Time) bool {
	ns := now.UnixNano()
	for i := range u.members {
		if !tried.has(i) && u.members[i].t.eligible(ns) {
			return true
		}
	}
	return false
}

func (u *Upstream) pick(lo, hi int, tried Tried, now int64) int {
	if hi-lo == 1 {
		if !tried.has(lo) && u.members[lo].t.eligible(now) {
			return lo
		}
		return -1
	}
	if u.set.Balance == LeastRequest {
		return u.pickLeast(lo, hi, tried, now)
	}
	// Smooth weighted round-robin, as nginx does it.
	best, total := -1, 0
	u.mu.Lock()
	for i := lo; i < hi; i++ {
		m := &u.members[i]
		if tried.has(i) || !m.t.eligible(now) {
			continue
		}
		m.cw += m.weight
		total += m.weight
		if best < 0 || m.cw > u.members[best].cw {
			best = i
		}
	}
	if best >= 0 {
		u.members[best].cw -= total
	}
	u.mu.Unlock()
	return best
}

// pickLeast is power of two choices: of two random eligible targets, the one
// with fewer requests in flight per unit of weight.
func (u *Upstream) pickLeast(lo, hi int, tried Tried, now int64) int {
	var buf [64]int
	ok := buf[:0]
	for i := lo; i < hi; i++ {
		if !tried.has(i) && u.members[i].t.eligible(now) {
			ok = append(ok, i)
		}
	}
	switch len(ok) {
	case 0:
		return -1
	case 1:
		return ok[0]
	}
	a := rand.IntN(len(ok))
	b := rand.IntN(len(ok) - 1)
	if b >= a {
		b++
	}
	ma, mb := &u.members[ok[a]], &u.members[ok[b]]
	if ma.t.inflight.Load()*int64(mb.weight) <= mb.t.inflight.Load()*int64(ma.weight) {
		return ok[a]
	}
	return ok[b]
}

// Slot is a bulkhead slot held by one request.
type Slot struct{ b *bulkhead }

// Acquire takes a bulkhead slot on t (waiting in its bounded queue when
// configured) and counts the request as in flight. Release must follow.
func (u *Upstream) Acquire(t *Target, done <-chan struct{}) (Slot, error) {
	b := t.bulk.Load()
	if b != nil {
		if err := b.acquire(done); err != nil {
			return Slot{}, err
		}
	}
	t.inflight.Add(1)
	t.requests.Add(1)
	return Slot{b}, nil
}

// Release ends what Acquire started.
func (u *Upstream) Release(t *Target, s Slot) {
	t.inflight.Add(-1)
	if s.b != nil {
		s.b.release()
	}
}

// Conn returns a pooled connection to t, or dials a new one bounded by
// connectTimeout (the upstream's when zero) and ctx. A pooled connection is
// checked first (one non-blocking peek): one the target closed, or sent
// anything on, while it idled is closed and counted, never used. Stray
// bytes would be read as this request's response, though they belong to an
// earlier one, perhaps another client's; checking here rather than when the
// connection was pooled also catches what arrived while it idled.
func (u *Upstream) Conn(ctx context.Context, t *Target, connectTimeout time.Duration, now time.Time) (*Conn, error) {
	for c := t.pool.get(now, u.set.IdleTimeout); c != nil; c = t.pool.get(now, u.set.IdleTimeout) {
		// A connection made under other TLS settings (a reload turned TLS
		// on or off, or changed the CAs, the name or the client
		// certificate) must not carry this upstream's requests.
		if c.tlsFrom == u.set.TLS && c.clean() {
			return c, nil
		}
		c.close()
	}
	return u.Dial(ctx, t, connectTimeout)
}

// Dial always opens a new connection (used after a pooled one turned out to
// be closed by the target).
func (u *Upstream) Dial(ctx context.Context, t *Target, connectTimeout time.Duration) (*Conn, error) {
	if connectTimeout <= 0 {
		connectTimeout = u.set.ConnectTimeout
	}
	d := u.dialer
	d.Timeout = connectTimeout
	return t.dial(ctx, &d, u.set.TLS)
}

// Done hands a connection back: reusable ones go to the idle pool, others
// are closed. reusable is the caller's word that the response was read to
// its end; Done also makes sure nothing past it is buffered (a body on a
// HEAD answer or a 204/304, bytes past Content-Length), and Conn checks
// the socket itself before the connection is used again.
func (u *Upstream) Done(c *Conn, reusable bool, now time.Time) {
	c.requests++
	t := c.target
	if !reusable || c.interrupted.Load() || c.io != nil && c.io.Holding() || t.retired.Load() || u.set.MaxIdle <= 0 ||
		u.set.MaxRequestsPerConn > 0 && c.requests >= u.set.MaxRequestsPerConn || !c.nothingBuffered() {
		c.close()
		return
	}
	c.Reused = false
	t.pool.put(c, now, u.set.MaxIdle)
}

// ReportFailure applies the upstream's passive-health settings to t.
func (u *Upstream) ReportFailure(t *Target, now time.Time) {
	t.ReportFailure(now, u.set.MaxFails, u.set.FailTimeout)
}

// Targets lists the upstream's members in order.
func (u *Upstream) Targets() []*Target {
	ts := make([]*Target, len(u.members))
	for i := range u.members {
		ts[i] = u.members[i].t
	}
	return ts
}

// Stats is a point-in-time view of every target.
func (u *Upstream) Stats(now time.Time) []TargetStats {
	out := make([]TargetStats, len(u.members))
	for i := range u.members {
		m := &u.members[i]
		out[i] = m.t.stats(now)
		out[i].Weight, out[i].Backup = m.weight, m.backup
	}
	return out
}

// NextUp is when the earliest passively ejected target comes back, for a
// Retry-After header when every target is down (zero if none is ejected).
func (u *Upstream) NextUp(now time.Time) time.Time {
	var next int64
	for i := range u.members {
		if d := u.members[i].t.downUntil.Load(); d > now.UnixNano() && (next == 0 || d < next) {
			next = d
		}
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(0, next)
}

// Registry keeps the state that must survive reloads: targets (with their
// pools and health), breakers and retry budgets, keyed by upstream name and
// target address.
//
// A reload is two steps so that a refused one changes nothing: Build
// prepares an upstream snapshot beside the running one without touching
// any live state, and Commit installs a whole set of prepared snapshots at
// once.
type Registry struct {
	mu  sync.Mutex
	ups map[string]*shared
}

type shared struct {
	breaker *breaker.Breaker
	budget  *RetryBudget
	targets map[string]*Target
	current *Upstream // the snapshot in force, linked to its successor
}

// staged is what Commit applies for one prepared upstream: the settings
// Build could not write into shared objects without changing the running
// gateway.
type staged struct {
	// breakerSettings go to Breaker (a breaker the running snapshot shares)
	// when updateBreaker is set.
	updateBreaker   bool
	breakerSettings breaker.Settings
	// bulkheads replace the bulkheads of targets the running snapshot
	// shares.
	bulkheads map[*Target]*bulkhead
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{ups: map[string]*shared{}} }

// Build prepares an upstream snapshot from settings and targets, reusing
// every piece of state the registry already has for this name and these
// addresses. It changes nothing that runs: new breaker settings, bulkheads
// and budgets, and new targets, take effect only when Commit installs the
// snapshot. targets must be valid (config.CheckTargets); a weight of 0
// counts as 1.
func (r *Registry) Build(name string, s Settings, targets []config.Target) *Upstream {
	r.mu.Lock()
	defer r.mu.Unlock()
	sh := r.ups[name]
	if sh != nil && sh.current != nil && s.TLS.same(sh.current.set.TLS) {
		// Unchanged TLS settings keep their identity, and with it the
		// pooled connections made under them (see Conn).
		s.TLS = sh.current.set.TLS
	}
	u := &Upstream{
		Name:   name,
		set:    s,
		dialer: net.Dialer{KeepAlive: 30 * time.Second},
		staged: &staged{bulkheads: map[*Target]*bulkhead{}},
	}
	u.Breaker, u.Budget = r.stageShared(sh, s, u.staged)
	add := func(backup bool) {
		for _, m := range targets {
			if m.Backup != backup {
				continue
			}
			t := r.stageTarget(sh, m.Address, s, u.staged)
			u.members = append(u.members, member{t: t, weight: max(m.Weight, 1), backup: backup})
		}
	}
	add(false)
	u.nPrimary = len(u.members)
	add(true)
	return u
}

// stageShared returns the breaker and budget for a prepared snapshot: the
// running ones (their new settings staged) or new ones.
func (r *Registry) stageShared(sh *shared, s Settings, st *staged) (*breaker.Breaker, *RetryBudget) {
	var b *breaker.Breaker
	switch {
	case s.BreakerDisabled:
	case sh != nil && sh.breaker != nil:
		b = sh.breaker
		st.updateBreaker, st.breakerSettings = true, s.Breaker
	default:
		b = breaker.New(s.Breaker)
	}
	// The budget's settings are applied by Commit (install).
	if sh != nil {
		return b, sh.budget
	}
	return b, newRetryBudget()
}

// stageTarget returns the target for addr: the running one (a different
// bulkhead staged) or a new one, not yet registered.
func (r *Registry) stageTarget(sh *shared, addr string, s Settings, st *staged) *Target {
	var t *Target
	if sh != nil {
		t = sh.targets[addr]
	}
	if t == nil {
		t = newTarget(addr)
		t.bulk.Store(newBulkhead(s.MaxConcurrent, s.MaxQueue, s.QueueTimeout))
		return t
	}
	if b := t.bulk.Load(); !b.sameAs(s.MaxConcurrent, s.MaxQueue, s.QueueTimeout) {
		st.bulkheads[t] = newBulkhead(s.MaxConcurrent, s.MaxQueue, s.QueueTimeout)
	}
	return t
}

// Target returns the target for an upstream name and address, or nil.
func (r *Registry) Target(upstreamName, addr string) *Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sh := r.ups[upstreamName]; sh != nil {
		return sh.targets[addr]
	}
	return nil
}

// Commit installs live, a complete set of snapshots made by Build, as the
// upstreams in force: their staged settings are applied, their targets
// registered, each replaced snapshot is linked to its successor, and every
// upstream and target live does not contain is forgotten, its idle
// connections closed (connections in use close when their request ends).
// Commit(nil) forgets everything, at shutdown.
func (r *Registry) Commit(live []*Upstream) {
	keep := map[string]map[*Target]bool{}
	r.mu.Lock()
	for _, u := range live {
		sh := r.install(u)
		m := map[*Target]bool{}
		for i := range u.members {
			m[u.members[i].t] = true
			sh.targets[u.members[i].t.Addr] = u.members[i].t
		}
		keep[u.Name] = m
	}
	var dead []*Target
	for name, sh := range r.ups {
		for addr, t := range sh.targets {
			if !keep[name][t] {
				dead = append(dead, t)
				delete(sh.targets, addr)
			}
		}
		if keep[name] == nil {
			delete(r.ups, name)
		}
	}
	r.mu.Unlock()
	for _, t := range dead {
		t.retired.Store(true)
		t.pool.closeOlder(time.Time{}, 0)
	}
}

// install applies u's staged settings and makes it its name's snapshot in
// force, linking the one it replaces to it so that a request still holding
// the old one finds the new one (Latest). Callers hold r.mu.
func (r *Registry) install(u *Upstream) *shared {
	sh := r.ups[u.Name]
	if sh == nil {
		sh = &shared{targets: map[string]*Target{}}
		r.ups[u.Name] = sh
	}
	if st := u.staged; st != nil {
		if st.updateBreaker {
			u.Breaker.Update(st.breakerSettings)
		}
		for t, b := range st.bulkheads {
			t.bulk.Store(b)
		}
		u.staged = nil
	}
	sh.breaker, sh.budget = u.Breaker, u.Budget
	u.Budget.configure(u.set.RetryBudgetRatio, u.set.RetryBudgetMin)
	for i := range u.members {
		u.members[i].t.retired.Store(false)
	}
	if sh.current != nil && sh.current != u {
		sh.current.next.Store(u)
	}
	sh.current = u
	return sh
}

// CloseIdle closes pooled connections idle longer than each upstream's idle
// timeout. The gateway calls it periodically.
func (r *Registry) CloseIdle(live []*Upstream, now time.Time) {
	for _, u := range live {
		for i := range u.members {
			u.members[i].t.pool.closeOlder(now, u.set.IdleTimeout)
		}
	}
}
