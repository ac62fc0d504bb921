// Package certs is where the certificates Skjold serves come from and how
// a TLS listener chooses one: pairs loaded from PEM files and checked before
// they are used (key matches, in date, chain consistent), selection by SNI
// with ECDSA and RSA certificates side by side, re-reading files that
// changed on disk without a restart, and the facts status pages and metrics
// show about each certificate. It starts no goroutines: the owner calls
// Set.Refresh on its own schedule.
package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Errors a certificate can fail to load with; match them with errors.Is.
var (
	// ErrExpired: the leaf certificate's NotAfter has passed.
	ErrExpired = errors.New("certificate has expired")
	// ErrNotYetValid: the leaf certificate's NotBefore is in the future.
	ErrNotYetValid = errors.New("certificate is not valid yet")
	// ErrKeyMismatch: the private key is not the certificate's.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrBrokenChain: a certificate in the file is not signed by the one
	// after it, so clients cannot build the chain.
	ErrBrokenChain = errors.New("certificate chain does not verify")
	// ErrNoCertificate: the file holds no PEM CERTIFICATE block.
	ErrNoCertificate = errors.New("no PEM certificate in the file")
)

// Info is what status pages and metrics show about one certificate.
type Info struct {
	// Names are the DNS names (and IP addresses) the certificate is for.
	Names []string `json:"names"`
	// Issuer is the issuing CA's common name (or full DN without one).
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// KeyType is "ECDSA P-256", "RSA 2048", "Ed25519".
	KeyType string `json:"key_type"`
	// Source says where it came from: the certificate file's path, or
	// "acme".
	Source string `json:"source"`
	// Loaded is when this certificate was read.
	Loaded time.Time `json:"loaded"`
	// OCSPStapled is true when a stapled OCSP response is served with it.
	OCSPStapled bool `json:"ocsp_stapled,omitempty"`
	// Error is the last failure to re-read or renew it; the certificate
	// shown is still the one served. Empty when the last try succeeded.
	Error string `json:"error,omitempty"`
}

// ExpiresIn is how long the certificate has left at now.
func (i Info) ExpiresIn(now time.Time) time.Duration { return i.NotAfter.Sub(now) }

// LoadFiles reads a PEM certificate chain (leaf first) and its private key
// and checks them as a server about to serve them must: the key is the
// leaf's, the leaf is valid at now, and each certificate in the chain is
// signed by the one after it. Errors name the file and the reason.
func LoadFiles(certFile, keyFile string, now time.Time) (*tls.Certificate, Info, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, Info{}, fmt.Errorf("certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, Info{}, fmt.Errorf("key file: %w", err)
	}
	c, info, err := Parse(certPEM, keyPEM, now)
	if err != nil {
		return nil, Info{}, fmt.Errorf("%s: %w", certFile, err)
	}
	info.Source = certFile
	return c, info, nil
}

// Parse is LoadFiles on PEM bytes.
func Parse(certPEM, keyPEM []byte, now time.Time) (*tls.Certificate, Info, error) {
	if !hasBlock(certPEM, "CERTIFICATE") {
		return nil, Info{}, ErrNoCertificate
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, Info{}, fmt.Errorf("%w (%w)", ErrKeyMismatch, err)
		}
		return nil, Info{}, err
	}
	chain := make([]*x509.Certificate, len(c.Certificate))
	for i, der := range c.Certificate {
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, Info{}, fmt.Errorf("certificate %d in the file: %w", i+1, err)
		}
	}
	leaf := chain[0]
	c.Leaf = leaf
	switch {
	case now.After(leaf.NotAfter):
		return nil, Info{}, fmt.Errorf("%w: %s expired on %s", ErrExpired, describe(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, Info{}, fmt.Errorf("%w: %s is valid from %s", ErrNotYetValid, describe(leaf), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, Info{}, fmt.Errorf("%w: certificate %d (%s) is not signed by certificate %d (%s) that follows it: %w",
				ErrBrokenChain, i+1, describe(chain[i]), i+2, describe(chain[i+1]), err)
		}
	}
	return &c, infoOf(leaf, now), nil
}

func infoOf(leaf *x509.Certificate, now time.Time) Info {
	return Info{
		Names:     Names(leaf),
		Issuer:    issuerName(leaf),
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		KeyType:   keyType(leaf),
		Loaded:    now,
	}
}

// Names lists the names a certificate is for: its DNS SANs and IP SANs,
// or its common name when it has neither (old self-signed certificates).
func Names(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

func describe(c *x509.Certificate) string {
	if n := Names(c); len(n) > 0 {
		return strings.Join(n, ", ")
	}
	return c.Subject.String()
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

func keyType(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

func hasBlock(data []byte, typ string) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if b.Type == typ {
			return true
		}
	}
}

// LoadCAs reads a PEM bundle of CA certificates (for client certificates or
// an upstream's server certificate).
func LoadCAs(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: %w", file, ErrNoCertificate)
	}
	return pool, nil
}
