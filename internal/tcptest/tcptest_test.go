package tcptest

import (
	"io"
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
