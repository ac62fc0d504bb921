package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// Forwarded headers a listener's trusted proxies may name the client in
// (Listener.ForwardedHeader).
const (
	ForwardedXFF     = "x-forwarded-for"
	ForwardedRFC7239 = "forwarded"
)

// ParseTrustedProxies reads trusted_proxies entries: CIDRs ("10.0.0.0/8")
// or single addresses ("192.0.2.7").
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := parseTrusted(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseTrusted(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("expected a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.7, got %q", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; write %s", s, p.Masked())
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("expected a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.7, got %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapBits is what an IPv4-mapped IPv6 prefix loses in length when it is
// read as the IPv4 prefix it is.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

func (v validator) clientAddress(p string, l *Listener) {
	for i, s := range l.TrustedProxies {
		if _, err := parseTrusted(s); err != nil {
			v.problemf(indexPath(p+".trusted_proxies", i), "%s", err.Error())
		}
	}
	if l.ForwardedHeader != ForwardedXFF && l.ForwardedHeader != ForwardedRFC7239 {
		v.problemf(p+".forwarded_header", "expected %s or %s, got %q", ForwardedXFF, ForwardedRFC7239, l.ForwardedHeader)
	}
}
