package access

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ErrNotBcrypt is wrapped by a *FileError for an entry whose hash is not
// bcrypt: MD5 ($apr1$), SHA-1 ({SHA}), crypt(3) and plain text are all
// refused, because a stolen file of them is cracked in hours.
var ErrNotBcrypt = errors.New("not a bcrypt hash")

// FileError is a problem with one line of an htpasswd file.
type FileError struct {
	File string
	Line int // 0 when the file as a whole is the problem
	Err  error
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err.Error())
}

func (e *FileError) Unwrap() error { return e.Err }

// Htpasswd is the users of an htpasswd file, each with a bcrypt hash.
type Htpasswd struct {
	users map[string][]byte
	// dummy is a bcrypt hash of the file's highest cost that matches no
	// password: an unknown user is checked against it, so the answer takes
	// as long as for a known user with a wrong password and a client
	// cannot tell which user names exist by timing.
	dummy []byte
}

// LoadHtpasswd reads an htpasswd file: "user:hash" lines, blank lines and
// "#" comments. Every hash must be bcrypt ($2y$, $2b$ or $2a$, as
// `htpasswd -B` writes them); anything else is a *FileError naming the
// line.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	h, err := ParseHtpasswd(path, b)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// ParseHtpasswd parses the bytes of an htpasswd file named name.
func ParseHtpasswd(name string, b []byte) (*Htpasswd, error) {
	h := &Htpasswd{users: map[string][]byte{}}
	cost := bcrypt.DefaultCost
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, &FileError{File: name, Line: n, Err: errors.New(`expected "user:hash"`)}
		}
		if _, dup := h.users[user]; dup {
			return nil, &FileError{File: name, Line: n, Err: fmt.Errorf("user %q is listed twice", user)}
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil || !isBcrypt(hash) {
			return nil, &FileError{File: name, Line: n, Err: fmt.Errorf("user %q: %w (%s); write it again with htpasswd -B", user, ErrNotBcrypt, hashKind(hash))}
		}
		cost = max(cost, c)
		h.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("\x00no user has this password"), cost)
	if err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	h.dummy = dummy
	return h, nil
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2y$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2a$")
}

// hashKind names what a refused hash looks like, for the message.
func hashKind(h string) string {
	switch {
	case strings.HasPrefix(h, "$apr1$"):
		return "Apache MD5, $apr1$"
	case strings.HasPrefix(h, "{SHA}"):
		return "SHA-1, {SHA}"
	case strings.HasPrefix(h, "$1$"), strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		return "crypt(3), " + h[:3]
	case isBcrypt(h):
		return "a malformed bcrypt hash"
	}
	return "crypt(3) DES or plain text"
}

// Users is how many users the file lists.
func (h *Htpasswd) Users() int { return len(h.users) }

// Check reports whether user and password match an entry. An unknown user
// costs one bcrypt comparison, as a known one does.
func (h *Htpasswd) Check(user, password []byte) bool {
	hash, known := h.users[string(user)]
	if !known {
		hash = h.dummy
	}
	// The comparison runs whatever known is; only then is known looked at.
	ok := bcrypt.CompareHashAndPassword(hash, password) == nil
	return ok && known
}
