// Package sockio reads and writes TCP connections with raw system calls on
// the goroutine's own thread. The sockets are non-blocking (the runtime's
// netpoller waits for them), so a read or write never blocks in the
// kernel; making it through syscall.Syscall anyway tells the scheduler the
// thread may block, and on a machine where the proxy shares its cores with
// its clients and backends the scheduler's monitor then hands the
// goroutine's processor to another thread, waking it with a futex, tens of
// thousands of times a second. Measured on two cores: see
// docs/performance.md.
package sockio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Conn is the read and write side of one connection. One goroutine reads
// and one writes at a time, as with a net.Conn's Read and Write.
type Conn struct {
	nc net.Conn
	rc syscall.RawConn // nil: not a socket with a descriptor; use nc

	// The pending read and write, for the callbacks below, which are
	// built once per connection so no read or write allocates.
	rbuf  []byte
	rn    int
	rerr  syscall.Errno
	wbuf  []byte
	wn    int
	werr  syscall.Errno
	readF func(fd uintptr) bool
	wrF   func(fd uintptr) bool

	// A write held for the next read (HoldNextWrite).
	hold      bool
	held      []byte
	sendReadF func(fd uintptr) bool
}

// New wraps nc. A connection without a raw descriptor (a TLS connection,
// a pipe in a test) is read and written through nc itself.
func New(nc net.Conn) *Conn {
	c := &Conn{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok && hasRaw {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			c.readF = c.readFD
			c.wrF = c.writeFD
			c.sendReadF = c.sendThenReadFD
		}
	}
	return c
}

// HoldNextWrite makes the next Write keep its bytes instead of sending
// them; the Read after it sends them and then waits for the peer's answer
// without first trying a read that cannot succeed yet. It is for a
// request/response exchange where nothing can arrive before the request
// is out (not for a client connection: a client may pipeline). The held
// bytes must not change until that Read, so the Write is a bufio.Writer's
// last Flush before the response is read. A failure to send surfaces from
// the Read, as a *net.OpError whose Op is "write".
//
// Why: the netpoller forgets what it learnt of a socket's readiness when a
// read begins, so a read must try the socket before it may wait. Sending
// the request from inside the read, after that reset, means any answer
// arrives after it and wakes the wait: one system call fewer per request.
func (c *Conn) HoldNextWrite() {
	if c.rc != nil {
		c.hold = true
	}
}

// Holding reports whether a write is held for the next Read (or about to
// be, after HoldNextWrite): a connection in that state has an unsent
// request and must not be reused.
func (c *Conn) Holding() bool { return c.hold || c.held != nil }

// Read reads into p: what the socket holds, or after waiting (within the
// read deadline set on the net.Conn) for the first bytes to arrive. A held
// write (HoldNextWrite) is sent first.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rc == nil {
		return c.nc.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf, c.rn, c.rerr = p, 0, 0
	var err error
	if c.held != nil {
		err = c.sendThenRead()
	} else {
		err = c.rc.Read(c.readF)
	}
	c.rbuf = nil
	if err != nil {
		return 0, err // closed, the deadline passed, or the held write failed
	}
	if c.rerr != 0 {
		return 0, c.opError("read", os.NewSyscallError("read", c.rerr))
	}
	if c.rn == 0 {
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *Conn) readFD(fd uintptr) bool {
	for {
		n, errno := rawRead(fd, c.rbuf)
		switch errno {
		case 0:
			c.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits for readability
		default:
			c.rerr = errno
			return true
		}
	}
}

// Write writes all of p, waiting (within the write deadline set on the
// net.Conn) while the socket's send buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	if c.rc == nil {
		return c.nc.Write(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.hold {
		c.hold, c.held = false, p
		return len(p), nil
	}
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.wrF)
	n := c.wn
	c.wbuf = nil
	if err != nil {
		return n, err
	}
	if c.werr != 0 {
		return n, c.opError("write", os.NewSyscallError("write", c.werr))
	}
	return n, nil
}

func (c *Conn) writeFD(fd uintptr) bool {
	switch errno := writeAll(fd, c.wbuf, &c.wn); errno {
	case 0:
		return true
	case syscall.EAGAIN:
		return false // the netpoller waits for room
	default:
		c.werr = errno
		return true
	}
}

// writeAll writes b[*n:], adding to *n what went out, until all of it has
// or the socket refuses (EAGAIN: it is full) or fails.
func writeAll(fd uintptr, b []byte, n *int) syscall.Errno {
	for *n < len(b) {
		w, errno := rawWrite(fd, b[*n:])
		switch errno {
		case 0:
			*n += w
		case syscall.EINTR:
		default:
			return errno
		}
	}
	return 0
}

// sendThenRead sends the held write and reads the answer.
func (c *Conn) sendThenRead() error {
	c.wn, c.werr = 0, 0
	err := c.rc.Read(c.sendReadF)
	switch {
	case c.held == nil:
		return err // sent; err is the read's
	case err == nil && c.werr == 0:
		// The socket's buffer was full (a large request): send the rest
		// the ordinary way, then read the ordinary way.
		c.wbuf, c.held = c.held, nil
		err = c.rc.Write(c.wrF)
		c.wbuf = nil
		if err == nil && c.werr == 0 {
			return c.rc.Read(c.readF)
		}
	}
	c.held = nil
	if err == nil {
		err = os.NewSyscallError("write", c.werr)
	}
	return c.opError("write", err)
}

func (c *Conn) sendThenReadFD(fd uintptr) bool {
	if c.held == nil {
		return c.readFD(fd)
	}
	switch errno := writeAll(fd, c.held, &c.wn); errno {
	case 0:
		c.held = nil
		return false // sent after the netpoller's reset: wait for the answer
	case syscall.EAGAIN:
		return true // held still set, no error: the socket took only part
	default:
		c.werr = errno
		return true
	}
}

// opError wraps err as the net package does, so callers see the same
// *net.OpError (and errors.Is matches the same errno) as from a net.Conn.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}
