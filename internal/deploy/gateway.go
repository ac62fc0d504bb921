package deploy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/skjold-dev/skjold/internal/admin"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/gateway"
)

// UpstreamView is what a deploy reads about its upstream: the targets in
// force and the counters of the routes that forward to it.
type UpstreamView struct {
	Targets []config.Target
	// Requests and Errors (5xx answers) are summed over the routes that
	// forward to the upstream; they only grow.
	Requests, Errors uint64
	// TargetRequests are the requests each target received, by address:
	// counted when a request is sent to it, so green's count starts with
	// the first request green receives.
	TargetRequests map[string]uint64
}

// Gateway is the part of the gateway's admin API a deploy uses.
type Gateway interface {
	// Upstream reads the upstream's targets and counters.
	Upstream(ctx context.Context, name string) (UpstreamView, error)
	// Switch replaces the upstream's targets once every new target passes
	// the gateway's health check (within healthTimeout), then waits up to
	// drain for requests still running on the old targets.
	Switch(ctx context.Context, name string, targets []config.Target, healthTimeout, drain time.Duration) (gateway.SwitchResult, error)
}

// AdminGateway is a Gateway over the admin API.
type AdminGateway struct {
	Client *admin.Client
}

var _ Gateway = AdminGateway{}

// Upstream reads GET /status.
func (a AdminGateway) Upstream(ctx context.Context, name string) (UpstreamView, error) {
	st, err := a.Client.Status(ctx)
	if err != nil {
		return UpstreamView{}, err
	}
	return viewOf(st, name)
}

// viewOf extracts one upstream from a gateway status.
func viewOf(st gateway.Status, name string) (UpstreamView, error) {
	var v UpstreamView
	i := slices.IndexFunc(st.Upstreams, func(u gateway.UpstreamStatus) bool { return u.Name == name })
	if i < 0 {
		return v, fmt.Errorf("%w %q: the gateway's config has no such upstream (is it the same config file?)", gateway.ErrUnknownUpstream, name)
	}
	v.TargetRequests = make(map[string]uint64, len(st.Upstreams[i].Targets))
	for _, t := range st.Upstreams[i].Targets {
		v.Targets = append(v.Targets, config.Target{Address: t.Address, Weight: t.Weight, Backup: t.Backup})
		v.TargetRequests[t.Address] = t.Requests
	}
	for _, r := range st.Routes {
		if r.Upstream == name {
			v.Requests += r.Requests
			v.Errors += r.Errors
		}
	}
	return v, nil
}

// Switch calls PUT /upstreams/{name}/targets.
func (a AdminGateway) Switch(ctx context.Context, name string, targets []config.Target, healthTimeout, drain time.Duration) (gateway.SwitchResult, error) {
	req := admin.TargetsRequest{
		Targets:       targets,
		Origin:        gateway.OriginDeploy,
		WaitHealthy:   true,
		HealthTimeout: healthTimeout.String(),
		DrainTimeout:  drain.String(),
	}
	return a.Client.SetTargets(ctx, name, req)
}

// TargetSetter switches an upstream's targets in process; *gateway.Gateway
// satisfies it.
type TargetSetter interface {
	SetTargets(ctx context.Context, upstream string, sw gateway.TargetSwitch) (gateway.SwitchResult, error)
}

var _ TargetSetter = (*gateway.Gateway)(nil)
