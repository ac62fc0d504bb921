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
