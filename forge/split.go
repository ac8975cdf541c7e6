package forge

import (
	"strings"
	"unicode/utf8"
)

// Fit splits a comment body into parts of at most max bytes each, for a
// forge that takes no more than max (see Forge.MaxCommentSize). Parts end
// at line boundaries where a line fits; a line longer than a whole part is
// cut, never inside a UTF-8 sequence. Each part but the last ends with a
// blank line and more ("(continued in the next comment)"). A fenced code
// block (``` or ~~~) is kept whole in one part when it fits in one, else
// it is closed at the end of a part and opened again, with its info string,
// at the start of the next. A body within max is returned as it is; max <= 0
// means no limit. Only when max is too small for more or for the fences are
// they left out, and a part is never empty (max smaller than one rune gives
// parts of one rune).
func Fit(body string, max int, more string) []string {
	if max <= 0 || len(body) <= max {
		return []string{body}
	}
	var (
		parts      []string
		cur        strings.Builder
		fence      fenceState // open at the end of cur
		prefixLen  int        // the reopened fence that starts cur
		blockStart = -1       // offset in body of the open fence's first line, if in cur
		blockCur   int        // len(cur) before that line
	)
	flush := func(tail string) {
		parts = append(parts, cur.String()+tail)
		cur.Reset()
		prefixLen, blockStart = 0, -1
		if fence.open() {
			cur.WriteString(fence.line)
			cur.WriteByte('\n')
			prefixLen = cur.Len()
		}
	}
	for off := 0; off < len(body); {
		if cur.Len()+len(body)-off <= max { // the rest fits: the last part
			cur.WriteString(body[off:])
			break
		}
		line := nextLine(body, off)
		after := fence.after(line)
		if cur.Len()+len(line)+len(partTail(more, after, true)) <= max {
			if !fence.open() && after.open() {
				blockStart, blockCur = off, cur.Len()
			}
			cur.WriteString(line)
			fence = after
			off += len(line)
			continue
		}
		// The line does not fit in this part.
		if fence.open() && blockStart >= 0 && blockCur > prefixLen {
			// A block opened in this part after other text: if it fits in a
			// part of its own, end this part before it rather than in it.
			if n := blockLen(body, blockStart); n+len(partTail(more, fenceState{}, true)) <= max {
				s := cur.String()[:blockCur]
				cur.Reset()
				cur.WriteString(s)
				fence, off = fenceState{}, blockStart
				flush(partTail(more, fence, strings.HasSuffix(s, "\n")))
				continue
			}
		}
		if cur.Len() > prefixLen {
			flush(partTail(more, fence, true))
			continue
		}
		// A line longer than a part: cut it.
		tail := partTail(more, fence, false)
		room := max - cur.Len() - len(tail)
		if room < firstRuneLen(line) && prefixLen > 0 {
			// No room beside the reopened fence: go on without fences.
			cur.Reset()
			prefixLen, fence = 0, fenceState{}
			tail = partTail(more, fence, false)
			room = max - len(tail)
		}
		if room < firstRuneLen(line) { // no room for more either
			tail, room = "", max
		}
		n := cutAt(line, room)
		cur.WriteString(line[:n])
		off += n
		if off < len(body) {
			flush(tail)
		}
	}
	if cur.Len() > 0 || len(parts) == 0 {
		parts = append(parts, cur.String())
	}
	return parts
}

// Truncate cuts body to at most max bytes, as the first part of Fit: at a
// line boundary where one fits, closing an open fenced block, and ending
// with a blank line and pointer ("(truncated; the full plan is at …)").
// A body within max is returned as it is; max <= 0 means no limit.
func Truncate(body string, max int, pointer string) string {
	return Fit(body, max, pointer)[0]
}

// fenceState is whether a fenced code block is open, and how it opened.
type fenceState struct {
	line   string // the opening line, without its newline ("```diff")
	marker string // its run of backticks or tildes ("```")
}

func (f fenceState) open() bool { return f.marker != "" }

// after is the state after line.
func (f fenceState) after(line string) fenceState {
	s := strings.TrimRight(line, "\r\n")
	t := strings.TrimLeft(s, " ")
	if len(s)-len(t) > 3 {
		return f // indented code, not a fence
	}
	if f.open() {
		c := f.marker[0]
		n := 0
		for n < len(t) && t[n] == c {
			n++
		}
		if n >= len(f.marker) && strings.TrimSpace(t[n:]) == "" {
			return fenceState{}
		}
		return f
	}
	for _, c := range []byte{'`', '~'} {
		n := 0
		for n < len(t) && t[n] == c {
			n++
		}
		if n >= 3 && (c == '~' || !strings.Contains(t[n:], "`")) {
			return fenceState{line: s, marker: t[:n]}
		}
	}
	return f
}

// partTail is what ends a part that is not the last: the closing fence of
// an open block, then a blank line and more. endsNL says whether the
// part's text ends with a newline.
func partTail(more string, f fenceState, endsNL bool) string {
	var b strings.Builder
	if f.open() {
		if !endsNL {
			b.WriteByte('\n')
		}
		b.WriteString(f.marker)
		b.WriteByte('\n')
		endsNL = true
	}
	if more != "" {
		if !endsNL {
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
		b.WriteString(more)
	}
	return b.String()
}

// nextLine is the line of body at off, with its newline.
func nextLine(body string, off int) string {
	if i := strings.IndexByte(body[off:], '\n'); i >= 0 {
		return body[off : off+i+1]
	}
	return body[off:]
}

// blockLen is the length of the fenced block whose opening line is at off,
// through its closing line (or the end of body).
func blockLen(body string, off int) int {
	var f fenceState
	for i := off; i < len(body); {
		line := nextLine(body, i)
		f = f.after(line)
		i += len(line)
		if !f.open() {
			return i - off
		}
	}
	return len(body) - off
}

// cutAt is the longest prefix of s of at most n bytes that ends on a rune
// boundary, but never less than the first rune.
func cutAt(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n == 0 {
		return firstRuneLen(s)
	}
	return n
}

func firstRuneLen(s string) int {
	if s == "" {
		return 0
	}
	_, n := utf8.DecodeRuneInString(s)
	return n
}
