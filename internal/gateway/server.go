package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skjold-dev/skjold/internal/certs"
	"github.com/skjold-dev/skjold/internal/config"
	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/proxy"
	"github.com/skjold-dev/skjold/internal/route"
)

// listener is one bound client socket. Its name, limits and routes come
// from the snapshot in force (snapshot.view), so a reload that renames it
// does so with everything else.
type listener struct {
	addr string
	ln   net.Listener
	done chan struct{} // closed when the accept loop has ended
	// tlsBase is the listener's stable TLS config (see baseTLS); used
	// when the snapshot in force gives the listener a tls section.
	tlsBase *tls.Config
}

// listenerSettings are a listener's limits, resolved from the config.
type listenerSettings struct {
	readHeader time.Duration
	send       time.Duration
	idle       time.Duration
	maxHeader  int
	maxURI     int
}

func settingsFor(cfg *config.Config, name string) listenerSettings {
	l := cfg.Listeners[name]
	if l == nil {
		return listenerSettings{readHeader: config.DefaultReadHeaderTimeout, send: config.DefaultClientSendTimeout, idle: config.DefaultIdleTimeout,
			maxHeader: config.DefaultMaxHeaderBytes, maxURI: config.DefaultMaxURIBytes}
	}
	return listenerSettings{readHeader: l.ReadHeaderTimeout.D(), send: l.SendTimeout.D(), idle: l.IdleTimeout.D(),
		maxHeader: int(l.MaxHeaderBytes), maxURI: int(l.MaxURIBytes)}
}

// Addrs returns the bound address of every listener by name (useful when a
// config asks for port 0).
func (g *Gateway) Addrs() map[string]string {
	out := map[string]string{}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.snap.Load()
	if s == nil {
		return out
	}
	for _, l := range g.listeners {
		if v := s.listeners[l]; v != nil {
			out[v.name] = l.ln.Addr().String()
		}
	}
	return out
}

// Serve accepts connections until ctx ends, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish for up to the
// config's shutdown_grace, then closes what is left. It returns nil after
// a clean shutdown.
func (g *Gateway) Serve(ctx context.Context) error {
	s := g.snap.Load()
	if s == nil {
		return errors.New("gateway: Serve called before a config was applied")
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.startParking()
	defer func() { g.idle.parker.Load().stop() }()
	g.mu.Lock()
	g.ctx = runCtx
	for _, l := range g.listeners {
		go g.accept(l)
	}
	for _, c := range g.checkers {
		c.Start(runCtx)
	}
	g.mu.Unlock()
	janitorDone, staplerDone := make(chan struct{}), make(chan struct{})
	go g.janitor(runCtx, janitorDone)
	go g.stapler(runCtx, staplerDone)

	<-ctx.Done()
	grace := g.snap.Load().cfg.ShutdownGrace.D()
	shutdownCtx, stop := context.WithTimeout(context.Background(), grace)
	defer stop()
	g.shutdown(shutdownCtx)
	cancel()
	<-janitorDone
	<-staplerDone
	g.stopACME()
	// Every request has ended: the pooled upstream connections go too.
	g.registry.Commit(nil)
	g.mu.Lock()
	for name, c := range g.checkers {
		c.Stop()
		delete(g.checkers, name)
	}
	g.mu.Unlock()
	return nil
}

// shutdown stops accepting, wakes idle connections so they close, and
// waits for active ones until ctx ends; then it closes the rest.
func (g *Gateway) shutdown(ctx context.Context) {
	g.closing.Store(true)
	g.mu.Lock()
	for addr, l := range g.listeners {
		l.ln.Close()
		<-l.done
		delete(g.listeners, addr)
	}
	g.mu.Unlock()
	g.conns.wakeIdle()
	g.closeParked()
	waited := make(chan struct{})
	go func() {
		g.conns.wait()
		g.proxy.Tunnels.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		g.log.Info("shutdown complete: every request finished")
	case <-ctx.Done():
		n := g.conns.closeAll()
		<-waited
		g.log.Warn("shutdown grace period over: closed connections still in use", "connections", n)
	}
}

// janitor closes upstream connections that idled past their timeout.
func (g *Gateway) janitor(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if s := g.snap.Load(); s != nil {
				g.registry.CloseIdle(s.upstreamList(), now)
			}
			if now.Sub(lastRefresh) >= certRefreshEvery {
				g.refreshCertificates(now)
				lastRefresh = now
			}
		}
	}
}

