package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestReadWaitsForDataAndReportsEOF(t *testing.T) {
	a, b := pair(t)
	sa := New(a)
	if sa.rc == nil {
		t.Fatal("a TCP connection was not given raw access")
	}
	go func() {
		time.Sleep(20 * time.Millisecond) // the read must wait in the netpoller first
		b.Write([]byte("hello"))
		b.Close()
	}()
	buf := make([]byte, 16)
	n, err := sa.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v; want hello", buf[:n], err)
	}
	if n, err := sa.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want 0, EOF", n, err)
	}
}

func TestWriteFillsTheSocketAndWaitsForRoom(t *testing.T) {
	a, b := pair(t)
	sa := New(a)
	// Far more than the socket buffers hold: the write must wait for the
	// reader repeatedly and still deliver every byte in order.
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	n, err := sa.Write(payload)
	if err != nil || n != len(payload) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(payload))
	}
	a.Close()
	if all := <-got; !bytes.Equal(all, payload) {
		t.Fatalf("the reader got %d bytes, not the %d written in order", len(all), len(payload))
	}
}

func TestDeadlinesStillApply(t *testing.T) {
	a, _ := pair(t)
	sa := New(a)
	a.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	_, err := sa.Read(make([]byte, 8))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %v, want a deadline error", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the deadline error %v is not a net.Error timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the read returned after %v", d)
	}

	// A write into a peer that never reads stalls once the buffers are
	// full, and its deadline ends it.
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = sa.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a stalled Write = %v, want a deadline error", err)
	}
}

func TestSocketErrorsKeepTheirErrno(t *testing.T) {
	a, b := pair(t)
	sa := New(a)
	// SO_LINGER 0: the close sends a reset.
	b.(*net.TCPConn).SetLinger(0)
	b.Close()
	time.Sleep(20 * time.Millisecond)
	_, err := sa.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read of a reset connection = %v, want ECONNRESET", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("the error %v is not a read *net.OpError", err)
	}
}

func TestClosedConnection(t *testing.T) {
	a, _ := pair(t)
	sa := New(a)
	a.Close()
	if _, err := sa.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a closed connection = %v, want net.ErrClosed", err)
	}
	if _, err := sa.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write to a closed connection = %v, want net.ErrClosed", err)
	}
}

func TestConnWithoutDescriptorUsesItsOwnReadWrite(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sa := New(a)
	if sa.rc != nil {
		t.Fatal("net.Pipe has no descriptor, yet raw access was set up")
	}
	go b.Write([]byte("pipe"))
	buf := make([]byte, 8)
	if n, err := sa.Read(buf); err != nil || string(buf[:n]) != "pipe" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}

func BenchmarkReadWrite(b *testing.B) {
	x, y := pair(b)
	sx, sy := New(x), New(y)
	msg := make([]byte, 128)
	buf := make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		sx.Write(msg)
		io.ReadFull(sy, buf)
	}
}

func TestWriteToAResetPeerFailsWithoutKillingTheProcess(t *testing.T) {
	a, b := pair(t)
	sa := New(a)
	b.(*net.TCPConn).SetLinger(0)
	b.Close()
	time.Sleep(20 * time.Millisecond)
	var err error
	for range 10 { // the first write may still be accepted by the kernel
		if _, err = sa.Write([]byte("after the reset")); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Write to a reset peer = %v, want ECONNRESET or EPIPE", err)
	}
}
