// Package deadline keeps connection deadlines without re-arming the
// runtime's timer for every request. A keepalive connection pushes its
// deadlines a few microseconds further with each request; re-arming a
// timer each time costs two clock reads and a locked timer-heap update,
// more than parsing the request. Like nginx's lazy timers
// (NGX_TIMER_LAZY_DELAY), a deadline that moves by less than a small slack
// keeps the one already armed.
package deadline

import "time"

// MaxSlack is the most an armed deadline may differ from the one asked
// for: nginx's 300 ms. Shorter timeouts get an eighth of their length, so a
// 100 ms timeout fires between 87.5 and 112.5 ms.
const MaxSlack = 300 * time.Millisecond

// Lazy remembers the deadline armed on one direction (read or write) of
// one connection. The zero value knows nothing, so the first Due is true.
// It is not safe for concurrent use: one goroutine arms a direction at a
// time, as one goroutine reads or writes a connection at a time.
type Lazy struct {
	at    time.Time // the armed deadline; zero: none
	known bool      // at is what the connection has
}

// Due reports whether want must be armed on the connection now; when it
// returns true the caller must arm it, and Lazy records it as armed. now
// is the caller's idea of the current time, used to size the slack: a
// deadline wanted within MaxSlack*8 of now gets an eighth of the time left.
// A deadline already passed, or no deadline (the zero time), is always
// armed exactly.
func (l *Lazy) Due(want, now time.Time) bool {
	if l.known && l.near(want, now) {
		return false
	}
	l.at, l.known = want, true
	return true
}

func (l *Lazy) near(want, now time.Time) bool {
	if want.IsZero() || l.at.IsZero() {
		return want.IsZero() && l.at.IsZero()
	}
	left := want.Sub(now)
	if left <= 0 {
		return false
	}
	slack := min(MaxSlack, left/8)
	d := want.Sub(l.at)
	return d <= slack && d >= -slack
}

// Forget is for a deadline set behind Lazy's back (to wake a blocked
// read, say): the next Due arms whatever is wanted.
func (l *Lazy) Forget() { l.known = false }
