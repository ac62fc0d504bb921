package tcptest

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
)

func TestPairIsConnected(t *testing.T) {
	a, b := Pair(t)
	go a.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if a.LocalAddr().String() != b.RemoteAddr().String() {
		t.Fatalf("the ends do not face each other: %v, %v", a.LocalAddr(), b.RemoteAddr())
	}
}

func TestClosedAddrRefusesConnections(t *testing.T) {
	addr := ClosedAddr(t)
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("a dial to %s connected; want it refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v; want connection refused", addr, err)
	}
}
