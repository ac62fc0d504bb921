package route

import "errors"

// The reasons CleanPath refuses a path. Their text goes into the client's
// 400 answer, so it says what is wrong with the request, not where.
var (
	ErrPathNotAbsolute  = errors.New(`the path does not start with "/"`)
	ErrPathAboveRoot    = errors.New("the path climbs above the root")
	ErrPathSlashDots    = errors.New("the path mixes dot-segments with encoded slashes or backslashes")
	ErrPathDotParameter = errors.New(`the path has a dot-segment with a parameter ("..;" or ".;")`)
	ErrPathControl      = errors.New("the path has an encoded control character (%00-%1F or %7F)")
	ErrPathOverlong     = errors.New("the path has an overlong UTF-8 encoding (such as %C0%AE)")
	ErrPathEscape       = errors.New("the path has a malformed percent-encoding (% not followed by two hex digits)")
)

// CleanPath returns path with runs of slashes merged and dot-segments
// removed (RFC 3986 section 5.2.4), reading "%2e" as "." so that an encoded
// "../" cannot walk out of a route's prefix either.
//
// The cleaned path is both matched and forwarded, so it must not mean a
// parent directory to any common backend. CleanPath therefore refuses (with
// one of the ErrPath values) a path that
//   - climbs above the root;
//   - mixes dots with "%2f", "%5c" or "\" (a backend that decodes them, or
//     reads "\" as "/", would resolve segments the gateway did not see);
//   - has a "." or ".." segment carrying a parameter (";" or "%3b"): Tomcat
//     and Spring drop the parameter and read "/..;/" as "/../";
//   - has an encoded control byte: %00 truncates C strings, %0d%0a splits
//     headers and log lines in a backend that decodes the path;
//   - has an overlong UTF-8 sequence (%c0%ae is ".", %c0%af is "/" to a
//     lenient decoder);
//   - has a "%" not followed by two hex digits (IIS reads "%u002e" as ".").
//
// Raw bytes outside visible ASCII never get here: h1.ParseRequest refuses
// them. A path that needs no change is returned as is, without allocating;
// otherwise the result is built in buf.
func CleanPath(path []byte, buf []byte) ([]byte, error) {
	if len(path) == 0 {
		return path, nil
	}
	if path[0] != '/' {
		return nil, ErrPathNotAbsolute
	}
	dirty, err := checkPath(path)
	if err != nil || !dirty {
		return path, err
	}
	return removeDotSegments(decodeDots(path, buf))
}

// checkPath refuses the paths CleanPath documents and reports whether the
// path needs cleaning (repeated slashes, dot-segments, "%2e").
func checkPath(path []byte) (dirty bool, err error) {
	dots, slashy := false, false
	seg := 0 // index of the slash that starts the current segment
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !pathSpecial[c] {
			continue
		}
		switch c {
		case '/':
			seg = i
			if i+1 < len(path) && (path[i+1] == '/' || path[i+1] == '.') {
				dirty = true
			}
		case '.':
			dots = true
		case '\\':
			slashy = true
		case ';':
			if isDotSegment(path[seg+1 : i]) {
				return false, ErrPathDotParameter
			}
		case '%':
			b, ok := escapedByte(path, i)
			switch {
			case !ok:
				return false, ErrPathEscape
			case b == '.':
				dirty, dots = true, true
			case b == '/' || b == '\\':
				slashy = true
			case b == ';' && isDotSegment(path[seg+1:i]):
				return false, ErrPathDotParameter
			case b < ' ' || b == 0x7f:
				return false, ErrPathControl
			case b >= 0xc0 && overlong(path, i, b):
				return false, ErrPathOverlong
			}
			i += 2
		}
	}
	if dots && slashy {
		return false, ErrPathSlashDots
	}
	return dirty, nil
}

// pathSpecial marks the bytes checkPath looks at, so the others (most of a
// path) cost one table load each. It is a constant table, never written.
var pathSpecial = [256]bool{'/': true, '.': true, '\\': true, ';': true, '%': true}

// escapedByte decodes the "%XX" at path[i].
func escapedByte(path []byte, i int) (byte, bool) {
	if i+2 >= len(path) {
		return 0, false
	}
	hi, ok1 := unhex(path[i+1])
	lo, ok2 := unhex(path[i+2])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return (c | 0x20) - 'a' + 10, true
	}
	return 0, false
}

// overlong reports whether the escaped lead byte b at path[i] starts an
// overlong UTF-8 sequence: C0 and C1 always do; E0 and F0 do when the next
// byte leaves room for a shorter encoding (RFC 3629 section 3).
func overlong(path []byte, i int, b byte) bool {
	if b == 0xc0 || b == 0xc1 {
		return true
	}
	if b != 0xe0 && b != 0xf0 || i+3 >= len(path) || path[i+3] != '%' {
		return false
	}
	next, ok := escapedByte(path, i+3)
	return ok && next >= 0x80 && (b == 0xe0 && next < 0xa0 || b == 0xf0 && next < 0x90)
}

// isDotSegment reports whether seg is "." or "..", each dot possibly
// written "%2e".
func isDotSegment(seg []byte) bool {
	n := 0
	for i := 0; i < len(seg); i++ {
		switch {
		case seg[i] == '.':
		case seg[i] == '%' && i+2 < len(seg) && seg[i+1] == '2' && seg[i+2]|0x20 == 'e':
			i += 2
		default:
			return false
		}
		n++
	}
	return n == 1 || n == 2
}

// decodeDots copies path into buf with "%2e" decoded and runs of slashes
// merged.
func decodeDots(path, buf []byte) []byte {
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
	return b
}

// removeDotSegments resolves "." and ".." in b in place: the output grows
// behind the read position.
func removeDotSegments(b []byte) ([]byte, error) {
	out := b[:0]
	for r := 0; r < len(b); {
		// b[r] == '/': the segment is b[r+1 : next slash].
		end := r + 1
		for end < len(b) && b[end] != '/' {
			end++
		}
		last := end >= len(b)
		switch string(b[r+1 : end]) {
		case ".":
			if last {
				out = append(out, '/')
			}
		case "..":
			if len(out) == 0 {
				return nil, ErrPathAboveRoot
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
	return out, nil
}
