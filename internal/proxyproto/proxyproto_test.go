package proxyproto

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/skjold-dev/skjold/internal/tcptest"
)

func v2(cmd, fam byte, body []byte) []byte {
	b := append([]byte{}, sigV2...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func TestParseReadsBothVersions(t *testing.T) {
	ap := netip.MustParseAddrPort
	v4body := []byte{203, 0, 113, 7, 10, 0, 0, 1, 0xc3, 0x50, 0x1f, 0x90} // 203.0.113.7:50000 → 10.0.0.1:8080
	v6body := make([]byte, 36)
	copy(v6body, netip.MustParseAddr("2001:db8::7").AsSlice())
	copy(v6body[16:], netip.MustParseAddr("2001:db8::1").AsSlice())
	binary.BigEndian.PutUint16(v6body[32:], 443)
	binary.BigEndian.PutUint16(v6body[34:], 8443)
	for _, tc := range []struct {
		name string
		in   []byte
		want Header
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 50000 8080\r\nGET"),
			Header{Source: ap("203.0.113.7:50000"), Dest: ap("10.0.0.1:8080"), Version: 1}},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 443 8443\r\n"),
			Header{Source: ap("[2001:db8::7]:443"), Dest: ap("[2001:db8::1]:8443"), Version: 1}},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Local: true, Version: 1}},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:: 1.2.3.4 1 2\r\n"), Header{Local: true, Version: 1}},
		{"v2 tcp4", v2(1, 0x11, v4body), Header{Source: ap("203.0.113.7:50000"), Dest: ap("10.0.0.1:8080"), Version: 2}},
		{"v2 tcp4 with a TLV", v2(1, 0x11, append(v4body, 0x04, 0, 1, 'x')), Header{Source: ap("203.0.113.7:50000"), Dest: ap("10.0.0.1:8080"), Version: 2}},
		{"v2 tcp6", v2(1, 0x21, v6body), Header{Source: ap("[2001:db8::7]:443"), Dest: ap("[2001:db8::1]:8443"), Version: 2}},
		{"v2 local", v2(0, 0x11, v4body), Header{Local: true, Version: 2}},
		{"v2 unix", v2(1, 0x31, make([]byte, 216)), Header{Local: true, Version: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.want {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
			if want := len(tc.in) - len(trailing(tc.in)); n != want {
				t.Errorf("length %d, want %d", n, want)
			}
		})
	}
}

// trailing is what follows a v1 line in the test inputs.
func trailing(b []byte) []byte {
	if string(b[:6]) == "PROXY " {
		for i := 0; i+1 < len(b); i++ {
			if b[i] == '\r' && b[i+1] == '\n' {
				return b[i+2:]
			}
		}
	}
	return nil
}

func TestParseRefusesMalformedHeaders(t *testing.T) {
	v4body := make([]byte, 12)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"plain HTTP", []byte("GET / HTTP/1.1\r\n"), ErrNoHeader},
		{"TLS hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00}, ErrNoHeader},
		{"v1 unknown protocol", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), ErrMalformed},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n"), ErrMalformed},
		{"v1 port too large", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), ErrMalformed},
		{"v1 port with a sign", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), ErrMalformed},
		{"v1 leading zero", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), ErrMalformed},
		{"v1 missing field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), ErrMalformed},
		{"v1 extra space", []byte("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), ErrMalformed},
		{"v1 bare LF inside", []byte("PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n"), ErrMalformed},
		{"v1 too long", append([]byte("PROXY UNKNOWN "), make([]byte, 120)...), ErrMalformed},
		{"v2 version 3", append(append([]byte{}, sigV2...), 0x31, 0x11, 0, 0), ErrMalformed},
		{"v2 command 2", v2(2, 0x11, v4body), ErrMalformed},
		{"v2 short ipv4", v2(1, 0x11, v4body[:8]), ErrMalformed},
		{"v2 short ipv6", v2(1, 0x21, make([]byte, 20)), ErrMalformed},
		{"v2 too long", append(append([]byte{}, sigV2...), 0x21, 0x11, 0xff, 0xff), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Parse(tc.in); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// A header split over several TCP segments is read whole, and the request
// bytes that came with its last segment are handed back.
func TestReadTakesASplitHeaderAndReturnsWhatFollows(t *testing.T) {
	for _, parts := range [][]string{
		{"PROXY TCP4 203.0.113.7 10.0.0.1 50000 8080\r\nGET / HTTP/1.1\r\n"},
		{"PR", "OXY TCP4 203.0.113.7 10.0.0.1 5", "0000 8080\r", "\nGET / HTTP/1.1\r\n"},
		{string(sigV2[:5]), string(v2(1, 0x11, []byte{203, 0, 113, 7, 10, 0, 0, 1, 0xc3, 0x50, 0x1f, 0x90})[5:]) + "GET / HTTP/1.1\r\n"},
	} {
		client, server := tcptest.Pair(t)
		go func() {
			for _, p := range parts {
				client.Write([]byte(p))
				time.Sleep(5 * time.Millisecond) // separate segments
			}
		}()
		server.SetReadDeadline(time.Now().Add(5 * time.Second))
		h, rest, err := Read(server, make([]byte, MaxV2))
		if err != nil {
			t.Fatalf("%q: %v", parts, err)
		}
		if h.Source != netip.MustParseAddrPort("203.0.113.7:50000") {
			t.Errorf("%q: source %v", parts, h.Source)
		}
		got := string(rest)
		if len(got) < len("GET / HTTP/1.1\r\n") {
			more := make([]byte, 64)
			n, _ := io.ReadAtLeast(server, more, len("GET / HTTP/1.1\r\n")-len(got))
			got += string(more[:n])
		}
		if got != "GET / HTTP/1.1\r\n" {
			t.Errorf("%q: what follows the header is %q", parts, got)
		}
	}
}

func TestReadFailsOnAClientThatLeavesOrStalls(t *testing.T) {
	client, server := tcptest.Pair(t)
	client.Write([]byte("PROXY TCP4 1.2.3.4"))
	client.Close()
	if _, _, err := Read(server, make([]byte, MaxV2)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("client gone mid-header: %v", err)
	}
	client, server = tcptest.Pair(t)
	client.Write([]byte("PROXY TCP4 1.2.3.4"))
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := Read(server, make([]byte, MaxV2)); err == nil || !isTimeout(err) {
		t.Errorf("stalled client: %v, want a timeout", err)
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// FuzzParse checks that no input panics, that a parsed header's length
// lies within the input, and that every proper prefix of a header is
// reported incomplete (so Read never stops early).
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 50000 8080\r\nGET"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 443 8443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(1, 0x11, []byte{203, 0, 113, 7, 10, 0, 0, 1, 0xc3, 0x50, 0x1f, 0x90}))
	f.Add(v2(1, 0x21, make([]byte, 40)))
	f.Add(v2(0, 0x00, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("length %d of %d bytes", n, len(b))
		}
		if !h.Local && (!h.Source.IsValid() || !h.Dest.IsValid()) {
			t.Fatalf("a PROXY header without addresses: %+v", h)
		}
		for k := range n {
			if _, _, err := Parse(b[:k]); !errors.Is(err, errIncomplete) {
				t.Fatalf("prefix of %d bytes of a %d-byte header: %v, want incomplete", k, n, err)
			}
		}
	})
}
