package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// StatusRange is an inclusive range of HTTP status codes; a single code is
// a range of one (Lo == Hi). The health checker judges responses with it.
type StatusRange struct {
	Lo, Hi int
}

// Contains reports whether code is in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Lo && code <= r.Hi }

// String writes r the way ParseStatusRange reads it.
func (r StatusRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi)
}

// ErrBadStatusRange matches (errors.Is) every error of ParseStatusRange.
var ErrBadStatusRange = errors.New("bad status range")

// statusRangeError is a ParseStatusRange error: its text is the whole
// message a config problem shows, and it matches ErrBadStatusRange.
type statusRangeError string

func (e statusRangeError) Error() string        { return string(e) }
func (e statusRangeError) Is(target error) bool { return target == ErrBadStatusRange }

// ParseStatusRange parses "200" or "200-399": exactly three digits per
// code, 100..599, a range not running backwards. It is the one parser of
// status ranges: validation reports its errors, and the gateway builds
// health specs with ParseStatusRanges.
func ParseStatusRange(s string) (StatusRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	l, okLo := parseStatusCode(lo)
	h, okHi := parseStatusCode(hi)
	if !okLo || !okHi {
		return StatusRange{}, statusRangeError(fmt.Sprintf("expected a status code or range of codes 100..599 such as 200 or 200-399, got %q", s))
	}
	if l > h {
		return StatusRange{}, statusRangeError(fmt.Sprintf("range %q is backwards; write %d-%d", s, h, l))
	}
	return StatusRange{Lo: l, Hi: h}, nil
}

// ParseStatusRanges parses every entry of ss. An empty list parses to nil,
// which a health spec reads as 200-399.
func ParseStatusRanges(ss []string) ([]StatusRange, error) {
	var out []StatusRange
	for _, s := range ss {
		r, err := ParseStatusRange(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// parseStatusCode reads exactly three digits (Atoi alone would take "+20"
// or "0200") making a code in 100..599.
func parseStatusCode(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 3 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n >= 100 && n <= 599
}
