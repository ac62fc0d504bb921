package nginximport

import (
	"fmt"
	"math"
	"time"
)

// maxTime is the longest duration accepted; nginx's own limit is larger,
// but nothing a proxy waits for is measured in decades.
const maxTime = 10 * 365 * 24 * time.Hour

// parseTime parses an nginx time value ("500ms", "30s", "1m30s", "1h 30m",
// "2d", a bare "30" meaning seconds), following ngx_parse_time: units y, M,
// w, d, h, m, s and ms, each at most once and largest first.
func parseTime(s string) (time.Duration, error) {
	invalid := fmt.Errorf("invalid time %q: expected a number with an optional unit (ms, s, m, h, d), such as 30s or 500ms", s)
	units := []struct {
		name string
		d    time.Duration
	}{
		{"y", 365 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour},
		{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second},
		{"ms", time.Millisecond},
	}
	var total time.Duration
	next := 0 // index of the largest unit still allowed
	i := 0
	seen := false
	for i < len(s) {
		if s[i] == ' ' {
			i++
			continue
		}
		j := i
		var n int64
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			if n > (math.MaxInt64-9)/10 {
				return 0, invalid
			}
			n = n*10 + int64(s[j]-'0')
			j++
		}
		if j == i {
			return 0, invalid
		}
		k := j
		for k < len(s) && s[k] != ' ' && (s[k] < '0' || s[k] > '9') {
			k++
		}
		unit := time.Second // a bare number is seconds
		if k > j {
			found := false
			for u := next; u < len(units); u++ {
				if units[u].name == s[j:k] {
					unit, next, found = units[u].d, u+1, true
					break
				}
			}
			if !found {
				return 0, invalid
			}
		} else {
			next = len(units)
		}
		if n > int64(maxTime/unit) || total+time.Duration(n)*unit > maxTime {
			return 0, fmt.Errorf("time %q is too long", s)
		}
		total += time.Duration(n) * unit
		seen = true
		i = k
	}
	if !seen {
		return 0, invalid
	}
	return total, nil
}

// parseSize parses an nginx size ("1024", "8k", "10m", "1g"; units are
// binary and case-insensitive), following ngx_parse_offset.
func parseSize(s string) (int64, error) {
	invalid := fmt.Errorf("invalid size %q: expected a number with an optional unit k, m or g, such as 10m", s)
	if s == "" {
		return 0, invalid
	}
	mult := int64(1)
	num := s
	switch s[len(s)-1] {
	case 'k', 'K':
		mult, num = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mult, num = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mult, num = 1<<30, s[:len(s)-1]
	}
	n, err := parseCount(num)
	if err != nil {
		return 0, invalid
	}
	if n > (1<<50)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// parseCount parses a non-negative decimal integer of plain digits.
func parseCount(s string) (int64, error) {
	if s == "" || len(s) > 15 {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid number %q", s)
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, nil
}
