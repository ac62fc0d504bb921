// Package health probes upstream targets with periodic HTTP GETs and turns
// the results into an up/down state per target, with rise and fall
// thresholds so that one lucky or unlucky probe does not flip a target.
package health

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// Spec says how to probe the targets of one upstream. Zero fields take the
// same defaults as the configuration file, so a zero Spec is usable.
type Spec struct {
	// Path is the path (and optional query) to GET. Default "/health".
	Path string
	// Interval is the time between the starts of two probes of one target;
	// each wait is spread by up to ±10% so that targets do not all fire at
	// once. Default 5s.
	Interval time.Duration
	// Timeout bounds one probe: connect, request, response head and the
	// (at most 64 KiB) body read. Default 1s.
	Timeout time.Duration
	// Expect lists accepted response statuses. Default 200-399. Redirects
	// are never followed: a 3xx is judged as it is.
	Expect []StatusRange
	// Rise is how many passes in a row take a target that is not up
	// (unknown or down) to up. Default 2.
	Rise int
	// Fall is how many failures in a row take a target that is not down
	// (unknown or up) to down. Default 3.
	Fall int
	// Host is the Host header to send. Default: the target address.
	Host string
}

// withDefaults returns s with every zero (or nonsensical) field replaced by
// its default.
func (s Spec) withDefaults() Spec {
	if s.Path == "" {
		s.Path = config.DefaultHealthPath
	}
	if !strings.HasPrefix(s.Path, "/") {
		s.Path = "/" + s.Path
	}
	if s.Interval <= 0 {
		s.Interval = config.DefaultHealthInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = config.DefaultHealthTimeout
	}
	if len(s.Expect) == 0 {
		s.Expect = []StatusRange{{Lo: 200, Hi: 399}}
	} else {
		s.Expect = append([]StatusRange(nil), s.Expect...)
	}
	if s.Rise <= 0 {
		s.Rise = config.DefaultHealthRise
	}
	if s.Fall <= 0 {
		s.Fall = config.DefaultHealthFall
	}
	return s
}

// accepts reports whether status is one of the expected statuses.
func (s Spec) accepts(status int) bool {
	for _, r := range s.Expect {
		if r.Contains(status) {
			return true
		}
	}
	return false
}

// StatusRange is an inclusive range of HTTP status codes, parsed by
// config.ParseStatusRanges: one parser for validation and for the checker.
type StatusRange = config.StatusRange

// State is what the checker currently believes about a target.
type State int

// The states of a target. A target starts Unknown; whether Unknown counts
// as routable is the caller's decision.
const (
	Unknown State = iota
	Up
	Down
)

// String returns "unknown", "up" or "down".
func (s State) String() string {
	switch s {
	case Unknown:
		return "unknown"
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the state's name, so JSON shows "up", not 1.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name, for clients of the admin API.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "unknown":
		*s = Unknown
	case "up":
		*s = Up
	case "down":
		*s = Down
	default:
		return fmt.Errorf("unknown health state %q", b)
	}
	return nil
}

// TargetStatus is a snapshot of one target's health, for status pages and
// error messages.
type TargetStatus struct {
	// Address is the target's host:port.
	Address string `json:"address"`
	// State is the current state.
	State State `json:"state"`
	// Since is when State was entered (for Unknown: when the target was
	// added).
	Since time.Time `json:"since"`
	// LastCheck is when the last probe finished; zero before the first.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastStatus is the HTTP status of the last probe; 0 if it got none.
	LastStatus int `json:"last_status,omitempty"`
	// LastError says why the last probe failed; empty if it passed.
	LastError string `json:"last_error,omitempty"`
	// ConsecutivePass and ConsecutiveFail count the current run of passes
	// or failures; at most one of them is non-zero.
	ConsecutivePass int `json:"consecutive_passes"`
	ConsecutiveFail int `json:"consecutive_failures"`
}
