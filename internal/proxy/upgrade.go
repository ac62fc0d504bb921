package proxy

import (
	"bytes"

	"github.com/skjold-dev/skjold/internal/h1"
)

// upgradeHeader returns the value of the Upgrade field among fields, or
// nil when there is none.
func upgradeHeader(fields []h1.Field) []byte {
	for i := range fields {
		if h1.EqualFold(fields[i].Name, "upgrade") {
			return fields[i].Value
		}
	}
	return nil
}

// allowsUpgrade reports whether the route allows every protocol an Upgrade
// value lists ("websocket", "h2c, websocket/13": RFC 9110 section 7.8;
// versions are ignored). Only such requests are forwarded with their
// Upgrade header, and only such switches become tunnels.
func (r *Route) allowsUpgrade(v []byte) bool {
	if len(r.Upgrades) == 0 {
		return false
	}
	listed := 0
	for len(v) > 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if i := bytes.IndexByte(item, '/'); i >= 0 {
			item = item[:i]
		}
		if item = bytes.Trim(item, " \t"); len(item) == 0 {
			continue
		}
		if !r.allowsProtocol(item) {
			return false
		}
		listed++
	}
	return listed > 0
}

func (r *Route) allowsProtocol(name []byte) bool {
	for _, u := range r.Upgrades {
		if h1.EqualFold(name, u) {
			return true
		}
	}
	return false
}
