package forge

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

const more = "(continued in the next comment)"

func TestFit(t *testing.T) {
	tests := []struct {
		name string
		body string
		max  int
		more string
		want []string
	}{
		{
			name: "fits",
			body: "short\nbody\n",
			max:  100, more: more,
			want: []string{"short\nbody\n"},
		},
		{
			name: "no limit",
			body: strings.Repeat("x", 10),
			max:  0, more: more,
			want: []string{strings.Repeat("x", 10)},
		},
		{
			name: "exactly max",
			body: "0123456789",
			max:  10, more: "…",
			want: []string{"0123456789"},
		},
		{
			name: "at line boundaries",
			body: "aaaa\nbbbb\ncccc\ndddd\n",
			max:  13, more: "->",
			// "aaaa\n" + "\n->" is 8; adding "bbbb\n" makes 13.
			want: []string{"aaaa\nbbbb\n\n->", "cccc\ndddd\n"},
		},
		{
			name: "last line without newline",
			body: "aaaa\nbbbb\ncccc",
			max:  9, more: "->",
			want: []string{"aaaa\n\n->", "bbbb\ncccc"},
		},
		{
			name: "long line is cut",
			body: "0123456789abcdefghij",
			max:  8, more: "->",
			// A cut line gets a newline before the blank line: 4 bytes of tail.
			want: []string{"0123\n\n->", "4567\n\n->", "89ab\n\n->", "cdefghij"},
		},
		{
			name: "never inside a rune",
			body: "ééééé", // two bytes each
			max:  6, more: "-",
			// room is 6-3=3 bytes: one rune a part, until the rest fits.
			want: []string{"é\n\n-", "é\n\n-", "ééé"},
		},
		{
			name: "never inside a rune, odd room",
			body: "日本語の文", // three bytes each
			max:  8, more: ">",
			// room 8-3=5 bytes: one rune a part.
			want: []string{"日\n\n>", "本\n\n>", "語\n\n>", "の文"},
		},
		{
			name: "pointer too long for max",
			body: "abcdef",
			max:  3, more: "(continued)",
			want: []string{"abc", "def"},
		},
		{
			name: "max smaller than a rune",
			body: "日本",
			max:  2, more: "",
			want: []string{"日", "本"},
		},
		{
			name: "no pointer",
			body: "aaaa\nbbbb\ncccc\n",
			max:  10, more: "",
			want: []string{"aaaa\nbbbb\n", "cccc\n"},
		},
		{
			name: "fence closed and reopened",
			body: "intro\n```diff\n+a\n+b\n+c\n+d\n```\nend\n",
			max:  24, more: "->",
			want: []string{
				"intro\n```diff\n+a\n```\n\n->",
				"```diff\n+b\n+c\n+d\n```\n\n->",
				"end\n",
			},
		},
		{
			name: "fenced block moved whole to the next part",
			body: "intro text\n```\nx\ny\n```\nend\n",
			max:  24, more: "->",
			// The block (14 bytes) fits a part of its own: the first part
			// ends before it instead of closing it after "x".
			want: []string{"intro text\n\n->", "```\nx\ny\n```\nend\n"},
		},
		{
			name: "tilde fence",
			body: "~~~yaml\na: 1\nb: 2\nc: 3\n~~~\n",
			max:  22, more: ">",
			want: []string{"~~~yaml\na: 1\n~~~\n\n>", "~~~yaml\nb: 2\nc: 3\n~~~\n"},
		},
		{
			name: "backticks inside a tilde fence are text",
			body: "~~~\n```\n1\n2\n~~~\n",
			max:  15, more: ">",
			want: []string{"~~~\n```\n~~~\n\n>", "~~~\n1\n2\n~~~\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Fit(tt.body, tt.max, tt.more)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fit(%q, %d) (-want +got):\n%s", tt.body, tt.max, diff)
			}
			checkParts(t, got, tt.max)
		})
	}
}

