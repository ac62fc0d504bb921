package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// maxTargetsBody bounds a PUT /upstreams/{name}/targets body; a real one is
// a few hundred bytes.
const maxTargetsBody = 1 << 20

// maxSwitchTimeout bounds health_timeout and drain_timeout, so a typo
// cannot hold a switch (and its connection) open for days.
const maxSwitchTimeout = time.Hour

// TargetsRequest is the body of PUT /upstreams/{name}/targets.
type TargetsRequest struct {
	// Targets replace the upstream's targets. At least one, and at least
	// one that is not a backup.
	Targets []TargetSpec `json:"targets"`
	// WaitHealthy delays the switch until every new target passes its
	// health check. Default false.
	WaitHealthy bool `json:"wait_healthy,omitempty"`
	// HealthTimeout bounds that wait, as a Go duration ("30s"). Default 30s.
	HealthTimeout string `json:"health_timeout,omitempty"`
	// DrainTimeout bounds the wait for requests still running on the old
	// targets, as a Go duration. Default 30s.
	DrainTimeout string `json:"drain_timeout,omitempty"`
}

// TargetSpec is one new target.
type TargetSpec struct {
	// Address is host:port. Required.
	Address string `json:"address"`
	// Weight for load balancing, 1..1000. Default 1.
	Weight int `json:"weight,omitempty"`
	// Backup targets take traffic only when no primary is healthy.
	// Default false.
	Backup bool `json:"backup,omitempty"`
}

// decodeTargets reads and checks a TargetsRequest, with the same rules as
// a config's targets. Every problem is reported, one per line.
func decodeTargets(r io.Reader) (gateway.TargetSwitch, error) {
	var req TargetsRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return gateway.TargetSwitch{}, fmt.Errorf("reading the request body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return gateway.TargetSwitch{}, errors.New("the request body must hold one JSON object and nothing after it")
	}
	return req.Switch()
}

// Switch checks the request and converts it to a gateway.TargetSwitch.
// Every problem is reported, one per line.
func (req TargetsRequest) Switch() (gateway.TargetSwitch, error) {
	var problems []string
	sw := gateway.TargetSwitch{WaitHealthy: req.WaitHealthy}
	if len(req.Targets) == 0 {
		problems = append(problems, `targets: at least one target is required, such as {"targets":[{"address":"127.0.0.1:9102"}]}`)
	}
	seen := map[string]int{}
	primaries := 0
	for i, t := range req.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		switch {
		case t.Address == "":
			problems = append(problems, p+".address: is required: the host:port of the target")
		case config.ValidTargetAddress(t.Address) != nil:
			problems = append(problems, p+".address: "+config.ValidTargetAddress(t.Address).Error())
		default:
			if prev, dup := seen[t.Address]; dup {
				problems = append(problems, fmt.Sprintf("%s.address: %s is already listed as targets[%d]; raise its weight instead", p, t.Address, prev))
			} else {
				seen[t.Address] = i
			}
		}
		w := t.Weight
		if w == 0 {
			w = 1
		}
		if w < 1 || w > 1000 {
			problems = append(problems, fmt.Sprintf("%s.weight: must be between 1 and 1000, got %d", p, t.Weight))
		}
		if !t.Backup {
			primaries++
		}
		sw.Targets = append(sw.Targets, upstream.Member{Addr: t.Address, Weight: w, Backup: t.Backup})
	}
	if len(req.Targets) > 0 && primaries == 0 {
		problems = append(problems, "targets: every target is a backup; at least one must take traffic normally")
	}
	var err error
	if sw.HealthTimeout, err = switchTimeout(req.HealthTimeout); err != nil {
		problems = append(problems, "health_timeout: "+err.Error())
	}
	if sw.DrainTimeout, err = switchTimeout(req.DrainTimeout); err != nil {
		problems = append(problems, "drain_timeout: "+err.Error())
	}
	if len(problems) > 0 {
		return gateway.TargetSwitch{}, errors.New(strings.Join(problems, "\n"))
	}
	return sw, nil
}

// switchTimeout parses a timeout; empty means the 30s default.
func switchTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 30 * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("expected a duration such as 30s or 2m, got %q", s)
	}
	if d <= 0 || d > maxSwitchTimeout {
		return 0, fmt.Errorf("must be more than 0 and at most %s, got %s", maxSwitchTimeout, s)
	}
	return d, nil
}