func (g *Gateway) accept(l *listener) {
	defer close(l.done)
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep going.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			g.log.Error("accept failed", "listener", l.ln.Addr().String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if g.closing.Load() {
			nc.Close()
			continue
		}
		// Tracked here, not in serveConn: shutdown waits for this loop to
		// end and then for the tracked connections, so a connection added
		// by a goroutine that had not run yet would be missed (and its Add
		// would race the Wait).
		c := g.conns.add(nc, l)
		go g.serveConn(c)
	}
}

// serveConn runs a new client connection: read a request, route it,
// forward it, log it, and go on while keepalive allows.
func (g *Gateway) serveConn(c *clientConn) {
	b := &c.bufs
	b.remoteIP, b.peer = remoteIP(c.nc), peerAddr(c.nc)
	b.proto = "http"
	v := g.snap.Load().view(c.l)
	if v.client.proxyProtocol && !g.readProxyHeader(c, v) {
		g.closeConn(c)
		return
	}
	if v.tls != nil {
		tc := g.handshake(c, v.name, v.settings.readHeader)
		if tc == nil {
			g.closeConn(c)
			return
		}
		if tc.ConnectionState().NegotiatedProtocol == certs.ACMEALPN {
			// A CA validating tls-alpn-01: the handshake was the answer.
			c.bufs.cr.Conn, c.tls = tc, true
			g.closeConn(c)
			return
		}
		// From here on every read and write goes through TLS (c.nc stays
		// the socket, for shutdown to wake and close); the connection
		// never parks, since TLS may hold decrypted bytes the socket no
		// longer shows.
		b.cr.Conn, c.tls, b.proto = tc, true, "https"
	} else {
		b.cr.Conn = c.nc
		b.cr.Prepend(c.pre)
		c.pre = nil
	}
	b.take()
	// The clock is read when a request starts and when it ends (in
	// Forward); the end is where the next idle wait counts from.
	c.last = time.Now()
	g.serveRequests(c)
}

// resumeConn carries on with a parked connection its next request has
// woken: it has no buffers yet, so its wait reads the first byte alone.
func (g *Gateway) resumeConn(c *clientConn) { g.serveRequests(c) }

// serveRequests serves c's requests until the connection ends, and then
// closes it, or until it parks: then the parker owns c, and nothing here
// may touch it again.
func (g *Gateway) serveRequests(c *clientConn) {
	if err := g.serveLoop(c); errors.Is(err, errParked) {
		return
	}
	g.closeConn(c)
}

// closeConn ends a connection that no goroutine serves any more.
func (g *Gateway) closeConn(c *clientConn) {
	c.bufs.release()
	if c.tls {
		c.bufs.cr.Conn.Close() // sends close_notify, then closes the socket
	}
	c.nc.Close()
	g.conns.remove(c)
}

// serveLoop is serveRequests' loop; it returns errParked when the
// connection parked, else why the connection should close (nil when it
// simply ended).
func (g *Gateway) serveLoop(c *clientConn) error {
	for {
		// Idle between requests: shutdown may wake us here.
		c.state.Store(connIdle)
		if err := g.wait(c, g.snap.Load().view(c.l).settings.idle); err != nil {
			return err
		}
		c.state.Store(connActive)
		// The config (and the targets) in force are the ones at the moment
		// the request arrived, not when the connection went idle: a
		// keepalive connection idle across a target switch must not send
		// its next request to a target that has left.
		s := g.snap.Load()
		if !g.serveRequest(c, s, s.view(c.l)) {
			return nil
		}
	}
}

