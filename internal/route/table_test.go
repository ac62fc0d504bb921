package route

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	entries := []Entry[string]{
		{Prefix: "/", Value: "root"},
		{Prefix: "/api/v1/", Value: "v1"},
		{Prefix: "/api/v1/admin", Methods: []string{"POST"}, Value: "admin-post"},
		{Prefix: "/api/v1/admin", Value: "admin"},
		{Prefix: "/api", Hosts: []string{"shop.example.com"}, Value: "shop-api"},
		{Prefix: "/", Hosts: []string{"*.example.com"}, Value: "wild"},
		{Prefix: "/api/v2", Hosts: []string{"*.example.com"}, Value: "wild-v2"},
	}
	tab, err := New(entries)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, path, method string
		want               string
		prefixLen          int
	}{
		{"x", "/", "GET", "root", 0},
		{"x", "/api/v1", "GET", "v1", 7},
		{"x", "/api/v1/", "GET", "v1", 7},
		{"x", "/api/v1/users/7", "GET", "v1", 7},
		{"x", "/api/v1evil", "GET", "root", 0},
		{"x", "/api/v10/x", "GET", "root", 0},
		{"x", "/api/v1/admin", "POST", "admin-post", 13},
		{"x", "/api/v1/admin/x", "GET", "admin", 13},
		{"x", "/api/v1/administrator", "GET", "v1", 7},
		{"shop.example.com", "/api/x", "GET", "shop-api", 4},
		{"SHOP.Example.COM:8080", "/api/x", "GET", "shop-api", 4},
		{"shop.example.com.", "/api/x", "GET", "shop-api", 4},
		{"shop.example.com", "/other", "GET", "wild", 0},
		{"a.b.example.com", "/api/v2/x", "GET", "wild-v2", 7},
		{"example.com", "/api/v2/x", "GET", "root", 0},
		{"[::1]:80", "/api/v1/x", "GET", "v1", 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s%s %s", tt.host, tt.path, tt.method), func(t *testing.T) {
			m, ok := tab.Lookup([]byte(tt.host), []byte(tt.path), []byte(tt.method))
			if !ok {
				t.Fatalf("no match, want %s", tt.want)
			}
			if m.Value != tt.want || m.PrefixLen != tt.prefixLen {
				t.Errorf("got %s/%d, want %s/%d", m.Value, m.PrefixLen, tt.want, tt.prefixLen)
			}
		})
	}
}

func TestLookupNoMatchWithoutCatchAll(t *testing.T) {
	tab, _ := New([]Entry[int]{{Prefix: "/api/", Value: 1}, {Prefix: "/only-get", Methods: []string{"GET"}, Value: 2}})
	for _, p := range []string{"/", "/apix", "/ap"} {
		if _, ok := tab.Lookup([]byte("h"), []byte(p), []byte("GET")); ok {
			t.Errorf("%s matched", p)
		}
	}
	if _, ok := tab.Lookup([]byte("h"), []byte("/only-get"), []byte("DELETE")); ok {
		t.Error("method filter ignored")
	}
}

