package proxy

import (
	"bufio"
	"io"
	"net"
	"time"

	"github.com/skjold-dev/skjold/internal/h1"
	"github.com/skjold-dev/skjold/internal/upstream"
)

// tunnel completes a protocol switch (WebSocket and other Upgrade users):
// the 101 head goes to the client, then bytes flow both ways until either
// side closes. The upstream connection is never pooled again. Reloads do not
// touch tunnels; shutdown waits for them through p.Tunnels.
func (p *Proxy) tunnel(ex *Exchange, c *upstream.Conn) {
	resp := &ex.resp
	w := ex.BW
	ex.Status, ex.Upgraded, ex.KeepAlive = 101, true, false
	w.WriteString("HTTP/1.1 101 ")
	w.Write(resp.Reason)
	w.WriteString("\r\n")
	for i := range resp.Fields {
		f := &resp.Fields[i]
		// Connection and Upgrade belong to this switch and are kept.
		if (h1.IsHopByHop(f.Name) && !h1.EqualFold(f.Name, "connection") && !h1.EqualFold(f.Name, "upgrade")) ||
			h1.EqualFold(f.Name, "content-length") {
			continue
		}
		w.Write(f.Name)
		w.WriteString(": ")
		w.Write(f.Value)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	ex.watch.end()
	if err := w.Flush(); err != nil {
		c.Close()
		ex.ErrClass = ClassClientGone
		return
	}
	c.SetDeadline(time.Time{})
	ex.Client.SetDeadline(time.Time{})

	p.Tunnels.Add(1)
	defer p.Tunnels.Done()
	done := make(chan int64, 1)
	go func() {
		// Upstream → client, starting with what is already buffered.
		n, _ := pipe(ex.Client, c.BR, c.Conn)
		done <- n
	}()
	pipe(c.Conn, ex.BR, ex.Client) // client → upstream
	ex.BytesOut = <-done
	c.Close()
}

// pipe copies from src (through its buffered reader br) to dst until src
// ends, then closes dst for writing so the other direction winds down too.
func pipe(dst net.Conn, br *bufio.Reader, src net.Conn) (int64, error) {
	n, err := io.Copy(dst, br)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		dst.Close()
	}
	// One direction is over; give the other a bounded time to finish
	// rather than waiting on a peer that only half-closed.
	dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	return n, err
}
