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

	"github.com/skjold-dev/skjold/internal/tcptest"
)

func TestReadWaitsForDataAndReportsEOF(t *testing.T) {
	a, b := tcptest.Pair(t)
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
	a, b := tcptest.Pair(t)
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
	a, _ := tcptest.Pair(t)
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
	a, b := tcptest.Pair(t)
	sa := New(a)
	resetBy(b)
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
	a, _ := tcptest.Pair(t)
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
	x, y := tcptest.Pair(b)
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
	a, b := tcptest.Pair(t)
	sa := New(a)
	resetBy(b)
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

// echoOnce answers the first len(want) bytes it reads with "ok:" and them.
func echoOnce(t *testing.T, c net.Conn, n int) {
	t.Helper()
	go func() {
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		c.Write(append([]byte("ok:"), buf[:min(n, 8)]...))
	}()
}

func TestHeldWriteGoesOutWithTheRead(t *testing.T) {
	a, b := tcptest.Pair(t)
	sa := New(a)
	sa.HoldNextWrite()
	if !sa.Holding() {
		t.Fatal("Holding() = false after HoldNextWrite")
	}
	if n, err := sa.Write([]byte("request1")); n != 8 || err != nil {
		t.Fatalf("held Write = %d, %v", n, err)
	}
	// Nothing has been sent yet.
	b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := b.Read(make([]byte, 8)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the peer read %d bytes (%v) before the held write's Read", n, err)
	}
	b.SetReadDeadline(time.Time{})
	echoOnce(t, b, 8)
	buf := make([]byte, 64)
	n, err := sa.Read(buf)
	if err != nil || string(buf[:n]) != "ok:request1" {
		t.Fatalf("Read = %q, %v; want the answer to the held request", buf[:n], err)
	}
	if sa.Holding() {
		t.Fatal("Holding() = true after the held write went out")
	}
	// The next exchange, without holding, works as before.
	echoOnce(t, b, 8)
	if _, err := sa.Write([]byte("request2")); err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadAtLeast(sa, buf, len("ok:request2")); err != nil || string(buf[:n]) != "ok:request2" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}

func TestHeldWriteLargerThanTheSocketTakes(t *testing.T) {
	a, b := tcptest.Pair(t)
	sa := New(a)
	payload := bytes.Repeat([]byte("x"), 8<<20) // more than the socket buffers hold
	sa.HoldNextWrite()
	sa.Write(payload)
	echoOnce(t, b, len(payload))
	a.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, err := sa.Read(buf)
	if err != nil || string(buf[:n]) != "ok:xxxxxxxx" {
		t.Fatalf("Read = %q, %v; want the answer after all %d bytes arrived", buf[:n], err, len(payload))
	}
}

func TestHeldWriteToAResetPeerFailsAsAWrite(t *testing.T) {
	a, b := tcptest.Pair(t)
	sa := New(a)
	resetBy(b)
	sa.HoldNextWrite()
	sa.Write([]byte("request"))
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := sa.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Read after a held write to a reset peer = %v, want ECONNRESET or EPIPE", err)
	}
	if sa.Holding() {
		t.Fatal("a failed held write is still held")
	}
}

func TestHeldWriteWaitsForTheAnswerWithinTheReadDeadline(t *testing.T) {
	a, b := tcptest.Pair(t)
	sa := New(a)
	sa.HoldNextWrite()
	sa.Write([]byte("request"))
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := sa.Read(make([]byte, 8)) // the peer never answers
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want the read deadline", err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "write" {
		t.Fatalf("a read timeout after the request went out is reported as a write failure: %v", err)
	}
	got := make([]byte, 7)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "request" {
		t.Fatalf("the peer got %q, %v: the held request was not sent", got, err)
	}
}

// resetBy closes c with SO_LINGER 0, which sends a reset, and gives the
// reset time to reach the other end.
func resetBy(c net.Conn) {
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	time.Sleep(20 * time.Millisecond)
}