func TestCleanPathResolvesDotSegmentsAndRefusesEscapes(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"/", "/", nil},
		{"", "", nil},
		{"/api/v1/x", "/api/v1/x", nil},
		{"/api/v1/../admin", "/api/admin", nil},
		{"/api/v1/%2e%2e/admin", "/api/admin", nil},
		{"/api/v1/%2E%2e/admin", "/api/admin", nil},
		{"/api/v1/./x", "/api/v1/x", nil},
		{"/api//v1///x", "/api/v1/x", nil},
		{"/api/v1/..", "/api/", nil},
		{"/api/v1/.", "/api/v1/", nil},
		{"/api/v1/%2fkeys", "/api/v1/%2fkeys", nil},
		{"/file.txt", "/file.txt", nil},
		{"/a/.hidden", "/a/.hidden", nil},
		{"/a/..b", "/a/..b", nil},
		{"/a/b.", "/a/b.", nil},
		{"/a;v=1/b", "/a;v=1/b", nil},
		{"/a/..b;x", "/a/..b;x", nil},
		{"/a/;x/../b", "/a/b", nil},
		{"/a/%3bx", "/a/%3bx", nil},
		{"/caf%C3%A9", "/caf%C3%A9", nil},
		{"/%e9t%e9", "/%e9t%e9", nil},
		{"/%e0A", "/%e0A", nil},
		{"/%e0%a4%85", "/%e0%a4%85", nil},
		{"/%f0%9f%98%80", "/%f0%9f%98%80", nil},
		{"/100%25", "/100%25", nil},
		{"/x%20y", "/x%20y", nil},

		{"*", "", ErrPathNotAbsolute},
		{"/..", "", ErrPathAboveRoot},
		{"/a/../..", "", ErrPathAboveRoot},
		{"/%2e%2e/etc/passwd", "", ErrPathAboveRoot},
		{"/api/v1/..%2fadmin", "", ErrPathSlashDots},
		{"/api/v1\\..\\admin", "", ErrPathSlashDots},
		{"/api/v1/..%5cadmin", "", ErrPathSlashDots},
		{"/api/v1/..;/admin", "", ErrPathDotParameter},
		{"/api/v1/..;jsessionid=1/admin", "", ErrPathDotParameter},
		{"/api/v1/.;/x", "", ErrPathDotParameter},
		{"/..;", "", ErrPathDotParameter},
		{"/api/v1/%2e%2e;/admin", "", ErrPathDotParameter},
		{"/api/v1/.%2E;/admin", "", ErrPathDotParameter},
		{"/api/v1/..%3B/admin", "", ErrPathDotParameter},
		{"/api/v1/%2e%2e%3b/admin", "", ErrPathDotParameter},
		{"/x%00", "", ErrPathControl},
		{"/x%00.json", "", ErrPathControl},
		{"/x%0d%0aSet-Cookie:a", "", ErrPathControl},
		{"/x%0A", "", ErrPathControl},
		{"/x%09", "", ErrPathControl},
		{"/x%1f", "", ErrPathControl},
		{"/x%7F", "", ErrPathControl},
		{"/%c0%ae%c0%ae/admin", "", ErrPathOverlong},
		{"/%C0%AE", "", ErrPathOverlong},
		{"/a%c0%afb", "", ErrPathOverlong},
		{"/%c1%9c", "", ErrPathOverlong},
		{"/%e0%80%ae", "", ErrPathOverlong},
		{"/%E0%9F%BF", "", ErrPathOverlong},
		{"/%f0%80%80%ae", "", ErrPathOverlong},
		{"/%f0%8f%bf%bf", "", ErrPathOverlong},
		{"/%u002e%u002e/admin", "", ErrPathEscape},
		{"/x%2", "", ErrPathEscape},
		{"/x%", "", ErrPathEscape},
		{"/x%zz", "", ErrPathEscape},
		{"/x%g0", "", ErrPathEscape},
	}
	for _, tt := range tests {
		got, err := CleanPath([]byte(tt.in), nil)
		if !errors.Is(err, tt.err) || err == nil && string(got) != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// A path that needs no cleaning is returned as it came, without a copy.
func TestCleanPathReturnsACleanPathWithoutCopying(t *testing.T) {
	in := []byte("/api/v1/users;v=2/caf%C3%A9")
	got, err := CleanPath(in, nil)
	if err != nil || &got[0] != &in[0] {
		t.Fatalf("CleanPath(%q) = %q, %v: copied or refused", in, got, err)
	}
	if n := testing.AllocsPerRun(100, func() { CleanPath(in, nil) }); n != 0 {
		t.Errorf("%v allocations per clean path", n)
	}
}

// lenientSegments splits p the way the most forgiving backends read a path:
// percent-decoded once, overlong UTF-8 taken as the ASCII byte it encodes,
// "\" as "/", and a segment's parameters (";...") dropped.
func lenientSegments(p string) []string {
	var dec []byte
	for i := 0; i < len(p); i++ {
		if b, ok := escapedByte([]byte(p), i); p[i] == '%' && ok {
			dec = append(dec, b)
			i += 2
			continue
		}
		dec = append(dec, p[i])
	}
	cont := func(i int) bool { return i < len(dec) && dec[i]&0xc0 == 0x80 }
	var ascii []byte
	for i := 0; i < len(dec); i++ {
		switch {
		case (dec[i] == 0xc0 || dec[i] == 0xc1) && cont(i+1):
			ascii = append(ascii, (dec[i]&0x1f)<<6|dec[i+1]&0x3f)
			i++
		case dec[i] == 0xe0 && cont(i+1) && cont(i+2) && dec[i+1] < 0xa0:
			ascii = append(ascii, (dec[i+1]&0x3f)<<6|dec[i+2]&0x3f)
			i += 2
		default:
			ascii = append(ascii, dec[i])
		}
	}
	segs := strings.FieldsFunc(string(ascii), func(r rune) bool { return r == '/' || r == '\\' })
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	return segs
}

// Prefix escape is impossible: for any cleaned path that a route matches,
// the path starts with the route's prefix on a segment boundary, and no
// lenient backend reading it finds a parent segment or a control byte.
func FuzzCleanPathStaysInPrefix(f *testing.F) {
	for _, s := range []string{
		"/api/v1/../x", "/api/v1/%2e%2e/x", "/api/v1//..//x", "/api/v1/./../../",
		"/api/v1/..;/x", "/api/v1/%2e%2e%3b/x", "/api/v1/%c0%ae%c0%ae/x", "/api/v1/x%00",
		"/api/v1/%e0%80%ae./x", "/api/v1/a;b/../x", "/api/v1/%u002e",
	} {
		f.Add(s)
	}
	tab, _ := New([]Entry[string]{{Prefix: "/api/v1/", Value: "v1"}})
	f.Fuzz(func(t *testing.T, p string) {
		if strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return // h1.ParseRequest refuses raw bytes outside visible ASCII
		}
		clean, err := CleanPath([]byte(p), nil)
		if err != nil {
			return
		}
		m, found := tab.Lookup([]byte("h"), clean, []byte("GET"))
		if !found {
			return
		}
		s := string(clean)
		if !(s == "/api/v1" || len(s) >= 8 && s[:8] == "/api/v1/") || m.PrefixLen != 7 {
			t.Fatalf("%q cleaned to %q matched /api/v1/", p, s)
		}
		for _, seg := range lenientSegments(s) {
			if seg == ".." {
				t.Fatalf("%q cleaned to %q, which a lenient backend reads with a \"..\" segment", p, s)
			}
			if strings.ContainsFunc(seg, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				t.Fatalf("%q cleaned to %q, which decodes to a control byte", p, s)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 10000} {
		var entries []Entry[int]
		for i := 0; i < n; i++ {
			entries = append(entries, Entry[int]{Prefix: fmt.Sprintf("/svc%d/api/", i), Value: i})
		}
		tab, _ := New(entries)
		path := []byte(fmt.Sprintf("/svc%d/api/users/42/orders", n/2))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := tab.Lookup([]byte("example.com"), path, []byte("GET")); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}

func BenchmarkCleanPath(b *testing.B) {
	buf := make([]byte, 0, 256)
	for _, p := range []string{"/api/v1/users/42/orders?x", "/api/v1/users/%2e%2e/42//orders;v=2/caf%C3%A9"} {
		path := []byte(p)
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = CleanPath(path, buf)
			}
		})
	}
}
