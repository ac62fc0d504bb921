package clientip

import (
	"net/netip"
	"testing"

	"github.com/skjold-dev/skjold/internal/h1"
)

func fields(kv ...string) []h1.Field {
	var fs []h1.Field
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, h1.Field{Name: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return fs
}

func TestResolveBelievesOnlyTrustedHops(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:1::/48")}
	xff := Resolver{Trusted: trusted}
	fwd := Resolver{Trusted: trusted, Header: Forwarded}
	for _, tc := range []struct {
		name   string
		r      Resolver
		peer   string
		fields []h1.Field
		want   string
	}{
		{"no trusted proxies: the peer", Resolver{}, "10.0.0.1", fields("X-Forwarded-For", "203.0.113.9"), "10.0.0.1"},
		{"untrusted peer: header ignored", xff, "198.51.100.1", fields("X-Forwarded-For", "203.0.113.9"), "198.51.100.1"},
		{"trusted peer names the client", xff, "10.0.0.1", fields("X-Forwarded-For", "203.0.113.9"), "203.0.113.9"},
		{"trusted peer without a header", xff, "10.0.0.1", nil, "10.0.0.1"},
		{"chain walked past trusted hops", xff, "10.0.0.1", fields("X-Forwarded-For", "203.0.113.9, 10.1.1.1, 10.2.2.2"), "203.0.113.9"},
		{"spoofed start of the chain stays spoofed-proof", xff, "10.0.0.1", fields("X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.2.2.2"), "203.0.113.9"},
		{"repeated lines read in order", xff, "10.0.0.1", fields("X-Forwarded-For", "1.1.1.1", "x-forwarded-for", "203.0.113.9"), "203.0.113.9"},
		{"garbage hop stops at the trusted one", xff, "10.0.0.1", fields("X-Forwarded-For", "203.0.113.9, bogus, 10.2.2.2"), "10.2.2.2"},
		{"port on a hop", xff, "10.0.0.1", fields("X-Forwarded-For", "203.0.113.9:4711"), "203.0.113.9"},
		{"ipv6 hop", xff, "10.0.0.1", fields("X-Forwarded-For", "2001:db8:9::5"), "2001:db8:9::5"},
		{"ipv4-mapped peer", xff, "::ffff:10.0.0.1", fields("X-Forwarded-For", "203.0.113.9"), "203.0.113.9"},
		{"xff resolver ignores Forwarded", xff, "10.0.0.1", fields("Forwarded", "for=203.0.113.9"), "10.0.0.1"},
		{"forwarded", fwd, "10.0.0.1", fields("Forwarded", "for=203.0.113.9;proto=https, for=10.3.3.3"), "203.0.113.9"},
		{"forwarded quoted ipv6 with port", fwd, "10.0.0.1", fields("Forwarded", `for="[2001:db8:9::5]:4711"`), "2001:db8:9::5"},
		{"forwarded case-insensitive for", fwd, "10.0.0.1", fields("Forwarded", "proto=http;FOR=203.0.113.9"), "203.0.113.9"},
		{"forwarded unknown ends the walk", fwd, "10.0.0.1", fields("Forwarded", "for=203.0.113.9, for=unknown"), "10.0.0.1"},
		{"forwarded obfuscated", fwd, "10.0.0.1", fields("Forwarded", "for=_hidden"), "10.0.0.1"},
		{"forwarded element without for", fwd, "10.0.0.1", fields("Forwarded", "for=203.0.113.9, by=10.0.0.1"), "10.0.0.1"},
		{"forwarded comma in quotes", fwd, "10.0.0.1", fields("Forwarded", `for=203.0.113.9;x="a,b"`), "203.0.113.9"},
		{"xff resolver ignores an untrusted chain end", xff, "10.0.0.1", fields("X-Forwarded-For", "10.9.9.9, 10.8.8.8"), "10.9.9.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.Resolve(netip.MustParseAddr(tc.peer), tc.fields)
			if got != netip.MustParseAddr(tc.want).Unmap() {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestParseHop(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1", "192.0.2.1:80": "192.0.2.1", "[2001:db8::1]": "2001:db8::1",
		"[2001:db8::1]:443": "2001:db8::1", "2001:db8::1": "2001:db8::1", "::ffff:192.0.2.1": "192.0.2.1",
		"192.0.2": "", "192.0.2.256": "", "192.0.2.01": "", "192.0.2.1:": "", "192.0.2.1:x": "",
		"unknown": "", "_hidden": "", "fe80::1%eth0": "", "[2001:db8::1": "", "": "", "1.2.3.4.5": "",
	} {
		got := ParseHop([]byte(in))
		if want == "" {
			if got.IsValid() {
				t.Errorf("ParseHop(%q) = %v, want invalid", in, got)
			}
			continue
		}
		if got != netip.MustParseAddr(want) {
			t.Errorf("ParseHop(%q) = %v, want %s", in, got, want)
		}
	}
}

func TestResolveAllocatesNothingForIPv4(t *testing.T) {
	r := Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	fs := fields("Host", "x", "X-Forwarded-For", "203.0.113.9, 10.1.1.1")
	peer := netip.MustParseAddr("10.0.0.1")
	if n := testing.AllocsPerRun(1000, func() { r.Resolve(peer, fs) }); n != 0 {
		t.Errorf("Resolve allocates %.1f times", n)
	}
}

// FuzzResolve: no header value panics the resolver, and the answer is the
// peer or an address the header names.
func FuzzResolve(f *testing.F) {
	f.Add("203.0.113.9, 10.1.1.1", `for="[2001:db8::1]:80";proto=https, for=unknown`)
	f.Add("", "for=")
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		peer := netip.MustParseAddr("10.0.0.1")
		for _, h := range []Header{XForwardedFor, Forwarded} {
			r := Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, Header: h}
			got := r.Resolve(peer, fields("X-Forwarded-For", xff, "Forwarded", fwd))
			if !got.IsValid() {
				t.Fatalf("invalid address resolved from %q / %q", xff, fwd)
			}
		}
	})
}
