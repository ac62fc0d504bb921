package nginximport

import (
	"fmt"
	"strings"
)

// maxDepth bounds block nesting. Real configurations nest four or five
// levels (http → server → location → location); the bound keeps a
// pathological input from recursing without limit.
const maxDepth = 64

// directive is one nginx directive: its name, its arguments and, for a block
// directive, the directives between its braces.
type directive struct {
	name string
	args []string
	// file and line locate the directive; file differs from the converted
	// file's name for directives read through include.
	file string
	line int
	// seq orders directives as nginx reads them, across included files,
	// so warnings come out in reading order.
	seq     int
	isBlock bool
	block   []*directive
	// raw marks an entry of a block whose contents are data, not
	// directives (map, types, geo, split_clients): name is its first
	// token, whatever it is.
	raw bool
}

// rawBlock reports whether nginx hands the block's contents to a custom
// handler instead of parsing them as directives (ngx_conf_parse with
// cf->handler): its entries are "key value;" lines whose key may be any
// string, quoted or empty, as in
// map $http_upgrade $connection_upgrade { ” close; }.
func rawBlock(name string) bool {
	switch name {
	case "map", "types", "geo", "split_clients", "charset_map":
		return true
	}
	return false
}

// token is one lexical token. Punctuation (";", "{", "}") is reported with
// punct set so that a quoted ";" stays an ordinary argument.
type token struct {
	text  string
	line  int
	punct bool
}

// lexer splits nginx configuration text into tokens the way nginx's
// ngx_conf_read_token does: whitespace separates words, "#" starts a comment
// only where a word could start, quotes group, backslash escapes, and "{"
// directly after "$" belongs to a "${var}" reference instead of opening a
// block.
type lexer struct {
	file string
	src  []byte
	pos  int
	line int
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{file: file, src: src, line: 1}
}

// next returns the next token, or ok=false at the end of the input.
func (l *lexer) next() (tok token, ok bool, err error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == ';' || c == '{' || c == '}':
			l.pos++
			return token{text: string(c), line: l.line, punct: true}, true, nil
		case c == '"' || c == '\'':
			tok, err := l.quoted(c)
			return tok, err == nil, err
		default:
			return l.word(), true, nil
		}
	}
	return token{}, false, nil
}

// quoted reads a string in quotes q, which nginx requires to be followed by
// whitespace, ";", "{" or ")". A ")" starts the next word, which is how
// if ($request_method = 'OPTIONS') ends.
func (l *lexer) quoted(q byte) (token, error) {
	start := l.line
	l.pos++ // opening quote
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return token{}, l.errorf(start, "unexpected end of file: unterminated %c string", q)
		}
		c := l.src[l.pos]
		switch {
		case c == q:
			l.pos++
			if l.pos < len(l.src) {
				switch l.src[l.pos] {
				case ' ', '\t', '\r', '\n', ';', '{', ')':
				default:
					return token{}, l.errorf(l.line, "unexpected %q after a quoted string", l.src[l.pos])
				}
			}
			return token{text: b.String(), line: start}, nil
		case c == '\\' && l.pos+1 < len(l.src):
			l.pos++
			l.escape(&b)
		default:
			if c == '\n' {
				l.line++
			}
			b.WriteByte(c)
			l.pos++
		}
	}
}

// word reads an unquoted word up to whitespace, ";" or a "{" that does not
// follow "$". A "}" inside a word is part of it, as in nginx.
func (l *lexer) word() token {
	start := l.line
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case ' ', '\t', '\r', '\n', ';':
			return token{text: b.String(), line: start}
		case '{':
			if s := b.String(); !strings.HasSuffix(s, "$") {
				return token{text: s, line: start}
			}
		case '\\':
			if l.pos+1 < len(l.src) {
				l.pos++
				l.escape(&b)
				continue
			}
		}
		b.WriteByte(c)
		l.pos++
	}
	return token{text: b.String(), line: start}
}

// escape writes the character after a backslash (at l.pos) the way nginx
// unescapes it: \" \' \\ \t \r \n are translated, anything else keeps its
// backslash.
func (l *lexer) escape(b *strings.Builder) {
	c := l.src[l.pos]
	l.pos++
	switch c {
	case '"', '\'', '\\':
		b.WriteByte(c)
	case 't':
		b.WriteByte('\t')
	case 'r':
		b.WriteByte('\r')
	case 'n':
		b.WriteByte('\n')
	default:
		if c == '\n' {
			l.line++
		}
		b.WriteByte('\\')
		b.WriteByte(c)
	}
}

func (l *lexer) errorf(line int, format string, args ...any) error {
	return &Error{File: l.file, Line: line, Message: fmt.Sprintf(format, args...)}
}

// parse reads a whole configuration into its top-level directives,
// following include directives through r.
func (r *reader) parse(file string, src []byte) ([]*directive, error) {
	l := newLexer(file, src)
	ds, closed, err := r.parseBlock(l, 0, false)
	if err != nil {
		return nil, err
	}
	if closed {
		return nil, l.errorf(l.line, `unexpected "}"`)
	}
	return ds, nil
}

// parseBlock reads directives until a closing "}" (closed=true) or the end
// of the input (closed=false); the caller decides which of the two it
// expected. In a raw block (see rawBlock) the entries are data.
func (r *reader) parseBlock(l *lexer, depth int, raw bool) (ds []*directive, closed bool, err error) {
	var cur *directive
	for {
		tok, ok, err := l.next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			if cur != nil {
				return nil, false, l.errorf(l.line, `unexpected end of file, expecting ";" or "}" after %q`, cur.name)
			}
			return ds, false, nil
		}
		if !tok.punct {
			if cur == nil {
				if !raw && !validName(tok.text) {
					return nil, false, l.errorf(tok.line, "unknown directive %q", tok.text)
				}
				r.seq++
				cur = &directive{name: tok.text, file: l.file, line: tok.line, seq: r.seq, raw: raw}
			} else {
				cur.args = append(cur.args, tok.text)
			}
			continue
		}
		switch tok.text {
		case ";":
			if cur == nil {
				return nil, false, l.errorf(tok.line, `unexpected ";"`)
			}
			if cur.name == "include" {
				inc, err := r.include(cur, depth)
				if err != nil {
					return nil, false, err
				}
				ds = append(ds, inc...)
			} else {
				ds = append(ds, cur)
			}
			cur = nil
		case "{":
			if cur == nil || raw {
				return nil, false, l.errorf(tok.line, `unexpected "{"`)
			}
			if depth+1 >= maxDepth {
				return nil, false, l.errorf(tok.line, "blocks nested more than %d deep", maxDepth)
			}
			inner, closed, err := r.parseBlock(l, depth+1, rawBlock(cur.name))
			if err != nil {
				return nil, false, err
			}
			if !closed {
				return nil, false, l.errorf(l.line, `unexpected end of file, expecting "}" to close %q from line %d`, cur.name, cur.line)
			}
			cur.isBlock = true
			cur.block = inner
			ds = append(ds, cur)
			cur = nil
		case "}":
			if cur != nil {
				return nil, false, l.errorf(tok.line, `unexpected "}": %q is missing its ";"`, cur.name)
			}
			return ds, true, nil
		}
	}
}

// validName reports whether s can name a directive. nginx's directives,
// including those of third-party modules, are letters, digits and "_";
// anything else is an unknown directive, which nginx rejects.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