// serveRequest reads one request, routes it and forwards it; it reports
// whether the connection may carry another.
func (g *Gateway) serveRequest(c *clientConn, s *snapshot, v *listenerView) (keepAlive bool) {
	ex := &c.bufs.w.ex
	ex.HSTS = ""
	if v.tls != nil && c.tls {
		ex.HSTS = v.tls.hsts
	}
	path, ok := g.readRequest(c, &v.settings)
	if !ok {
		return ex.KeepAlive
	}
	ex.ClientAddr = v.client.resolver.Resolve(ex.Peer, ex.Req.Fields)
	if v.redirect != nil {
		c.last = g.redirect(ex, s, v.redirect)
		return ex.KeepAlive
	}
	m, found := v.table.Lookup(ex.Req.Host, path, ex.Req.Method)
	if !found {
		c.last = g.reject(ex, 404, "no route for this host and path", ex.Req.KeepAlive && !ex.Req.HasBody())
		return ex.KeepAlive
	}
	ex.Path, ex.PrefixLen = path, m.PrefixLen
	g.forward(c, m.Value, &v.settings)
	return ex.KeepAlive && !ex.Upgraded
}

// readRequest reads and parses the next request head into the exchange and
// cleans its path. When it fails it has answered the client, and the
// exchange's KeepAlive says whether the connection may go on.
func (g *Gateway) readRequest(c *clientConn, ls *listenerSettings) (path []byte, ok bool) {
	w := c.bufs.w
	ex := &w.ex
	start := time.Now()
	c.busy = c.served && start.Sub(c.last) < g.idle.crowdWait()
	c.served = true
	c.bufs.cr.ReadBy(start.Add(ls.readHeader), start)
	ex.Reset()
	ex.Start = start
	head, err := h1.ReadHead(w.br, ls.maxHeader, &w.spill)
	if err != nil {
		g.rejectHead(ex, err)
		ex.KeepAlive = false
		return nil, false
	}
	// The head must not live in br's buffer: reading the body, and the
	// proxy's client watcher, refill that buffer while the parsed request
	// still points into the head.
	w.headBuf = append(w.headBuf[:0], head...)
	if err := h1.ParseRequest(w.headBuf, h1.Limits{MaxURI: ls.maxURI}, &ex.Req); err != nil {
		g.reject(ex, h1.Status(err), "bad request: "+err.Error(), false)
		return nil, false
	}
	path, err = route.CleanPath(ex.Req.Path, w.pathBuf[:0])
	if err != nil {
		c.last = g.reject(ex, 400, "bad request: "+err.Error(), ex.Req.KeepAlive && !ex.Req.HasBody())
		return nil, false
	}
	if len(path) > 0 && &path[0] != &ex.Req.Path[0] {
		w.pathBuf = path[:0]
	}
	return path, true
}

// forward hands a routed request to the proxy and records it.
func (g *Gateway) forward(c *clientConn, rs *routeState, ls *listenerSettings) {
	ex := &c.bufs.w.ex
	if g.closing.Load() {
		ex.Req.KeepAlive = false
	}
	// The request body must arrive within the route's deadline too.
	c.bufs.cr.ReadBy(ex.Start.Add(rs.Total), ex.Start)
	ex.SendTimeout = ls.send
	switch {
	case !g.admit(ex, rs):
	case rs.direct != nil:
		g.answerDirect(ex, rs.direct)
	default:
		rs.metrics.inflight.Inc()
		g.proxy.Forward(ex, &rs.Route)
		rs.metrics.inflight.Dec()
	}
	if !ex.BodyConsumed() {
		ex.KeepAlive = false
	}
	if ex.End.IsZero() {
		ex.End = time.Now()
	}
	c.last = ex.End
	g.record(ex, rs)
}

