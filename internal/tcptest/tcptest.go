// Package tcptest gives tests both ends of a real loopback TCP connection,
// as net/http/httptest gives them a server: for code that must be tested
// on sockets with descriptors, deadlines and resets, where net.Pipe will
// not do.
package tcptest

import (
	"net"
	"testing"
)

// Pair returns both ends of a new loopback TCP connection; both are
// closed when the test ends.
func Pair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		client.Close()
		tb.Fatal("tcptest: accept failed")
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// ClosedAddr returns a loopback address whose port was free a moment ago
// and that nothing listens on: a dial to it is refused. (Another process
// may take the port later; tests that need it refused keep it short.)
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
