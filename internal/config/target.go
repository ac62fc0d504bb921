package config

import (
	"errors"
	"fmt"
	"strings"
)

// The one set of rules for an upstream's targets, wherever they come from:
// the config file, the admin API's target switch, a deploy, or the
// overrides the gateway saved.

// Target weights.
const (
	// DefaultWeight is a target's weight when none is given.
	DefaultWeight = 1
	// MaxWeight is the highest weight a target may have.
	MaxWeight = 1000
)

// TargetProblem is one thing wrong with a list of targets.
type TargetProblem struct {
	// Index is the target's place in the list; -1 for the list itself.
	Index int
	// Field is "address" or "weight"; empty for the list itself.
	Field string
	// Msg says what is wrong; for an address listed twice, see Message.
	Msg string
	// Dup, for an address listed twice, is the index of its first listing;
	// -1 otherwise.
	Dup int
}

// Message says what is wrong; first names the first listing of a duplicate
// address (each caller names it its own way: with a line in a file).
func (p TargetProblem) Message(first string) string {
	if p.Dup < 0 {
		return p.Msg
	}
	return fmt.Sprintf("%s is already listed as %s; raise its weight instead", p.Msg, first)
}

// targetProblems checks targets: at least one, each with a valid host:port
// listed once and a weight of 1..1000, and at least one that is not a
// backup.
func targetProblems(ts []Target) []TargetProblem {
	var out []TargetProblem
	add := func(i int, field, msg string, dup int) {
		out = append(out, TargetProblem{Index: i, Field: field, Msg: msg, Dup: dup})
	}
	if len(ts) == 0 {
		add(-1, "", "at least one target is required, such as targets: [{address: 127.0.0.1:9101}]", -1)
	}
	seen := map[string]int{}
	primaries := 0
	for i, t := range ts {
		switch msg := checkHostPort(t.Address, 1); {
		case t.Address == "":
			add(i, "address", "is required: the host:port of the target", -1)
		case msg != "":
			add(i, "address", msg, -1)
		default:
			if prev, dup := seen[t.Address]; dup {
				add(i, "address", t.Address, prev)
			} else {
				seen[t.Address] = i
			}
		}
		if t.Weight < 1 || t.Weight > MaxWeight {
			add(i, "weight", fmt.Sprintf("must be between 1 and %d, got %d", MaxWeight, t.Weight), -1)
		}
		if !t.Backup {
			primaries++
		}
	}
	if len(ts) > 0 && primaries == 0 {
		add(-1, "", "every target is a backup; at least one must take traffic normally", -1)
	}
	return out
}

// CheckTargets applies the config's rules for targets to targets given at
// run time. Every problem is reported, one per line, as
// "targets[i].field: message".
func CheckTargets(ts []Target) error {
	ps := targetProblems(ts)
	if len(ps) == 0 {
		return nil
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.path("targets") + ": " + p.Message(indexPath("targets", p.Dup))
	}
	return errors.New(strings.Join(lines, "\n"))
}

// WithDefaultWeights returns a copy of ts in which a weight of 0 (not
// given) is DefaultWeight, as the config's defaults do for a file.
func WithDefaultWeights(ts []Target) []Target {
	out := make([]Target, len(ts))
	for i, t := range ts {
		if t.Weight == 0 {
			t.Weight = DefaultWeight
		}
		out[i] = t
	}
	return out
}

// path is where the problem is, below the list at parent.
func (p TargetProblem) path(parent string) string {
	if p.Index < 0 {
		return parent
	}
	return indexPath(parent, p.Index) + "." + p.Field
}
