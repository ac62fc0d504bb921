//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// parker holds idle keepalive connections without a goroutine each: a
// goroutine blocked in a read keeps a stack of 4 to 8 KiB, more than
// everything else an idle connection costs. A parked connection's socket
// sits in an epoll instance of its own (the runtime's netpoller wakes
// goroutines only, so it cannot do this); one goroutine waits on it, and
// when a parked connection becomes readable it starts a goroutine that
// serves it on. The same goroutine closes parked connections whose idle
// timeout passed. (The technique of Go servers with a million idle
// websockets.)
//
// Each park gets a new ID, and the epoll event carries that ID rather
// than the descriptor: a descriptor closed and reused by another
// connection can never wake the wrong one, and an event that loses the
// race with a timeout or shutdown finds its ID gone and is dropped. Every
// connection leaves the parked set under mu, by exactly one of: its event,
// its timeout, shutdown. Parking is not on the busy path, so one mutex is
// enough.
type parker struct {
	log    *slog.Logger
	epfd   int
	wakefd int // an eventfd that ends run; its epoll ID is 0
	every  time.Duration
	resume func(*clientConn) // starts serving a connection that became readable
	expire func(*clientConn) // closes a connection whose idle timeout passed
	done   chan struct{}     // closed when run returns

	mu      sync.Mutex
	parked  map[uint64]*clientConn
	lastID  uint64
	closed  bool // closeAll ran: park refuses
	stopped bool // stop ran: run returns
}

// parkSlot is what the parker keeps in a parked connection.
type parkSlot struct {
	id       uint64
	fd       int
	deadline time.Time // its idle timeout
}

const wakeID = 0

// newParker opens the epoll instance and starts its goroutine; stop ends
// it. resume runs on that goroutine, so it must not block; expire runs
// there too.
func newParker(log *slog.Logger, every time.Duration, resume, expire func(*clientConn)) (*parker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	p := &parker{
		log: log, epfd: epfd, wakefd: wakefd, every: every,
		resume: resume, expire: expire,
		done:   make(chan struct{}),
		parked: map[uint64]*clientConn{},
	}
	go p.run()
	return p, nil
}

// park hands c, idle and without buffers, to the parker until a byte
// arrives or deadline passes. It reports false when c must wait in its
// own goroutine instead: no parker, shutdown under way, or a connection
// without a socket descriptor. After true, the caller must not touch c.
func (p *parker) park(c *clientConn, deadline time.Time) bool {
	if p == nil {
		return false
	}
	fd, ok := connFD(c)
	if !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.lastID++
	id := p.lastID
	c.park = parkSlot{id: id, fd: fd, deadline: deadline}
	// In the set before epoll knows it: the event may come at once (level
	// triggered: bytes that arrived already count), and run waits for mu.
	p.parked[id] = c
	// One-shot: after its event, the descriptor stays in the epoll set but
	// reports nothing more; taking it out deletes it.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setEventID(&ev, id)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(p.parked, id)
		p.log.Warn("parking an idle connection failed; it waits in its goroutine", "err", err)
		return false
	}
	return true
}

// connFD returns the socket descriptor of c. It stays valid while c is
// open, and a parked connection is closed only by whoever took it out of
// the parked set, after taking its descriptor out of epoll.
func connFD(c *clientConn) (int, bool) {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

// unpark takes the connection parked as id out of the set and out of
// epoll, or returns nil when it has left already. Callers hold mu.
func (p *parker) unpark(id uint64) *clientConn {
	c := p.parked[id]
	if c == nil {
		return nil
	}
	delete(p.parked, id)
	// Only fails if the descriptor is not in the set, which cannot be: c
	// is open (only this parker closes a parked connection) and was added.
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.park.fd, nil)
	c.park = parkSlot{}
	return c
}

// run waits for parked connections to become readable and resumes them,
// and every p.every closes those whose idle timeout passed.
func (p *parker) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	ready := make([]*clientConn, 0, len(events))
	timeout := max(int(p.every/time.Millisecond), 1)
	nextSweep := time.Now().Add(p.every)
	for {
		n, err := unix.EpollWait(p.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			// Cannot happen with a valid epfd and buffer; parked
			// connections would hang, so say so loudly.
			p.log.Error("waiting for parked idle connections failed", "err", err)
			return
		}
		ready = ready[:0]
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		for i := range n {
			if id := eventID(&events[i]); id != wakeID {
				if c := p.unpark(id); c != nil {
					ready = append(ready, c)
				}
			}
		}
		p.mu.Unlock()
		for _, c := range ready {
			p.resume(c)
		}
		if now := time.Now(); !now.Before(nextSweep) {
			nextSweep = now.Add(p.every)
			for _, c := range p.expired(now) {
				p.expire(c)
			}
		}
	}
}

// expired takes out the parked connections whose idle timeout passed.
func (p *parker) expired(now time.Time) []*clientConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*clientConn
	for id, c := range p.parked {
		if !now.Before(c.park.deadline) {
			out = append(out, p.unpark(id))
		}
	}
	return out
}

// closeAll takes every parked connection out, for the caller to close, and
// makes park refuse from now on.
func (p *parker) closeAll() []*clientConn {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	out := make([]*clientConn, 0, len(p.parked))
	for id := range p.parked {
		out = append(out, p.unpark(id))
	}
	return out
}

// stop ends run and closes the epoll instance. Call it after closeAll:
// whatever is still parked then stays open.
func (p *parker) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed, p.stopped = true, true
	p.mu.Unlock()
	one := [8]byte{1}
	unix.Write(p.wakefd, one[:])
	<-p.done
	unix.Close(p.wakefd)
	unix.Close(p.epfd)
}

// The event's 64-bit user data is split over two 32-bit fields on every
// architecture x/sys/unix describes.
func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
