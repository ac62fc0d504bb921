package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxDecodeSteps bounds the values one file may expand to. YAML aliases can
// make a small file describe an enormous document ("billion laughs"); a real
// gateway config has a few thousand values at most.
const maxDecodeSteps = 100_000

// decoder fills Go values from a YAML node tree, recording every position
// and every problem in its report instead of stopping at the first. It
// reads the same `yaml:"..."` tags as go.yaml.in/yaml/v3, but an unknown
// key is a problem, not something to ignore.
type decoder struct {
	r     *report
	steps int
	// expanding holds the aliases being followed, to refuse an alias that
	// refers to a value containing itself.
	expanding map[*yaml.Node]bool
	exhausted bool
}

func newDecoder(r *report) *decoder {
	return &decoder{r: r, expanding: map[*yaml.Node]bool{}}
}

// step counts one decoded value; it reports false once the budget is spent.
func (d *decoder) step(path string) bool {
	if d.exhausted {
		return false
	}
	d.steps++
	if d.steps > maxDecodeSteps {
		d.exhausted = true
		d.r.failf(path, "the document expands to more than %d values (through aliases?); a gateway config is far smaller", maxDecodeSteps)
		return false
	}
	return true
}

// follow resolves an alias to the value it names.
func (d *decoder) follow(n *yaml.Node, path string, fn func(*yaml.Node)) {
	if n.Kind != yaml.AliasNode {
		fn(n)
		return
	}
	if n.Alias == nil {
		d.r.failf(path, "alias *%s names no anchor", n.Value)
		return
	}
	if d.expanding[n] {
		d.r.failf(path, "alias *%s refers to a value that contains it", n.Value)
		return
	}
	d.expanding[n] = true
	d.follow(n.Alias, path, fn)
	delete(d.expanding, n)
}

// decode stores n into v, which must be addressable. A null leaves v as it
// is, which for a config field means "use the default".
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.step(path) {
		return
	}
	if n.Kind == yaml.AliasNode {
		d.follow(n, path, func(n *yaml.Node) { d.decode(n, v, path) })
		return
	}
	if isNull(n) {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			d.r.failf(path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.r.failf(path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || err != nil {
			d.r.failf(path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.r.failf(path, "expected a whole number, got %s", describe(n))
			return
		}
		if v.OverflowInt(i) {
			d.r.failf(path, "%s is too large", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil ||
			math.IsNaN(f) || math.IsInf(f, 0) {
			d.r.failf(path, "expected a number such as 0.5, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable if a field of an unsupported kind is added to the
		// schema; the fuzz and example tests decode every field.
		d.r.failf(path, "cannot decode into a %s; this is a bug in skjold", v.Type())
	}
}

// entry is one key: value pair of a mapping, after merge keys are applied.
type entry struct {
	key, val *yaml.Node
}

// entries lists the pairs of mapping n in order. Merge keys ("<<: *base")
// contribute the keys n does not set itself; a key set twice is a problem.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	var own, merged []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.step(path) {
			return nil
		}
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.r.record(path+"[?]", path, position{k.Line, k.Column}, false)
			d.r.failf(path+"[?]", "keys must be plain names, got %s", describe(k))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			p := keyPath(path, k.Value)
			d.r.problems = append(d.r.problems, Problem{
				File: d.r.file, Line: k.Line, Column: k.Column, Path: p,
				Message: fmt.Sprintf("%q is already set on line %d; remove one of them", k.Value, prev.Line),
			})
			continue
		}
		seen[k.Value] = k
		own = append(own, entry{k, val})
	}
	for _, e := range merged {
		if _, ok := seen[e.key.Value]; !ok {
			seen[e.key.Value] = e.key
			own = append(own, e)
		}
	}
	return own
}

// merge returns the pairs a merge key's value contributes: one mapping or a
// list of them, usually aliases. Earlier mappings win, as YAML specifies.
func (d *decoder) merge(n *yaml.Node, path string) []entry {
	var out []entry
	d.follow(n, path, func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			out = d.entries(n, path)
		case yaml.SequenceNode:
			for _, item := range n.Content {
				d.follow(item, path, func(m *yaml.Node) {
					if m.Kind != yaml.MappingNode {
						d.r.failf(path, "a merge key (<<) takes mappings, got %s", describe(m))
						return
					}
					out = append(out, d.entries(m, path)...)
				})
			}
		default:
			d.r.failf(path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(n))
		}
	})
	return out
}