// connBufs hold a client connection's working state — read and write
// buffers, the Exchange with its reused slices — while it is busy, and give
// it back to a pool while it idles.
type connBufs struct {
	remoteIP string
	peer     netip.Addr
	proto    string             // "http" or "https"
	cr       proxy.ClientReader // the connection, and the reader under w.br: deadlines, the read-ahead byte
	w        *connWork          // nil while idle
	br       *bufio.Reader
}

// connWork is what a busy connection needs and an idle one does not.
type connWork struct {
	br                      *bufio.Reader
	bw                      *bufio.Writer
	ex                      proxy.Exchange
	spill, headBuf, pathBuf []byte
}

var connWorkPool = sync.Pool{New: func() any {
	return &connWork{br: bufio.NewReaderSize(nil, 4<<10), bw: bufio.NewWriterSize(nil, 4<<10)}
}}

func (b *connBufs) take() {
	if b.w != nil {
		return
	}
	w := connWorkPool.Get().(*connWork)
	w.br.Reset(&b.cr)
	w.bw.Reset(b.cr.Writer())
	w.ex.Client, w.ex.CR, w.ex.BR, w.ex.BW = b.cr.Conn, &b.cr, w.br, w.bw
	w.ex.RemoteIP, w.ex.Peer, w.ex.Proto = b.remoteIP, b.peer, b.proto
	b.w, b.br = w, w.br
}

func (b *connBufs) release() {
	w := b.w
	if w == nil {
		return
	}
	w.ex.Close() // no watcher may outlive the connection's use of it
	w.br.Reset(nil)
	w.bw.Reset(nil)
	w.ex.Client, w.ex.CR, w.ex.BR, w.ex.BW = nil, nil, nil, nil
	if cap(w.spill) > 64<<10 {
		w.spill = nil
	}
	connWorkPool.Put(w)
	b.w, b.br = nil, nil
}

// errParked is wait's answer when the connection went to the parker: the
// goroutine that served it must return without closing it.
var errParked = errors.New("connection parked")

// wait returns once c's next request's first byte is readable, or with an
// error when the connection ends, the idle timeout (counted from c.last)
// passes or shutdown begins, or with errParked when the connection was
// handed to the parker to wait without a goroutine.
//
// A connection first waits with its buffers for idle.shrinkAfter, so a
// busy keepalive connection never pays for giving them back; when too
// many connections already wait with buffers (a burst of new connections,
// each sending one request), only for idle.crowdWait, which is still long
// enough for a busy connection's next request. A connection whose last
// request came within the crowd wait is busy and keeps the full shrink
// time: under load (hundreds of connections on a saturated machine) it
// would otherwise re-arm its deadline and park now and then. After that
// it gives them back and parks; where parking is not available its
// goroutine waits for a single byte instead.
//
// Every deadline wait arms is followed by a closing check, so a shutdown
// that wakes idle connections cannot be overwritten.
func (g *Gateway) wait(c *clientConn, idle time.Duration) error {
	b := &c.bufs
	since := c.last
	deadline := since.Add(idle)
	if b.br != nil {
		if b.br.Buffered() > 0 {
			return nil // a pipelined request is already here
		}
		phase := deadline
		if shrink := g.idle.shrinkAfter(); idle > shrink {
			phase = since.Add(shrink)
		}
		counted := !c.busy
		if counted && g.idle.buffered.Add(1) > g.idle.maxBuffered() {
			if crowd := since.Add(g.idle.crowdWait()); crowd.Before(phase) {
				phase = crowd
			}
		}
		b.cr.ArmBy(phase, since)
		var err error
		if g.closing.Load() {
			err = net.ErrClosed
		} else {
			_, err = b.br.Peek(1)
		}
		if counted {
			g.idle.buffered.Add(-1)
		}
		if err == nil || phase.Equal(deadline) || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		b.release()
		if !c.tls && g.idle.parker.Load().park(c, deadline) {
			return errParked
		}
	}
	b.cr.ArmBy(deadline, since)
	if g.closing.Load() {
		return net.ErrClosed
	}
	if err := b.cr.ReadAhead(); err != nil {
		return err
	}
	b.take()
	return nil
}

