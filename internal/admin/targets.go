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
)

// maxTargetsBody bounds a PUT /upstreams/{name}/targets body; a real one is
// a few hundred bytes.
const maxTargetsBody = 1 << 20

// maxSwitchTimeout bounds health_timeout and drain_timeout, so a typo
// cannot hold a switch (and its connection) open for days.
const maxSwitchTimeout = time.Hour

// TargetsRequest is the body of PUT /upstreams/{name}/targets.
type TargetsRequest struct {
	// Targets replace the upstream's targets, with the config file's rules
	// (config.CheckTargets): at least one, and at least one that is not a
	// backup; a target's weight defaults to 1.
	Targets []config.Target `json:"targets"`
	// Origin records who switched: "admin" or "deploy". Default "admin".
	Origin gateway.Origin `json:"origin,omitempty"`
	// WaitHealthy delays the switch until every new target passes its
	// health check. Default false.
	WaitHealthy bool `json:"wait_healthy,omitempty"`
	// HealthTimeout bounds that wait, as a Go duration ("30s"). Default 30s.
	HealthTimeout string `json:"health_timeout,omitempty"`
	// DrainTimeout bounds the wait for requests still running on the old
	// targets, as a Go duration. Default 30s.
	DrainTimeout string `json:"drain_timeout,omitempty"`
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
	sw := gateway.TargetSwitch{WaitHealthy: req.WaitHealthy, Targets: config.WithDefaultWeights(req.Targets)}
	if err := config.CheckTargets(sw.Targets); err != nil {
		problems = append(problems, err.Error())
	}
	switch req.Origin {
	case "", gateway.OriginAdmin, gateway.OriginDeploy:
		sw.Origin = req.Origin
	default:
		problems = append(problems, fmt.Sprintf("origin: expected %q or %q, got %q", gateway.OriginAdmin, gateway.OriginDeploy, req.Origin))
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
