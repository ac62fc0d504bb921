package upstream

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/config"
)

// listen accepts connections and keeps them open until the test ends.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

func TestDoneReusesOnlyConnectionsInAKnownState(t *testing.T) {
	addr := listen(t)
	u := build(t, Settings{MaxIdle: 4, IdleTimeout: time.Minute, ConnectTimeout: time.Second}, config.Target{Address: addr, Weight: 1})
	tg := u.Targets()[0]
	now := time.Now()
	conn := func() *Conn {
		t.Helper()
		c, err := u.Conn(context.Background(), tg, time.Second, now)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	tests := []struct {
		name  string
		spoil func(c *Conn)
		reuse bool
	}{
		{"clean", func(c *Conn) {}, true},
		// The client watcher interrupted it: its deadline is in the past,
		// behind the lazy deadlines' back.
		{"interrupted", func(c *Conn) { c.Interrupt() }, false},
		// A request held for a read that never came: it was never sent.
		{"holding a request", func(c *Conn) {
			c.HoldNextWrite()
			c.BW.WriteString("GET / HTTP/1.1\r\n\r\n")
			c.BW.Flush()
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conn()
			tt.spoil(c)
			u.Done(c, true, now)
			next := conn()
			defer u.Done(next, false, now)
			if got := next == c; got != tt.reuse {
				t.Fatalf("connection reused = %v, want %v", got, tt.reuse)
			}
		})
	}
}

func TestInterruptEndsABlockedRead(t *testing.T) {
	addr := listen(t)
	u := build(t, Settings{MaxIdle: 4, IdleTimeout: time.Minute, ConnectTimeout: time.Second}, config.Target{Address: addr, Weight: 1})
	c, err := u.Conn(context.Background(), u.Targets()[0], time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Done(c, false, time.Now())
	now := time.Now()
	c.ArmRead(now.Add(time.Minute), now)
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Interrupt()
	}()
	_, err = c.BR.ReadByte()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of an interrupted connection = %v, want a deadline error", err)
	}
}

// TestConnectionsTheTargetSentMoreOnAreNeverReused: bytes after a response
// (buffered already, or still in the kernel) and a target's FIN keep a
// connection from being used again, and each is counted under its reason:
// bytes already buffered when Done sees them, the others when Conn takes
// the connection from the pool.
func TestConnectionsTheTargetSentMoreOnAreNeverReused(t *testing.T) {
	tests := []struct {
		name   string
		peer   func(c net.Conn)
		read   bool // read one byte first, so the rest sits in BR
		reason DiscardReason
	}{
		{"bytes buffered", func(c net.Conn) { c.Write([]byte("xy")) }, true, DiscardUnreadBytes},
		{"bytes in the kernel", func(c net.Conn) { c.Write([]byte("x")) }, false, DiscardUnreadBytes},
		{"target closed", func(c net.Conn) { c.Close() }, false, DiscardPeerClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			acted := make(chan struct{})
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
				tt.peer(c)
				close(acted)
			}()
			u := build(t, Settings{MaxIdle: 4, IdleTimeout: time.Minute, ConnectTimeout: time.Second}, config.Target{Address: ln.Addr().String(), Weight: 1})
			tg := u.Targets()[0]
			now := time.Now()
			c, err := u.Conn(context.Background(), tg, time.Second, now)
			if err != nil {
				t.Fatal(err)
			}
			<-acted
			if tt.read {
				if _, err := c.BR.ReadByte(); err != nil {
					t.Fatal(err)
				}
			} else {
				time.Sleep(20 * time.Millisecond) // let the bytes or the FIN land
			}
			u.Done(c, true, now)
			next, err := u.Conn(context.Background(), tg, time.Second, now)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Done(next, false, now)
			if next == c || next.Reused {
				t.Fatalf("the spoilt connection was handed out again (reused %v)", next.Reused)
			}
			for r := range DiscardReasonCount {
				want := uint64(0)
				if r == tt.reason {
					want = 1
				}
				if got := tg.Discarded(r); got != want {
					t.Errorf("Discarded(%s) = %d, want %d", r, got, want)
				}
			}
		})
	}
}

// TestConnectionWhoseReadDeadlinePassedWhileIdleIsReused: a pooled
// connection keeps the read deadline of its last response (the response
// timeout, 30s by default) while it idles for up to idle_timeout (60s by
// default). That deadline passing says nothing about the target: the
// reuse check must still look at the socket, not report it closed.
func TestConnectionWhoseReadDeadlinePassedWhileIdleIsReused(t *testing.T) {
	addr := listen(t)
	u := build(t, Settings{MaxIdle: 4, IdleTimeout: time.Minute, ConnectTimeout: time.Second}, config.Target{Address: addr, Weight: 1})
	tg := u.Targets()[0]
	now := time.Now()
	c, err := u.Conn(context.Background(), tg, time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	// As if the last response's deadline had passed during the idle time.
	c.ArmRead(now.Add(-time.Second), now)
	c.ArmWrite(now.Add(-time.Second), now)
	u.Done(c, true, now)
	next, err := u.Conn(context.Background(), tg, time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Done(next, false, now)
	if next != c {
		t.Fatalf("the idle connection was replaced (discarded as peer_closed %d times)", tg.Discarded(DiscardPeerClosed))
	}
}