// rejectHead answers a request head that could not be read.
func (g *Gateway) rejectHead(ex *proxy.Exchange, err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return // the client left
	case errors.Is(err, os.ErrDeadlineExceeded):
		// A client that trickles its head: cut it (nginx's 408).
		g.reject(ex, 408, "request head not received in time", false)
	case errors.Is(err, h1.ErrHeadTooLarge):
		g.reject(ex, 431, "request head too large", false)
	default:
		var ne net.Error
		if errors.As(err, &ne) {
			return
		}
		g.reject(ex, 400, "bad request: "+err.Error(), false)
	}
}

// reject answers a request that never reaches a route. It returns when it
// finished.
func (g *Gateway) reject(ex *proxy.Exchange, status int, msg string, keepAlive bool) time.Time {
	class := proxy.ClassBadRequest
	if status == 404 {
		class = proxy.ClassNoRoute
	}
	ex.KeepAlive = keepAlive
	ex.BW.Reset(ex.Client)
	now := time.Now()
	ex.ArmWrite(now.Add(5*time.Second), now)
	g.proxy.Answer(ex, proxy.ErrorAnswer{Status: status, Class: class, Message: msg})
	ex.End = time.Now()
	g.record(ex, nil)
	return ex.End
}

// record writes the access log line and the request metrics.
func (g *Gateway) record(ex *proxy.Exchange, rs *routeState) {
	elapsed := ex.End.Sub(ex.Start)
	routeName := ""
	if rs != nil {
		routeName = rs.Name
		rs.metrics.observe(ex, elapsed)
	} else {
		g.metrics.unrouted(ex.Status)
	}
	if g.accessLog == nil {
		return
	}
	path := ex.Req.Path
	if len(path) > 512 {
		path = path[:512]
	}
	g.accessLog.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", string(ex.Req.Method)),
		slog.String("host", string(ex.Req.Host)),
		slog.String("path", string(path)),
		slog.Int("status", ex.Status),
		slog.String("route", routeName),
		slog.String("upstream", ex.Upstream),
		slog.String("target", ex.Target),
		slog.Int("tries", ex.Tries),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("bytes", ex.BytesOut),
		slog.String("request_id", string(ex.RequestID)),
		slog.String("client", ex.ClientString()),
		slog.String("error", ex.ErrClass.String()),
	)
}

func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// Connection states, for shutdown.
const (
	connActive int32 = iota
	connIdle
)

// clientConn is one client connection and everything it keeps between
// requests.
type clientConn struct {
	nc    net.Conn
	l     *listener
	state atomic.Int32
	bufs  connBufs
	last  time.Time // when the last request ended: the idle timeout counts from here
	// busy: the last request came within the crowd wait of the one
	// before (not of the connection's opening: a burst of new connections
	// with one request each is what the crowd rule is for), so this
	// connection keeps its buffers for the whole shrink time even in a
	// crowd, and is not counted in it.
	busy   bool
	served bool     // a request has ended on this connection
	tls    bool     // the client speaks TLS over nc (it never parks)
	pre    []byte   // bytes that came with a PROXY header, for the first reader
	park   parkSlot // the parker's bookkeeping while parked
}

// connSet tracks client connections so shutdown can close idle ones at
// once and wait for active ones.
type connSet struct {
	mu    sync.Mutex
	conns map[*clientConn]struct{}
	wg    sync.WaitGroup
}

func (s *connSet) add(nc net.Conn, l *listener) *clientConn {
	c := &clientConn{nc: nc, l: l}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*clientConn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	return c
}

func (s *connSet) remove(c *clientConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// wakeIdle interrupts connections waiting for their next request.
func (s *connSet) wakeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.Load() == connIdle {
			c.nc.SetReadDeadline(time.Now())
		}
	}
}

func (s *connSet) closeAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
	}
	return len(s.conns)
}

func (s *connSet) wait() { s.wg.Wait() }

// Count is the number of open client connections.
func (s *connSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
