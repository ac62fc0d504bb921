package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FilePair names a certificate chain file and its key file.
type FilePair struct {
	CertFile string
	KeyFile  string
}

// ErrUnknownName is the handshake error for a client whose SNI name no
// certificate covers, when the set is strict.
var ErrUnknownName = errors.New("no certificate for the requested name")

// Set is the certificates one TLS listener serves. It picks one per
// handshake by SNI name (exact, then wildcard), preferring the first that
// the client supports, so an ECDSA and an RSA certificate for the same
// name serve modern and old clients alike. A client without SNI, or with
// a name no certificate covers, gets the first certificate (or a handshake
// failure when Strict). Set is safe for concurrent use: handshakes read an
// immutable index through one atomic load, and Refresh swaps a new one in.
type Set struct {
	// Strict refuses handshakes for names no certificate covers instead of
	// answering with the default certificate.
	Strict bool

	mu      sync.Mutex // serialises Refresh and Replace
	entries []*entry
	idx     atomic.Pointer[index]
}

// entry is one configured certificate: where it comes from and what is
// served now.
type entry struct {
	files FilePair // empty for certificates given in code (ACME)
	stamp fileStamp
	cert  *tls.Certificate
	info  Info
	// The stapled OCSP response's validity: from when it was fetched
	// until its next update.
	stapleFrom, stapleNext time.Time
}

// index maps names to certificates for handshakes.
type index struct {
	exact map[string][]*tls.Certificate
	wild  map[string][]*tls.Certificate // "example.com" for *.example.com
	def   *tls.Certificate
}

// NewSet loads every pair (see LoadFiles); the first is the default. It
// fails on the first pair that does not load, naming it by position.
func NewSet(pairs []FilePair, now time.Time) (*Set, error) {
	s := &Set{}
	for i, p := range pairs {
		st, _ := stampOf(p)
		c, info, err := LoadFiles(p.CertFile, p.KeyFile, now)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i+1, err)
		}
		s.entries = append(s.entries, &entry{files: p, stamp: st, cert: c, info: info})
	}
	s.reindex()
	return s, nil
}

// Add serves c beside the set's certificates (after them: it is the
// default only in an empty set). For certificates obtained in code, such
// as from ACME; source names where it came from.
func (s *Set) Add(c *tls.Certificate, source string, now time.Time) error {
	if c.Leaf == nil {
		return errors.New("certs: Add needs a certificate with its Leaf parsed")
	}
	info := infoOf(c.Leaf, now)
	info.Source = source
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, &entry{cert: c, info: info})
	s.reindex()
	return nil
}

// Empty reports whether the set holds no certificate.
func (s *Set) Empty() bool { return s.idx.Load().def == nil }

// GetCertificate is for tls.Config.GetCertificate.
func (s *Set) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ix := s.idx.Load()
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c := pick(hello, ix.exact[name]); c != nil {
			return c, nil
		}
		if _, parent, ok := strings.Cut(name, "."); ok {
			if c := pick(hello, ix.wild[parent]); c != nil {
				return c, nil
			}
		}
		if s.Strict {
			return nil, fmt.Errorf("%w %q", ErrUnknownName, name)
		}
	}
	if ix.def == nil {
		return nil, errors.New("certs: no certificate loaded")
	}
	return ix.def, nil
}

// pick returns the first of cs the client can use, else the first.
func pick(hello *tls.ClientHelloInfo, cs []*tls.Certificate) *tls.Certificate {
	if len(cs) == 0 {
		return nil
	}
	for _, c := range cs {
		if hello.SupportsCertificate(c) == nil {
			return c
		}
	}
	return cs[0]
}

// Infos returns what each certificate is, in configured order.
func (s *Set) Infos() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Info, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.info
	}
	return out
}

// Refresh re-reads every certificate whose files changed on disk since
// they were read (a renewal by certbot or a deploy tool): size,
// modification time or inode, so a symlink swap counts too. A file that no
// longer loads leaves the certificate served as it was and is reported in
// its Info.Error and in the returned error; the next Refresh tries again.
// It returns how many certificates it replaced.
func (s *Set) Refresh(now time.Time) (replaced int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for i, e := range s.entries {
		if e.files.CertFile == "" {
			continue
		}
		st, serr := stampOf(e.files)
		if serr == nil && st == e.stamp {
			continue
		}
		// The stamp is taken whatever the outcome: a file that fails to
		// load is tried again when it changes again (the renewal tool
		// finishing its write), and its failure is reported once.
		e.stamp = st
		c, info, lerr := LoadFiles(e.files.CertFile, e.files.KeyFile, now)
		if lerr != nil {
			errs = append(errs, fmt.Errorf("certificate %d: %w; still serving the one loaded %s", i+1, lerr, e.info.Loaded.UTC().Format(time.RFC3339)))
			e.info.Error = lerr.Error()
			continue
		}
		e.cert, e.info = c, info
		e.stapleFrom, e.stapleNext = time.Time{}, time.Time{}
		replaced++
	}
	if replaced > 0 {
		s.reindex()
	}
	return replaced, errors.Join(errs...)
}

// reindex rebuilds the handshake index; callers hold mu (or own s).
func (s *Set) reindex() {
	ix := &index{exact: map[string][]*tls.Certificate{}, wild: map[string][]*tls.Certificate{}}
	for _, e := range s.entries {
		if ix.def == nil {
			ix.def = e.cert
		}
		for _, n := range e.info.Names {
			n = strings.ToLower(n)
			if parent, ok := strings.CutPrefix(n, "*."); ok {
				ix.wild[parent] = append(ix.wild[parent], e.cert)
			} else {
				ix.exact[n] = append(ix.exact[n], e.cert)
			}
		}
	}
	s.idx.Store(ix)
}

// fileStamp is what tells that a pair's files changed.
type fileStamp struct {
	certSize, keySize   int64
	certMtime, keyMtime int64
	certIno, keyIno     uint64
}

func stampOf(p FilePair) (fileStamp, error) {
	cf, err := os.Stat(p.CertFile)
	if err != nil {
		return fileStamp{}, err
	}
	kf, err := os.Stat(p.KeyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{
		certSize: cf.Size(), keySize: kf.Size(),
		certMtime: cf.ModTime().UnixNano(), keyMtime: kf.ModTime().UnixNano(),
		certIno: inode(cf), keyIno: inode(kf),
	}, nil
}