// TestFitProperties splits a generated body at many sizes: every part is
// within max and valid UTF-8, every part's fences are balanced, and the
// parts' text (without pointers, fence lines and line breaks) is the body's.
func TestFitProperties(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		switch i % 7 {
		case 0:
			b.WriteString("```diff\n")
			for j := range i % 5 {
				b.WriteString("+ line ")
				b.WriteString(strings.Repeat("é", j*3))
				b.WriteByte('\n')
			}
			b.WriteString("```\n")
		case 3:
			b.WriteString(strings.Repeat("日本語", i) + "\n")
		default:
			b.WriteString("plain line number " + strings.Repeat("x", i) + "\n")
		}
	}
	body := b.String()
	for _, c := range []struct {
		more string
		from int
	}{{more, 80}, {"", 16}} {
		testFitProperties(t, body, c.more, c.from)
	}
}

func testFitProperties(t *testing.T, body, more string, from int) {
	for max := from; max < len(body)+10; max += 7 {
		parts := Fit(body, max, more)
		checkParts(t, parts, max)
		var text strings.Builder
		for i, p := range parts {
			if i < len(parts)-1 && more != "" {
				if !strings.HasSuffix(p, "\n\n"+more) {
					t.Errorf("max %d, part %d does not end with the pointer: %q", max, i, p)
				}
				p = strings.TrimSuffix(p, "\n"+more)
			}
			fences := 0
			for _, line := range strings.SplitAfter(p, "\n") {
				if strings.HasPrefix(line, "```") {
					fences++
				}
			}
			if fences%2 != 0 {
				t.Errorf("max %d, part %d has an unbalanced fence:\n%s", max, i, p)
			}
			text.WriteString(textOf(p))
		}
		if got, want := text.String(), textOf(body); got != want {
			t.Fatalf("max %d: the parts' text differs from the body's:\n%s", max, cmp.Diff(want, got))
		}
	}
}

// textOf is s without fence lines and line breaks.
func textOf(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(line, "```") {
			b.WriteString(strings.TrimSuffix(line, "\n"))
		}
	}
	return b.String()
}

func checkParts(t *testing.T, parts []string, max int) {
	t.Helper()
	for i, p := range parts {
		if max > 0 && len(p) > max && utf8.RuneCountInString(p) > 1 {
			t.Errorf("part %d is %d bytes, over %d: %q", i, len(p), max, p)
		}
		if !utf8.ValidString(p) {
			t.Errorf("part %d is not valid UTF-8: %q", i, p)
		}
		if p == "" {
			t.Errorf("part %d is empty", i)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		max     int
		pointer string
		want    string
	}{
		{"fits", "a\nb\n", 10, "…", "a\nb\n"},
		{"line boundary", "aaaa\nbbbb\ncccc\n", 12, "(cut)", "aaaa\n\n(cut)"},
		{"closes a fence", "```\n1\n2\n3\n4\n```\n", 14, "…", "```\n1\n```\n\n…"},
		{"long line cut on a rune", "ééééé\n", 7, "…", "é\n\n…"},
		{"no limit", "abc", -1, "…", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Truncate(tt.body, tt.max, tt.pointer)
			if got != tt.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.body, tt.max, got, tt.want)
			}
			if tt.max > 0 && len(got) > tt.max {
				t.Errorf("%d bytes, over %d", len(got), tt.max)
			}
			if !utf8.ValidString(got) {
				t.Errorf("not valid UTF-8: %q", got)
			}
		})
	}
}

func TestFenceState(t *testing.T) {
	var f fenceState
	steps := []struct {
		line string
		open bool
	}{
		{"text\n", false},
		{"```go\n", true},
		{"``\n", true},    // too short to close
		{"````\n", false}, // longer closes
		{"    ```\n", false},
		{"~~~~ yaml\n", true},
		{"~~~\n", true}, // shorter than the opening run
		{"~~~~~\n", false},
		{"```foo`bar\n", false}, // a backtick in the info string: not a fence
	}
	for _, s := range steps {
		f = f.after(s.line)
		if f.open() != s.open {
			t.Errorf("after %q: open = %v, want %v", s.line, f.open(), s.open)
		}
	}
}
