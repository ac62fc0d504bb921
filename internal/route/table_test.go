package route

import (
	"fmt"
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

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/", "/", true},
		{"/api/v1/x", "/api/v1/x", true},
		{"/api/v1/../admin", "/api/admin", true},
		{"/api/v1/%2e%2e/admin", "/api/admin", true},
		{"/api/v1/%2E%2e/admin", "/api/admin", true},
		{"/api/v1/./x", "/api/v1/x", true},
		{"/api//v1///x", "/api/v1/x", true},
		{"/api/v1/..", "/api/", true},
		{"/api/v1/.", "/api/v1/", true},
		{"/..", "", false},
		{"/a/../..", "", false},
		{"/%2e%2e/etc/passwd", "", false},
		{"/api/v1/..%2fadmin", "", false},
		{"/api/v1\\..\\admin", "", false},
		{"/api/v1/%2fkeys", "/api/v1/%2fkeys", true},
		{"/file.txt", "/file.txt", true},
		{"/a/.hidden", "/a/.hidden", true},
		{"/a/..b", "/a/..b", true},
		{"/a/b.", "/a/b.", true},
	}
	for _, tt := range tests {
		got, ok := CleanPath([]byte(tt.in), nil)
		if ok != tt.ok || ok && string(got) != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// Prefix escape is impossible: for any cleaned path that a route matches,
// the path starts with the route's prefix on a segment boundary.
func FuzzCleanPathStaysInPrefix(f *testing.F) {
	for _, s := range []string{"/api/v1/../x", "/api/v1/%2e%2e/x", "/api/v1//..//x", "/api/v1/./../../"} {
		f.Add(s)
	}
	tab, _ := New([]Entry[string]{{Prefix: "/api/v1/", Value: "v1"}})
	f.Fuzz(func(t *testing.T, p string) {
		clean, ok := CleanPath([]byte(p), nil)
		if !ok {
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
		for i := 0; i+3 <= len(s); i++ {
			if s[i:i+3] == "/.." && (i+3 == len(s) || s[i+3] == '/') {
				t.Fatalf("%q cleaned to %q still has a dot-dot segment", p, s)
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
