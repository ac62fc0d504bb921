package gateway

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// change is what an install puts in force: a config, and the target
// overrides to apply on top of it.
type change struct {
	cfg       *config.Config
	overrides map[string]Override
	// saveOverrides: the overrides differ from the saved ones and must be
	// written before the change takes effect.
	saveOverrides bool
	// loaded, when not zero, is kept as the snapshot's load time (a target
	// switch does not load the config again).
	loaded time.Time
}

// staged is a change fully prepared beside the running gateway: listeners
// bound (not accepting yet), every upstream's state prepared, routing tables
// built. Nothing that runs has changed; commit puts it in force in one step,
// abort throws it away.
type staged struct {
	snap    *snapshot
	opened  []*listener
	updates []breakerUpdate
	ch      change
}

// install is the one way a config, a target switch or a dropped override
// reaches the running gateway: prepare everything, save the overrides, then
// commit. On any error the running gateway is exactly as it was. Callers
// hold g.applyMu.
func (g *Gateway) install(ch change) (*snapshot, error) {
	st, err := g.prepare(ch)
	if err != nil {
		return nil, err
	}
	if ch.saveOverrides {
		if err := saveOverrides(g.stateDir, ch.overrides); err != nil {
			st.abort()
			return nil, err
		}
	}
	g.commit(st)
	return st.snap, nil
}

// prepare binds the listeners ch.cfg adds and builds its snapshot. The
// config in force (a target switch) keeps its listeners as they are, even
// those that asked for port 0.
func (g *Gateway) prepare(ch change) (*staged, error) {
	var names map[*listener]string
	var opened []*listener
	var err error
	if running := g.snap.Load(); running != nil && running.cfg == ch.cfg {
		names = map[*listener]string{}
		for l, v := range running.listeners {
			names[l] = v.name
		}
	} else if names, opened, err = g.bindListeners(ch.cfg); err != nil {
		return nil, err
	}
	st := &staged{opened: opened, ch: ch}
	st.snap, st.updates, err = g.build(ch.cfg, names, ch.overrides)
	if err != nil {
		st.abort()
		return nil, err
	}
	if !ch.loaded.IsZero() {
		st.snap.loaded = ch.loaded
	}
	return st, nil
}

// abort closes the sockets a refused change had bound.
func (st *staged) abort() {
	for _, l := range st.opened {
		l.ln.Close()
	}
}

// commit puts a prepared change in force: the registry's upstreams and the
// route breakers take their new settings, new listeners join, health checks
// follow, the snapshot is swapped, new listeners start accepting (after the
// swap, so their first connection finds its routes), and listeners the
// config no longer has close. Nothing here can fail.
func (g *Gateway) commit(st *staged) {
	s := st.snap
	g.registry.Commit(s.upstreamList())
	for _, u := range st.updates {
		u.b.Update(u.s)
	}
	g.mu.Lock()
	for _, l := range st.opened {
		g.listeners[l.ln.Addr().String()] = l
	}
	g.routeBreakers = s.routeBreakers
	g.overrides = st.ch.overrides
	g.version++
	g.mu.Unlock()
	g.syncHealth(st.ch.cfg, s)
	g.snap.Store(s)
	g.commitACME(s)
	select {
	case g.stapleKick <- struct{}{}:
	default:
	}
	g.mu.Lock()
	if g.ctx != nil {
		for _, l := range st.opened {
			go g.accept(l)
		}
	}
	g.mu.Unlock()
	g.closeStaleListeners(s)
	g.ready.Store(true)
}

// bindListeners names every socket cfg's listeners use: an address already
// bound is kept (a reload never closes a socket that stays in the config),
// others are bound now. It changes nothing that runs: on error the sockets
// it bound are closed again.
func (g *Gateway) bindListeners(cfg *config.Config) (names map[*listener]string, opened []*listener, err error) {
	names = map[*listener]string{}
	socks := sockets(cfg)
	for _, name := range slices.Sorted(maps.Keys(socks)) {
		addr := socks[name]
		g.mu.Lock()
		l := g.boundListener(addr)
		g.mu.Unlock()
		if l == nil {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				for _, l := range opened {
					l.ln.Close()
				}
				return nil, nil, fmt.Errorf("listener %s: %w", name, err)
			}
			l = &listener{addr: addr, ln: ln, done: make(chan struct{})}
			l.tlsBase = g.baseTLS(l)
			opened = append(opened, l)
		}
		names[l] = name
	}
	return names, opened, nil
}

// boundListener finds the listener bound for addr, either as configured or
// as actually bound (a config that asked for port 0, reloaded with the port
// it got). Callers hold g.mu.
func (g *Gateway) boundListener(addr string) *listener {
	if strings.HasSuffix(addr, ":0") {
		return nil // port 0 asks for a new socket every time
	}
	for _, l := range g.listeners {
		if l.addr == addr || l.ln.Addr().String() == addr {
			return l
		}
	}
	return nil
}

// closeStaleListeners closes every socket s does not use. Connections
// accepted on them carry on.
func (g *Gateway) closeStaleListeners(s *snapshot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for key, l := range g.listeners {
		if s.listeners[l] == nil {
			l.ln.Close()
			delete(g.listeners, key)
			g.log.Info("listener closed", "address", l.ln.Addr().String())
		}
	}
}
