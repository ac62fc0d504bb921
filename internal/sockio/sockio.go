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
		}
	}
	return c
}

// Read reads into p: what the socket holds, or after waiting (within the
// read deadline set on the net.Conn) for the first bytes to arrive.
func (c *Conn) Read(p []byte) (int, error) {
	if c.rc == nil {
		return c.nc.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.rc.Read(c.readF)
	c.rbuf = nil
	if err != nil {
		return 0, err // closed, or the deadline passed
	}
	if c.rerr != 0 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("read", c.rerr)}
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
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.wrF)
	n := c.wn
	c.wbuf = nil
	if err != nil {
		return n, err
	}
	if c.werr != 0 {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("write", c.werr)}
	}
	return n, nil
}

func (c *Conn) writeFD(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		n, errno := rawWrite(fd, c.wbuf[c.wn:])
		switch errno {
		case 0:
			c.wn += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // the netpoller waits for room
		default:
			c.werr = errno
			return true
		}
	}
	return true
}
