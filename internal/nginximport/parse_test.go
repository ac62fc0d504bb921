package nginximport

import (
	"slices"
	"testing"
)

func TestParseTokenizesLikeNginx(t *testing.T) {
	tests := []struct {
		name string
		src  string
		args []string // of the last directive
		line int
	}{
		{"words and a comment", "a b c; # d;", []string{"b", "c"}, 1},
		{"# inside a word is not a comment", "a b#c;", []string{"b#c"}, 1},
		{"quotes group and unescape", `a "b c" 'd\'e' "f\"g\\h";`, []string{"b c", "d'e", `f"g\h`}, 1},
		{"an empty quoted string is an argument", `a "";`, []string{""}, 1},
		{"other escapes keep the backslash but do not end a word", `a "\d" x\;y;`, []string{`\d`, `x\;y`}, 1},
		{"${var} does not open a block", "a ${b}c;", []string{"${b}c"}, 1},
		{"} inside a word is part of it", "a b}c;", []string{"b}c"}, 1},
		{"lines are counted across comments and strings", "# one\n\na \"multi\nline\";\nb x;\n", []string{"x"}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := (&reader{}).parse("t.conf", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			last := ds[len(ds)-1]
			if !slices.Equal(last.args, tt.args) || last.line != tt.line {
				t.Fatalf("last directive = %+v, want args %q on line %d", last, tt.args, tt.line)
			}
		})
	}
}

func TestParseBuildsBlocks(t *testing.T) {
	ds, err := (&reader{}).parse("t.conf", []byte("http {\n  server {\n    listen 80;\n  }\n  gzip on;\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].name != "http" || !ds[0].isBlock || len(ds[0].block) != 2 {
		t.Fatalf("top = %+v", ds)
	}
	srv := ds[0].block[0]
	if srv.name != "server" || srv.line != 2 || len(srv.block) != 1 || srv.block[0].name != "listen" || srv.block[0].line != 3 {
		t.Errorf("server = %+v", srv)
	}
	if g := ds[0].block[1]; g.name != "gzip" || g.isBlock || g.line != 5 {
		t.Errorf("gzip = %+v", g)
	}
}
