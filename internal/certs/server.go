package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// intermediateSuites are the TLS 1.2 cipher suites of Mozilla's
// "intermediate" profile that Go implements: ECDHE key exchange and AEAD
// ciphers only (TLS 1.3 suites are not configurable and all AEAD).
// https://wiki.mozilla.org/Security/Server_Side_TLS
var intermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ParseVersion turns "1.2" or "1.3" into a tls.Version constant; older
// versions are refused (RFC 8996 deprecates TLS 1.0 and 1.1).
func ParseVersion(v string) (uint16, error) {
	switch v {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0", "1.1":
		return 0, fmt.Errorf("TLS %s is deprecated (RFC 8996) and not offered; use \"1.2\" or \"1.3\"", v)
	}
	return 0, fmt.Errorf("unknown TLS version %q; use \"1.2\" or \"1.3\"", v)
}

// ServerOptions are a TLS listener's settings.
type ServerOptions struct {
	// MinVersion is tls.VersionTLS12 or tls.VersionTLS13. Zero means 1.2.
	MinVersion uint16
	// ClientCAs, when set, requires and verifies client certificates
	// against it (mutual TLS).
	ClientCAs *x509.CertPool
	// NextProtos are the ALPN protocols offered, in preference order.
	// Empty means http/1.1.
	NextProtos []string
	// ACME, when set, serves the certificates of the domains it manages
	// (before the set's own for the same names) and answers tls-alpn-01
	// challenge handshakes.
	ACME *ACME
}

// ACMEALPN is the ALPN protocol of tls-alpn-01 challenges (RFC 8737).
const ACMEALPN = "acme-tls/1"

func isChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == ACMEALPN
}

// ServerConfig returns the tls.Config a listener hands a handshake,
// serving certificates from set. It is meant to be returned by a stable
// base config's GetConfigForClient, so session ticket keys (Go rotates them
// daily and keeps them a week) survive config reloads.
func ServerConfig(set *Set, o ServerOptions) *tls.Config {
	min := o.MinVersion
	if min == 0 {
		min = tls.VersionTLS12
	}
	protos := o.NextProtos
	if len(protos) == 0 {
		protos = []string{"http/1.1"}
	}
	c := &tls.Config{
		MinVersion:     min,
		CipherSuites:   intermediateSuites,
		GetCertificate: set.GetCertificate,
		NextProtos:     protos,
	}
	if a := o.ACME; a != nil {
		c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if isChallenge(hello) || a.Manages(strings.ToLower(hello.ServerName)) || set.Empty() {
				cert, err := a.GetCertificate(hello)
				if err == nil || isChallenge(hello) || set.Empty() {
					return cert, err
				}
				// No certificate from the CA yet: the set's default is
				// better than a failed handshake.
			}
			return set.GetCertificate(hello)
		}
		if a.Challenge(TLSALPN01) {
			c.NextProtos = append(slices.Clone(protos), ACMEALPN)
		}
	}
	if o.ClientCAs != nil {
		c.ClientCAs = o.ClientCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}
