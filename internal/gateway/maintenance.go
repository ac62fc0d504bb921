package gateway

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/proxy"
)

// ErrUnknownRoute is returned by SetMaintenance for a route the running
// config does not have.
var ErrUnknownRoute = errors.New("no such route")

// maintenanceSwitch is a route's maintenance switch. It passes to the next
// snapshot when the route keeps its name and its maintenance section, so
// a reload that does not touch it leaves the switch where an operator put
// it.
type maintenanceSwitch struct {
	rule config.Maintenance
	on   atomic.Bool
}

// keptMaintenance returns the switch route rc gets in a new snapshot.
func keptMaintenance(rc *config.Route, running *snapshot) *maintenanceSwitch {
	var rule config.Maintenance
	if rc.Maintenance != nil {
		rule = *rc.Maintenance
	}
	if running != nil {
		for _, rs := range running.routes {
			if rs.Name == rc.Name && rs.maint.rule == rule {
				return rs.maint
			}
		}
	}
	m := &maintenanceSwitch{rule: rule}
	m.on.Store(rule.Enabled)
	return m
}

// maintenanceBody is a route's maintenance answer body from its
// body_file, read at build time; nil for the JSON default.
func maintenanceBody(rc *config.Route) ([]byte, error) {
	if rc.Maintenance == nil || rc.Maintenance.BodyFile == "" {
		return nil, nil
	}
	return os.ReadFile(rc.Maintenance.BodyFile)
}

// answerMaintenance answers 503 for a route in maintenance.
func (g *Gateway) answerMaintenance(ex *proxy.Exchange, rs *routeState) {
	g.prepareOwnAnswer(ex)
	retry := rs.maint.rule.RetryAfter.D()
	if rs.maintBody == nil {
		g.proxy.Answer(ex, proxy.ErrorAnswer{Status: 503, Class: proxy.ClassMaintenance,
			Message: "route " + rs.Name + " is in maintenance", RetryAfter: retry})
		return
	}
	var head []byte
	if retry > 0 {
		head = fmt.Appendf(nil, "Retry-After: %d\r\n", ceilSeconds(retry))
	}
	g.proxy.Respond(ex, proxy.Response{Status: 503, Class: proxy.ClassMaintenance,
		ContentType: bodyType(rs.maint.rule.BodyFile), Header: head, Body: rs.maintBody})
}

// SetMaintenance switches a route's maintenance on or off at once,
// without a reload. It reports whether it was on before.
func (g *Gateway) SetMaintenance(route string, on bool) (was bool, err error) {
	s := g.snap.Load()
	if s != nil {
		for _, rs := range s.routes {
			if rs.Name == route {
				was = rs.maint.on.Swap(on)
				g.log.Info("route maintenance switched", "route", route, "on", on, "was", was)
				return was, nil
			}
		}
	}
	return false, fmt.Errorf("route %q: %w", route, ErrUnknownRoute)
}

// InMaintenance reports whether route is in maintenance now.
func (g *Gateway) InMaintenance(route string) (bool, error) {
	if s := g.snap.Load(); s != nil {
		for _, rs := range s.routes {
			if rs.Name == route {
				return rs.maint.on.Load(), nil
			}
		}
	}
	return false, fmt.Errorf("route %q: %w", route, ErrUnknownRoute)
}
