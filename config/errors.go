package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in the config repo, pinned to where it was found so
// that a person (or a pull request comment) can go straight to the line.
type Error struct {
	File   string // repo-relative, slash-separated, e.g. accounts/local.yaml
	Line   int    // 1-based; 0 when the problem concerns the file as a whole
	Column int    // 1-based; 0 when unknown
	Field  string // field path such as spec.targets[1].account; empty for file-level problems
	Msg    string
}

// Error formats the problem as "file:line:column: field: message", leaving
// out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one load, so a user fixes them all in
// one round instead of one per push.
type ErrorList []*Error

// Error joins the problems, one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sort orders problems by file, then position; problems at the same place
// keep the order in which they were found.
func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}
