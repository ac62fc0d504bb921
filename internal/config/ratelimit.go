package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// RateLimit limits how fast requests may arrive on a route, per key: a
// token bucket of Burst requests that refills at Rate. State is kept per
// replica (each gateway counts what it sees).
type RateLimit struct {
	// Rate is the sustained rate allowed per key: "100/s", "600/m",
	// "5000/h", or a count per duration ("1/10s"). Required; a rate of
	// zero is refused.
	Rate Rate `yaml:"rate,omitempty"`
	// Burst is how many requests a key may send at once (the bucket's
	// size). Default: the number the rate allows per second, rounded up,
	// at least 1 (100 for 100/s, 10 for 600/m).
	Burst int `yaml:"burst,omitempty"`
	// Key says what one bucket belongs to: "client_ip" (the client
	// address, as the listener's trusted proxies resolve it), "header:NAME"
	// (that header's value; a request without it is counted by its client
	// address) or "route" (one bucket for the whole route). Default
	// client_ip.
	Key string `yaml:"key,omitempty"`
	// MaxKeys bounds the keys held in memory; past it the least recently
	// seen key is forgotten (and starts again with a full bucket), which
	// skjold_ratelimit_evictions_total counts. Default 100000.
	MaxKeys int `yaml:"max_keys,omitempty"`
}

// Rate limit keys (RateLimit.Key).
const (
	RateKeyClientIP = "client_ip"
	RateKeyRoute    = "route"
	// RateKeyHeaderPrefix starts a key that names a request header.
	RateKeyHeaderPrefix = "header:"
)

// Limits of a rate-limit rule, so a bucket's arithmetic in nanoseconds
// cannot overflow.
const (
	DefaultRateLimitKeys = 100_000
	maxRatePer           = 24 * time.Hour
	maxRateBurst         = 100_000
	maxRateCount         = 1_000_000_000
)

// Rate is a number of requests per period, written "100/s", "600/m",
// "5000/h" or "1/10s" ("r/s" as nginx writes it is read too).
type Rate struct {
	// Count requests are allowed per Per. (Written as one string, so the
	// fields have no keys of their own.)
	Count int64         `yaml:"-"`
	Per   time.Duration `yaml:"-"`
}

// Interval is the time one request's token takes to come back: Per/Count.
func (r Rate) Interval() time.Duration {
	if r.Count <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.Count)
}

// PerSecond is how many requests the rate allows per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.Count) * float64(time.Second) / float64(r.Per)
}

// String writes the rate as it is written in a config.
func (r Rate) String() string {
	if r.Count == 0 {
		return "0"
	}
	unit := ""
	switch r.Per {
	case time.Second:
		unit = "s"
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	default:
		unit = r.Per.String()
	}
	return strconv.FormatInt(r.Count, 10) + "/" + unit
}

// MarshalYAML writes the rate as it is written in a config.
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// UnmarshalYAML reads "N/s", "N/m", "N/h" or "N/<duration>".
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a rate such as 100/s or 600/m")
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseRate parses "100/s", "600/m", "5000/h", "1/10s" and nginx's
// "100r/s". A count of zero is an error: it would let nothing through.
func ParseRate(s string) (Rate, error) {
	bad := fmt.Errorf("expected a rate such as 100/s, 600/m or 1/10s, got %q", s)
	count, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, bad
	}
	count = strings.TrimSuffix(count, "r")
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 0 || count[0] == '+' {
		return Rate{}, bad
	}
	var d time.Duration
	switch per {
	case "s", "sec", "second":
		d = time.Second
	case "m", "min", "minute":
		d = time.Minute
	case "h", "hour":
		d = time.Hour
	default:
		if d, err = time.ParseDuration(per); err != nil || d <= 0 {
			return Rate{}, bad
		}
	}
	switch {
	case n == 0:
		return Rate{}, fmt.Errorf("a rate of %q lets no request through; remove rate_limit to leave the route unlimited", s)
	case d > maxRatePer:
		return Rate{}, fmt.Errorf("rate %q: the period may be at most %s", s, maxRatePer)
	case n > maxRateCount || d/time.Duration(n) < time.Nanosecond:
		return Rate{}, fmt.Errorf("rate %q is too high to count (at most %d per second)", s, maxRateCount)
	}
	return Rate{Count: n, Per: d}, nil
}

func rateLimitDefaults(f filler, p string, rl *RateLimit) {
	if rl == nil {
		return
	}
	burst := 1
	if ps := rl.Rate.PerSecond(); ps > 1 {
		burst = int(min(ps+0.999999, maxRateBurst))
	}
	f.int(p+".burst", &rl.Burst, burst)
	f.str(p+".key", &rl.Key, RateKeyClientIP)
	f.int(p+".max_keys", &rl.MaxKeys, DefaultRateLimitKeys)
}

func (v validator) rateLimit(p string, rl *RateLimit) {
	if rl == nil {
		return
	}
	if rl.Rate.Count == 0 {
		v.problemf(p+".rate", "is required: the rate allowed per key, such as 100/s")
	}
	if rl.Burst < 1 || rl.Burst > maxRateBurst {
		v.problemf(p+".burst", "must be between 1 and %d, got %d", maxRateBurst, rl.Burst)
	}
	if rl.MaxKeys < 1 {
		v.problemf(p+".max_keys", "must be 1 or more, got %d", rl.MaxKeys)
	}
	switch name, isHeader := strings.CutPrefix(rl.Key, RateKeyHeaderPrefix); {
	case rl.Key == RateKeyClientIP, rl.Key == RateKeyRoute:
	case isHeader:
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return !isTokenChar(r) }) {
			v.problemf(p+".key", "expected header:NAME with a header name such as X-Api-Key, got %q", rl.Key)
		}
	default:
		v.problemf(p+".key", "expected %s, %s or header:NAME (such as header:X-Api-Key), got %q", RateKeyClientIP, RateKeyRoute, rl.Key)
	}
}
