package config

import (
	"fmt"
	"strconv"
	"strings"
)

// StatusRange is an inclusive range of HTTP status codes; a single code is
// a range of one.
type StatusRange struct {
	Lo, Hi int
}

// Contains reports whether code is in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Lo && code <= r.Hi }

// ParseStatusRange parses "200" or "200-399". Codes must be 100..599.
func ParseStatusRange(s string) (StatusRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	l, errLo := parseStatusCode(lo)
	h, errHi := parseStatusCode(hi)
	if errLo != nil || errHi != nil {
		return StatusRange{}, fmt.Errorf("expected a status code or range of codes 100..599 such as 200 or 200-399, got %q", s)
	}
	if l > h {
		return StatusRange{}, fmt.Errorf("range %q is backwards; write %d-%d", s, h, l)
	}
	return StatusRange{Lo: l, Hi: h}, nil
}

func parseStatusCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	if len(s) != 3 {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// StatusRanges returns ExpectStatus parsed. Parse has validated every
// entry, so for a loaded config nothing is skipped; an entry that does not
// parse (a config built in code) is left out.
func (h *HealthCheck) StatusRanges() []StatusRange {
	out := make([]StatusRange, 0, len(h.ExpectStatus))
	for _, s := range h.ExpectStatus {
		if r, err := ParseStatusRange(s); err == nil {
			out = append(out, r)
		}
	}
	return out
}
