package config

import (
	"testing"
	"time"
)

func rateRoute(rl string) string {
	return "routes:\n  - match: {path_prefix: /api/}\n    upstream: fx\n    rate_limit:\n" + rl
}

func TestRateLimitProblemsNameTheirLine(t *testing.T) {
	checkProblemCases(t, []problemCase{
		{"rate of zero", doc(rateRoute("      rate: 0/s #<\n")), "routes[0].rate_limit.rate", "lets no request through"},
		{"rate without a unit", doc(rateRoute("      rate: 100 #<\n")), "routes[0].rate_limit.rate", "expected a rate such as 100/s"},
		{"rate with a bad unit", doc(rateRoute("      rate: 100/fortnight #<\n")), "routes[0].rate_limit.rate", "expected a rate such as 100/s"},
		{"rate over a day", doc(rateRoute("      rate: 1/48h #<\n")), "routes[0].rate_limit.rate", "at most 24h"},
		{"rate missing", doc("routes:\n  - match: {path_prefix: /api/}\n    upstream: fx\n    rate_limit: #<\n      burst: 5\n"), "routes[0].rate_limit.rate", "is required"},
		{"burst zero", doc(rateRoute("      rate: 10/s\n      burst: 0 #<\n")), "routes[0].rate_limit.burst", "leave the key out"},
		{"burst negative", doc(rateRoute("      rate: 10/s\n      burst: -1 #<\n")), "routes[0].rate_limit.burst", "must be between 1 and"},
		{"unknown key kind", doc(rateRoute("      rate: 10/s\n      key: cookie #<\n")), "routes[0].rate_limit.key", "expected client_ip, route or header:NAME"},
		{"header without a name", doc(rateRoute("      rate: 10/s\n      key: 'header:' #<\n")), "routes[0].rate_limit.key", "expected header:NAME"},
		{"header with a space", doc(rateRoute("      rate: 10/s\n      key: 'header:X Key' #<\n")), "routes[0].rate_limit.key", "expected header:NAME"},
		{"max_keys negative", doc(rateRoute("      rate: 10/s\n      max_keys: -5 #<\n")), "routes[0].rate_limit.max_keys", "must be 1 or more"},
	})
}

func TestRateLimitDefaultsFollowTheRate(t *testing.T) {
	for _, tc := range []struct {
		rate      string
		count     int64
		per       time.Duration
		wantBurst int
	}{
		{"100/s", 100, time.Second, 100},
		{"600/m", 600, time.Minute, 10},
		{"100r/s", 100, time.Second, 100},
		{"1/10s", 1, 10 * time.Second, 1},
		{"5000/h", 5000, time.Hour, 2},
	} {
		t.Run(tc.rate, func(t *testing.T) {
			cfg, err := Parse("test.yaml", []byte(doc(rateRoute("      rate: "+tc.rate+"\n"))))
			if err != nil {
				t.Fatal(err)
			}
			rl := cfg.Routes[0].RateLimit
			if rl.Rate.Count != tc.count || rl.Rate.Per != tc.per {
				t.Errorf("rate %+v, want %d per %s", rl.Rate, tc.count, tc.per)
			}
			if rl.Burst != tc.wantBurst || rl.Key != RateKeyClientIP || rl.MaxKeys != DefaultRateLimitKeys {
				t.Errorf("got burst %d key %q max_keys %d, want %d client_ip %d", rl.Burst, rl.Key, rl.MaxKeys, tc.wantBurst, DefaultRateLimitKeys)
			}
		})
	}
}

func TestClientAddressProblemsNameTheirLine(t *testing.T) {
	listener := func(extra string) string {
		return "listeners:\n  public:\n    address: 127.0.0.1:8080\n" + extra
	}
	checkProblemCases(t, []problemCase{
		{"bad cidr", doc(listener("    trusted_proxies: [10.0.0.0/8, 10.0.0.0/33] #<\n")), "listeners.public.trusted_proxies[1]", "expected a CIDR"},
		{"host bits", doc(listener("    trusted_proxies:\n      - 10.0.0.1/8 #<\n")), "listeners.public.trusted_proxies[0]", "write 10.0.0.0/8"},
		{"not an address", doc(listener("    trusted_proxies:\n      - lb.internal #<\n")), "listeners.public.trusted_proxies[0]", "expected a CIDR"},
		{"unknown header", doc(listener("    forwarded_header: x-real-ip #<\n")), "listeners.public.forwarded_header", "expected x-forwarded-for or forwarded"},
		{"proxy_protocol not a bool", doc(listener("    proxy_protocol: yes please #<\n")), "listeners.public.proxy_protocol", "expected true or false"},
	})
}

func TestTrustedProxiesParse(t *testing.T) {
	ps, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:10.0.0.0/104"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.0.0.0/8"}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("entry %d: %s, want %s", i, p, want[i])
		}
	}
}
