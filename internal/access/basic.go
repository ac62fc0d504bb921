package access

import (
	"bytes"
	"encoding/base64"
)

// ParseBasic reads the credentials of an "Authorization: Basic ..." value
// (RFC 7617). The scheme is case-insensitive; ok is false for any other
// scheme or a malformed value.
func ParseBasic(value []byte) (user, password []byte, ok bool) {
	const scheme = "basic "
	value = bytes.TrimLeft(value, " ")
	if len(value) < len(scheme) || !bytes.EqualFold(value[:len(scheme)], []byte(scheme)) {
		return nil, nil, false
	}
	enc := bytes.TrimSpace(value[len(scheme):])
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Decode(dec, enc)
	if err != nil {
		return nil, nil, false
	}
	user, password, ok = bytes.Cut(dec[:n], []byte(":"))
	if !ok {
		return nil, nil, false
	}
	return user, password, true
}
