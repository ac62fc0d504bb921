package route

// CleanPath returns path with runs of slashes merged and dot-segments
// removed (RFC 3986 section 5.2.4), reading "%2e" as "." so that an encoded
// "../" cannot walk out of a route's prefix either. ok is false for a path
// that climbs above the root or mixes dots with encoded or back slashes (a
// backend that decodes "%2f" or treats "\" as "/" would see a different
// path than the one matched). A path that needs no change is returned as is,
// without allocating; otherwise the result is built in buf.
func CleanPath(path []byte, buf []byte) (clean []byte, ok bool) {
	if len(path) == 0 || path[0] != '/' {
		return path, len(path) == 0
	}
	dirty, dots, slashy := false, false, false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '/':
			if i+1 < len(path) && path[i+1] == '/' {
				dirty = true
			}
			if i+1 < len(path) && path[i+1] == '.' {
				dirty, dots = true, true
			}
		case '.':
			dots = true
		case '%':
			if i+2 < len(path) {
				a, b := path[i+1], path[i+2]|0x20
				if a == '2' && b == 'e' {
					dirty, dots = true, true
				}
				if a == '2' && b == 'f' || a == '5' && b == 'c' {
					slashy = true
				}
			}
		case '\\':
			slashy = true
		}
	}
	if dots && slashy {
		return nil, false
	}
	if !dirty {
		return path, true
	}

	// Decode %2e and merge slashes into buf.
	b := buf[:0]
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' && i+2 < len(path) && path[i+1] == '2' && path[i+2]|0x20 == 'e' {
			b = append(b, '.')
			i += 2
			continue
		}
		if c == '/' && len(b) > 0 && b[len(b)-1] == '/' {
			continue
		}
		b = append(b, c)
	}

	// Remove dot-segments in place: out grows behind the read position.
	out := b[:0]
	for r := 0; r < len(b); {
		// b[r] == '/': the segment is b[r+1 : next slash].
		end := r + 1
		for end < len(b) && b[end] != '/' {
			end++
		}
		seg := b[r+1 : end]
		last := end >= len(b)
		switch string(seg) {
		case ".":
			if last {
				out = append(out, '/')
			}
		case "..":
			// Drop the previous segment.
			if len(out) == 0 {
				return nil, false
			}
			j := len(out) - 1
			for j >= 0 && out[j] != '/' {
				j--
			}
			out = out[:max(j, 0)]
			if last {
				out = append(out, '/')
			}
		default:
			out = append(out, b[r:end]...)
		}
		r = end
	}
	if len(out) == 0 {
		out = append(out, '/')
	}
	return out, true
}
