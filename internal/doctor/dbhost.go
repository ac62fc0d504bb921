package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

// DBHost is what the database doctors judge a server's settings against.
type DBHost struct {
	// RAM is the database host's memory in bytes; 0 means unknown, and the
	// checks that need it are skipped.
	RAM int64
	// RAMFrom says where RAM came from, for the report, such as "--ram" or
	// "MemTotal of this host".
	RAMFrom string
	// Connections is the sum of the connection limits of the services that
	// use the server; 0 means unknown.
	Connections int
	// ConnectionsFrom says where Connections came from, such as
	// "--connections" or "3 services in databases: of skjold.yaml".
	ConnectionsFrom string
}

// Shares of RAM the database checks use; docs/doctor.md explains them.
const (
	// memWarn and memFail rate the peak memory estimate.
	memWarn = 0.90
	memFail = 1.00
	// nearPeak warns when the most connections ever used came this close
	// to the limit.
	nearPeak = 0.85
)

// connectionHeadroom is what a server needs beyond the services' limits:
// room for deploys (old and new versions connected at once for a moment),
// migrations, backups and an engineer on call.
func connectionHeadroom(need int) int { return max(10, need/10) }

// ParseBytes reads a size such as "16G", "512M", "16GiB" or "17179869184".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("expected a size such as 16G, 512M or a number of bytes, got %q", s)
	}
	return int64(f * float64(mult)), nil
}

// cnfSize writes a size the way my.cnf and postgresql.conf accept it,
// rounded down to whole MiB: 12G, 768M.
func cnfSize(n int64, gUnit, mUnit string) string {
	mib := n >> 20
	if mib >= 1024 && mib%1024 == 0 {
		return strconv.FormatInt(mib/1024, 10) + gUnit
	}
	return strconv.FormatInt(mib, 10) + mUnit
}

// ramOf describes RAM for a found column: "24 GiB (MemTotal of this host)".
func (d DBHost) ramOf() string {
	if d.RAMFrom == "" {
		return bytesString(d.RAM)
	}
	return bytesString(d.RAM) + " (" + d.RAMFrom + ")"
}

// connectionsCheck rates a server's connection limit against the services'
// limits and against the most connections it has seen.
func connectionsCheck(name string, limit, reserved, peak int64, d DBHost, snippetKey string, snip *snippet) Result {
	r := Result{Check: name,
		Why: "when the services together open more connections than the server allows, the next one " +
			"gets \"too many connections\" and its requests fail"}
	usable := limit - reserved
	found := fmt.Sprintf("%d", limit)
	if reserved > 0 {
		found += fmt.Sprintf(" (%d reserved for superusers)", reserved)
	}
	if peak >= 0 {
		found += fmt.Sprintf("; at most %d used since start", peak)
	}
	if d.Connections <= 0 {
		r.Expected = "at least the sum of the services' connection limits plus headroom " +
			"(unknown: pass --connections N or --config with a databases: section)"
		r.Found = found
		r.Status = Skip
		if peak >= 0 && float64(peak) >= nearPeak*float64(usable) {
			r.Status = Warn
			r.Found += fmt.Sprintf(", %s of the limit", percent(float64(peak)/float64(usable)))
		}
		return r
	}
	need := int64(d.Connections)
	want := need + int64(connectionHeadroom(d.Connections)) + reserved
	r.Expected = fmt.Sprintf(">= %d: the services' %d (%s) + %d headroom", want, need, d.ConnectionsFrom, connectionHeadroom(d.Connections))
	if reserved > 0 {
		r.Expected += fmt.Sprintf(" + %d reserved", reserved)
	}
	switch {
	case usable < need:
		r.Status = Fail
	case limit < want:
		r.Status = Warn
	case peak >= 0 && float64(peak) >= nearPeak*float64(usable):
		r.Status = Warn
		found += fmt.Sprintf(", %s of the limit", percent(float64(peak)/float64(usable)))
	default:
		r.Status = OK
	}
	r.Found = found
	if r.Status != OK && limit < want {
		snip.set(snippetKey, strconv.FormatInt(want, 10), fmt.Sprintf("services' limits %d + headroom", need))
	}
	return r
}

// snippet collects config lines for the gaps, in the order they are set.
type snippet struct {
	keys     []string
	values   map[string]string
	comments map[string]string
}

func (s *snippet) set(key, value, comment string) {
	if s.values == nil {
		s.values, s.comments = map[string]string{}, map[string]string{}
	}
	if _, ok := s.values[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.values[key], s.comments[key] = value, comment
}

func (s *snippet) get(key string) (string, bool) {
	v, ok := s.values[key]
	return v, ok
}

// render writes the lines under header, each with its reason as a comment.
func (s *snippet) render(header string) string {
	if len(s.keys) == 0 {
		return ""
	}
	var b strings.Builder
	if header != "" {
		b.WriteString(header + "\n")
	}
	for _, k := range s.keys {
		line := k + " = " + s.values[k]
		if c := s.comments[k]; c != "" {
			line = fmt.Sprintf("%-40s # %s", line, c)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
