package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder turns one file's yaml.Node tree into typed values. It is strict —
// unknown fields, duplicate keys and wrong types are errors — and it reports
// every problem at the node that caused it. It remembers the node of every
// field path it visits, so checks made later (across files) can still point
// at the right line.
type decoder struct {
	file  string
	errs  *ErrorList
	nodes map[string]*yaml.Node // field path → value node
}

func newDecoder(file string, errs *ErrorList) *decoder {
	return &decoder{file: file, errs: errs, nodes: map[string]*yaml.Node{}}
}

// field decodes the value node n found at the field path.
type field func(n *yaml.Node, path string)

// errorf records a problem at node n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.file, Field: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	*d.errs = append(*d.errs, e)
}

// errorAt records a problem at the node of path, or of its nearest
// ancestor that was present (a missing field is reported at its parent).
func (d *decoder) errorAt(path, format string, args ...any) {
	d.errorf(d.at(path), path, format, args...)
}

// at finds the node of path, or of its nearest present ancestor.
func (d *decoder) at(path string) *yaml.Node {
	for {
		if n, ok := d.nodes[path]; ok {
			return n
		}
		if path == "" {
			return nil
		}
		path = parent(path)
	}
}

// parent strips the last segment: a.b[2] → a.b, a.b → a, a → "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit or implicit null ("key:" alone),
// which every field treats as absent.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mapping decodes a mapping node key by key, handing each value to its
// field. Keys without a field are unknown fields; repeated keys are errors.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]field) {
	n = resolve(n)
	d.nodes[path] = n
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, not %s", describe(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], resolve(n.Content[i+1])
		if key.Kind != yaml.ScalarNode {
			d.errorf(key, path, "keys must be strings, not %s", describe(key))
			continue
		}
		child := join(path, key.Value)
		if first, dup := seen[key.Value]; dup {
			d.errorf(key, child, "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[key.Value] = key
		decode, ok := fields[key.Value]
		if !ok {
			d.errorf(key, child, "unknown field; known fields are %s", known(fields))
			continue
		}
		d.nodes[child] = value
		decode(value, child)
	}
}

// fields returns a field that decodes a nested mapping.
func (d *decoder) fields(fields map[string]field) field {
	return func(n *yaml.Node, path string) { d.mapping(n, path, fields) }
}

// list returns a field that decodes a sequence, handing each item to each.
func (d *decoder) list(each field) field {
	return func(n *yaml.Node, path string) {
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "must be a list, not %s", describe(n))
			return
		}
		for i, item := range n.Content {
			item = resolve(item)
			p := index(path, i)
			d.nodes[p] = item
			each(item, p)
		}
	}
}

// str returns a field that decodes a string. Only YAML strings are
// accepted: an unquoted 8080 or true where a string belongs is an error
// rather than a silent conversion.
func (d *decoder) str(dst *string) field {
	return func(n *yaml.Node, path string) {
		if d.scalar(n, path, "!!str", "a string") {
			*dst = n.Value
		}
	}
}

// strs returns a field that decodes a list of strings.
func (d *decoder) strs(dst *[]string) field {
	return d.list(func(n *yaml.Node, path string) {
		var s string
		d.str(&s)(n, path)
		*dst = append(*dst, s)
	})
}

// ints returns a field that decodes a list of integers.
func (d *decoder) ints(dst *[]int) field {
	return d.list(func(n *yaml.Node, path string) {
		var v int
		var set bool
		d.integer(&v, &set)(n, path)
		*dst = append(*dst, v)
	})
}

// entries walks a mapping of free keys (not fields): each value is
// recorded at its path and handed to each. Non-string and repeated keys
// are errors. It reports false when n is null or not a mapping.
func (d *decoder) entries(n *yaml.Node, path string, each func(key string, value *yaml.Node, child string)) bool {
	if isNull(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, not %s", describe(n))
		return false
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], resolve(n.Content[i+1])
		if key.Kind != yaml.ScalarNode {
			d.errorf(key, path, "keys must be strings, not %s", describe(key))
			continue
		}
		child := join(path, key.Value)
		if first, dup := seen[key.Value]; dup {
			d.errorf(key, child, "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[key.Value] = key
		d.nodes[child] = value
		each(key.Value, value, child)
	}
	return true
}

// strMap returns a field that decodes a mapping of strings to strings.
func (d *decoder) strMap(dst *map[string]string) field {
	return func(n *yaml.Node, path string) {
		m := map[string]string{}
		if d.entries(n, path, func(key string, value *yaml.Node, child string) {
			if d.scalar(value, child, "!!str", "a string") {
				m[key] = value.Value
			}
		}) {
			*dst = m
		}
	}
}

// listMap returns a field that decodes a mapping of names to lists of
// strings, such as chat-ops groups.
func (d *decoder) listMap(dst *map[string][]string) field {
	return func(n *yaml.Node, path string) {
		m := map[string][]string{}
		if d.entries(n, path, func(key string, value *yaml.Node, child string) {
			var list []string
			d.strs(&list)(value, child)
			m[key] = list
		}) {
			*dst = m
		}
	}
}

// present wraps f to record whether its field was given a value, so a
// default can be told from an explicit false or []. Null counts as absent.
func present(set *bool, f field) field {
	return func(n *yaml.Node, path string) {
		if !isNull(n) {
			*set = true
		}
		f(n, path)
	}
}

// boolean returns a field that decodes true or false.
func (d *decoder) boolean(dst *bool) field {
	return func(n *yaml.Node, path string) {
		if d.scalar(n, path, "!!bool", "true or false") {
			if err := n.Decode(dst); err != nil {
				d.errorf(n, path, "must be true or false")
			}
		}
	}
}

// integer returns a field that decodes an integer, and records that it
// was set (so 0 can be told from absent).
func (d *decoder) integer(dst *int, set *bool) field {
	return func(n *yaml.Node, path string) {
		if d.scalar(n, path, "!!int", "an integer") {
			if err := n.Decode(dst); err != nil {
				d.errorf(n, path, "integer out of range")
				return
			}
			*set = true
		}
	}
}

// scalar checks that n is a scalar with the given tag; null is accepted as
// "absent" and reported as false without an error.
func (d *decoder) scalar(n *yaml.Node, path, tag, want string) bool {
	if isNull(n) {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		d.errorf(n, path, "must be %s, not %s", want, describe(n))
		return false
	}
	return true
}

// describe names what a node holds, for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch tag := n.ShortTag(); tag {
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a timestamp"
	default:
		return "a value tagged " + tag
	}
}

// known lists the field names of a mapping, for unknown-field errors.
func known(fields map[string]field) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
