// Package ratelimit decides whether a request may pass a rate limit: a
// token bucket per key, kept as GCRA (the generic cell rate algorithm: one
// timestamp per key, no refill timer), with the keys in a bounded, sharded
// LRU so an attacker who varies the key cannot grow memory without limit.
package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// Rule is a limiter's settings.
type Rule struct {
	// Interval is the time one token takes to come back (1/rate).
	Interval time.Duration
	// Burst is the bucket's size: how many requests may pass at once.
	Burst int
	// MaxKeys bounds the keys held; past it the least recently seen key
	// is forgotten.
	MaxKeys int
}

// Decision is what Take decided, with what the RateLimit headers report.
type Decision struct {
	// Allowed: the request may pass (a token was taken).
	Allowed bool
	// Remaining is how many more requests would pass right now.
	Remaining int
	// RetryAfter, when not allowed, is how long until one would pass.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// Limiter is a set of token buckets, one per key, all with one rule. It
// is safe for concurrent use and allocates nothing per request once its
// keys have been seen (and nothing at all when the key set is full: a new
// key reuses the slot of the one it evicts).
type Limiter struct {
	rule     Rule
	interval int64 // nanoseconds
	tau      int64 // burst × interval: how far ahead of now a bucket's TAT may run
	seed     maphash.Seed
	shards   []shard
	mask     uint64
}

// shard is one lock's worth of keys: an index from key hash to slot, and
// the slots in a doubly linked LRU list (head most recent).
type shard struct {
	mu         sync.Mutex
	index      map[uint64]int32
	slots      []slot
	head, tail int32
	capacity   int
	evictions  uint64
	limited    uint64
	_          [40]byte // keep neighbouring shards' locks off one cache line
}

// slot is one key's bucket: its theoretical arrival time (TAT), the time
// at which the bucket would be full again.
type slot struct {
	hash       uint64
	tat        int64
	prev, next int32
}

const (
	none = -1
	// keysPerShard is the smallest shard worth its lock: fewer, larger
	// shards for a small key cap keep the LRU close to a global one.
	keysPerShard = 1024
	maxShards    = 64
)

// New returns a limiter for rule. Keys are hashed with a seed of its own,
// so one limiter's key collisions say nothing about another's.
func New(rule Rule) *Limiter {
	rule.Burst = max(rule.Burst, 1)
	rule.MaxKeys = max(rule.MaxKeys, 1)
	n := 1
	for n < maxShards && n*2*keysPerShard <= rule.MaxKeys {
		n *= 2
	}
	l := &Limiter{
		rule:     rule,
		interval: int64(rule.Interval),
		tau:      int64(rule.Burst) * int64(rule.Interval),
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		mask:     uint64(n - 1),
	}
	per := (rule.MaxKeys + n - 1) / n
	for i := range l.shards {
		l.shards[i] = shard{index: map[uint64]int32{}, head: none, tail: none, capacity: per}
	}
	return l
}

// Rule returns the limiter's rule: a reload keeps a limiter, and the
// state of its keys, when the rule it asks for is the same.
func (l *Limiter) Rule() Rule { return l.rule }

// Hash returns the key hash Take counts key under. Distinct keys share a
// bucket only when their 64-bit hashes collide (about one chance in 10^10
// among 100 000 keys).
func (l *Limiter) Hash(key []byte) uint64 { return maphash.Bytes(l.seed, key) }

// HashString is Hash for a string key.
func (l *Limiter) HashString(key string) uint64 { return maphash.String(l.seed, key) }

// Take takes a token from the bucket of key hash h at time now, if one is
// there.
func (l *Limiter) Take(h uint64, now time.Time) Decision {
	s := &l.shards[(h>>32)&l.mask]
	t := now.UnixNano()
	s.mu.Lock()
	e := s.slot(h, t)
	tat := max(e.tat, t)
	next := tat + l.interval
	if next-t > l.tau {
		s.limited++
		s.mu.Unlock()
		return Decision{RetryAfter: time.Duration(next - t - l.tau), Reset: time.Duration(tat - t)}
	}
	e.tat = next
	s.mu.Unlock()
	return Decision{Allowed: true, Remaining: int((l.tau - (next - t)) / l.interval), Reset: time.Duration(next - t)}
}

// slot returns h's slot, most recent in the LRU: an existing one, a new
// one, or, when the shard is full, the least recent one's, reset. Callers
// hold s.mu.
func (s *shard) slot(h uint64, now int64) *slot {
	if i, ok := s.index[h]; ok {
		s.touch(i)
		return &s.slots[i]
	}
	var i int32
	if len(s.slots) < s.capacity {
		s.slots = append(s.slots, slot{})
		i = int32(len(s.slots) - 1)
	} else {
		i = s.tail
		s.unlink(i)
		delete(s.index, s.slots[i].hash)
		s.evictions++
	}
	s.slots[i] = slot{hash: h, tat: now, prev: none, next: none}
	s.index[h] = i
	s.pushFront(i)
	return &s.slots[i]
}

func (s *shard) touch(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

func (s *shard) unlink(i int32) {
	e := &s.slots[i]
	if e.prev != none {
		s.slots[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next != none {
		s.slots[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = none, none
}

func (s *shard) pushFront(i int32) {
	e := &s.slots[i]
	e.prev, e.next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = i
	}
	s.head = i
	if s.tail == none {
		s.tail = i
	}
}

// Stats are a limiter's counters, for metrics.
type Stats struct {
	// Keys held now.
	Keys int
	// Evictions: keys forgotten to make room for new ones.
	Evictions uint64
	// Limited: requests refused.
	Limited uint64
}

// Stats sums the shards' counters.
func (l *Limiter) Stats() Stats {
	var st Stats
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		st.Keys += len(s.index)
		st.Evictions += s.evictions
		st.Limited += s.limited
		s.mu.Unlock()
	}
	return st
}