// recordEntry notes the position of a mapping value: the value itself when
// it is a scalar, the key when it is a mapping or list (so a problem with
// the whole block points at its name).
func (d *decoder) recordEntry(e entry, path, parent string) {
	p := position{e.key.Line, e.key.Column}
	if e.val.Kind == yaml.ScalarNode || e.val.Kind == yaml.AliasNode {
		p = position{e.val.Line, e.val.Column}
	}
	d.r.record(path, parent, p, isNull(e.val))
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	fields := fieldsOf(v.Type())
	if n.Kind != yaml.MappingNode {
		d.r.failf(path, "expected a mapping with keys %s, got %s", strings.Join(fieldNames(fields), ", "), describe(n))
		return
	}
	for _, e := range d.entries(n, path) {
		if path == "" && strings.HasPrefix(e.key.Value, "x-") {
			// Top-level keys starting with x- are ignored: a place to
			// define YAML anchors shared by several sections.
			continue
		}
		p := keyPath(path, e.key.Value)
		d.recordEntry(e, p, path)
		f, ok := lookupField(fields, e.key.Value)
		if !ok {
			d.r.record(p, path, position{e.key.Line, e.key.Column}, false)
			d.r.failf(p, "%s", unknownKey(e.key.Value, v.Type()))
			continue
		}
		d.decode(e.val, v.Field(f.index), p)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.r.failf(path, "expected a mapping of names to settings, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, e := range d.entries(n, path) {
		p := keyPath(path, e.key.Value)
		d.recordEntry(e, p, path)
		elem := newElem(v.Type().Elem())
		d.decode(e.val, elem, p)
		v.SetMapIndex(reflect.ValueOf(e.key.Value).Convert(v.Type().Key()), elem)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(" (write [%s] for a list of one)", n.Value)
		}
		d.r.failf(path, "expected a list, got %s%s", describe(n), hint)
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		p := indexPath(path, i)
		d.r.record(p, path, position{item.Line, item.Column}, isNull(item))
		elem := newElem(v.Type().Elem())
		d.decode(item, elem, p)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// newElem makes an addressable map or list element. An element that is a
// pointer to a struct starts allocated, so "fx:" with nothing under it
// yields an empty upstream (and a problem about its missing targets), never
// a nil entry a consumer would trip over.
func newElem(t reflect.Type) reflect.Value {
	e := reflect.New(t).Elem()
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		e.Set(reflect.New(t.Elem()))
	}
	return e
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 60 {
		v = v[:57] + "..."
	}
	return strconv.Quote(v)
}

// field is one YAML key of a struct.
type field struct {
	name  string
	index int
}

// fieldsOf lists the YAML keys of struct type t from its yaml tags.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		fs = append(fs, field{name: name, index: i})
	}
	return fs
}

func fieldNames(fs []field) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

func lookupField(fs []field, name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// unknownKey explains an unknown key of struct type t: the closest known
// key if one is near, the place the key belongs if it is a key of a nested
// section ("path_prefix" under a route belongs under "match"), else the
// keys that are known here.
func unknownKey(key string, t reflect.Type) string {
	fs := fieldsOf(t)
	names := fieldNames(fs)
	if s, ok := closest(key, names); ok {
		return fmt.Sprintf("unknown key %q; did you mean %q?", key, s)
	}
	lower := strings.ToLower(key)
	for _, f := range fs {
		ft := t.Field(f.index).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct {
			continue
		}
		if _, ok := lookupField(fieldsOf(ft), lower); ok {
			return fmt.Sprintf("unknown key %q here; it belongs under %q (%s.%s)", key, f.name, f.name, lower)
		}
	}
	return fmt.Sprintf("unknown key %q; expected one of %s", key, strings.Join(names, ", "))
}

// closest returns the candidate nearest to s by edit distance, if it is
// near enough to be a plausible typo.
func closest(s string, candidates []string) (string, bool) {
	best, bestDist := "", math.MaxInt
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if dist := editDistance(ls, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	limit := max(1, min(3, len(s)/3))
	if strings.ReplaceAll(ls, "-", "_") == best || strings.ReplaceAll(best, "_", "") == ls {
		return best, true
	}
	return best, bestDist <= limit
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Keys this long are not typos of ours; avoid quadratic work.
		return math.MaxInt / 2
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sortedKeys returns the keys of m in order, for messages and stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
