package proxy

import (
	"bufio"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/tcptest"
)

func TestClientReaderReplaysTheReadAheadByte(t *testing.T) {
	peer, c := tcptest.Pair(t)
	r := &ClientReader{Conn: c}
	go peer.Write([]byte("GET / HTTP/1.1\r\n"))
	if err := r.ReadAhead(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || n != 1 || buf[0] != 'G' {
		t.Fatalf("first Read after ReadAhead = %q, %v; want the byte read ahead", buf[:n], err)
	}
	got := []byte{'G'}
	for len(got) < len("GET / HTTP/1.1\r\n") {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("read %q", got)
	}
}

func TestClientReaderReadAheadReportsTheClientLeaving(t *testing.T) {
	peer, c := tcptest.Pair(t)
	r := &ClientReader{Conn: c}
	peer.Close()
	if err := r.ReadAhead(); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAhead of a closed client = %v, want EOF", err)
	}
}

func TestClientReaderArmsTheWantedDeadlineWhenItReads(t *testing.T) {
	_, c := tcptest.Pair(t)
	r := &ClientReader{Conn: c}
	now := time.Now()
	r.ReadBy(now.Add(50*time.Millisecond), now)
	start := time.Now()
	_, err := r.Read(make([]byte, 8))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with nothing sent = %v, want the deadline asked for", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the deadline fired after %v", d)
	}
}

// A deadline asked for but never needed by a read is never armed: the
// next phase's deadline (here none at all) is what a later read gets.
func TestClientReaderDeadlineNotReadUnderIsNeverArmed(t *testing.T) {
	peer, c := tcptest.Pair(t)
	r := &ClientReader{Conn: c}
	now := time.Now()
	r.ReadBy(now.Add(10*time.Millisecond), now) // e.g. a header deadline, head already read
	time.Sleep(30 * time.Millisecond)           // it would have passed
	r.ReadBy(time.Time{}, time.Now())           // e.g. the client watcher: no deadline
	go func() {
		time.Sleep(50 * time.Millisecond)
		peer.Write([]byte("x"))
	}()
	buf := make([]byte, 1)
	if n, err := r.Read(buf); err != nil || n != 1 {
		t.Fatalf("Read = %d, %v; the unused 10ms deadline must not have been armed", n, err)
	}
}

// A deadline set on the connection directly (the watcher being woken) is
// replaced by the next read's after Forget.
func TestClientReaderForget(t *testing.T) {
	peer, c := tcptest.Pair(t)
	r := &ClientReader{Conn: c}
	now := time.Now()
	r.ArmBy(time.Time{}, now) // no deadline, armed
	c.SetReadDeadline(time.Now())
	r.Forget()
	go func() {
		time.Sleep(30 * time.Millisecond)
		peer.Write([]byte("y"))
	}()
	if n, err := r.Read(make([]byte, 1)); err != nil || n != 1 {
		t.Fatalf("Read after Forget = %d, %v; the stale deadline stayed armed", n, err)
	}
}

func TestClientReaderWriterWritesToTheClient(t *testing.T) {
	peer, c := tcptest.Pair(t)
	r := &ClientReader{Conn: c}
	if _, err := r.Writer().Write([]byte("HTTP/1.1 200 OK\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, err := io.ReadAtLeast(peer, buf, len("HTTP/1.1 200 OK\r\n"))
	if err != nil || string(buf[:n]) != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("the client read %q, %v", buf[:n], err)
	}
}

// Ending a watch wakes a watcher that is already reading; the wake-up must
// never be lost to the watcher arming its own (no) deadline, or the end
// waits until the client sends again. The watcher is started after 0 to
// 50µs, so the two race at every point of the watcher's start.
func TestEndWatchAlwaysWakesTheWatcher(t *testing.T) {
	_, c := tcptest.Pair(t)
	cr := &ClientReader{Conn: c}
	ex := &Exchange{ClientConn: ClientConn{Client: c, CR: cr, BR: bufio.NewReader(cr)}}
	defer ex.Close()
	for i := range 3000 {
		ex.watch.start(&ex.ClientConn, time.Duration(i%50)*time.Microsecond, time.Now())
		for range i % 7 {
			runtime.Gosched()
		}
		done := make(chan struct{})
		go func() {
			ex.watch.end()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: ending the watch did not return: the watcher missed its wake-up", i)
		}
		if ex.ClientGone() {
			t.Fatalf("round %d: a woken watcher reported the client gone", i)
		}
	}
}
