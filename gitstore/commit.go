package gitstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Trailer is a "Key: Value" line at the end of a commit message, e.g.
// {"Slipway-Execution", "01H…"}; it names why a commit was made, so a retried
// step can find the commit it already made.
type Trailer struct{ Key, Value string }

// CommitInfo describes one commit, as Log returns it.
type CommitInfo struct {
	Hash     string
	Message  string // the full message, trailers included
	Author   Identity
	When     time.Time // author time
	Trailers []Trailer
}

// maxAttempts bounds how often Commit re-applies a change on a moved head.
const maxAttempts = 11

// Commit fetches the branch, applies change to the head tree, commits the
// result (author and committer are Options.Author; the message is msg, a
// blank line and the trailers) and pushes it only if the remote branch is
// still at the head it started from. If the head moved, it fetches and starts
// over, up to 10 attempts with jittered backoff, then fails with ErrConflict.
// It returns the new commit's hash. If change leaves the tree as it was, it
// returns the current head and ErrNoChange and pushes nothing.
func (r *Repo) Commit(ctx context.Context, msg string, trailers []Trailer, change Change) (string, error) {
	message, err := formatMessage(msg, trailers)
	if err != nil {
		return "", r.errorf("commit", err)
	}
	r.commitMu.Lock()
	defer r.commitMu.Unlock()

	for attempt := 1; ; attempt++ {
		// The first attempt builds on the last fetched head without fetching:
		// the push is compare-and-swap, so a stale head only costs a retry,
		// and the common case saves a round trip to the remote.
		h, retry, err := r.commitOnce(ctx, message, change, attempt > 1)
		if !retry {
			return h, err
		}
		if attempt == maxAttempts {
			return "", r.errorf("commit", fmt.Errorf("%w after %d attempts", ErrConflict, attempt))
		}
		// Full jitter around an exponential step: 20ms, 40ms, … capped at 1s.
		step := min(20*time.Millisecond<<(attempt-1), time.Second)
		t := time.NewTimer(step/2 + rand.N(step/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", r.errorf("commit", ctx.Err())
		case <-t.C:
		}
	}
}

// commitOnce makes one attempt; retry reports that the head moved under it.
func (r *Repo) commitOnce(ctx context.Context, message string, change Change, fetch bool) (hash string, retry bool, err error) {
	r.mu.Lock()
	head := r.head.Load().(plumbing.Hash)
	fetched := fetch || head.IsZero()
	if fetched {
		head, err = r.fetchLocked(ctx)
	}
	var base *object.Tree
	if err == nil && !head.IsZero() {
		base, err = r.treeOf(head)
	}
	r.mu.Unlock()
	if err != nil {
		return "", false, err
	}

	// The change runs without r.mu: its Worktree takes the lock per read.
	w := &Worktree{r: r, base: base, edits: map[string]*edit{}}
	if err := change(w); err != nil {
		return "", false, r.errorf("commit: change", err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	treeHash, err := w.build()
	if err != nil {
		return "", false, r.errorf("commit: build tree", err)
	}
	if base != nil && treeHash == base.Hash || base == nil && len(w.edits) == 0 {
		if !fetched {
			return "", true, nil // "nothing to do" must be judged on the remote's head
		}
		return hashString(head), false, ErrNoChange
	}
	c, err := r.writeCommit(message, treeHash, head)
	if err != nil {
		return "", false, r.errorf("commit: write", err)
	}
	pushErr := r.pushLocked(ctx, c, head)
	if pushErr == nil {
		return c.String(), false, nil
	}
	// Decide by fact, not by error text, whether the head moved: look again.
	now, err := r.fetchLocked(ctx)
	switch {
	case err != nil:
		return "", false, r.errorf("push", fmt.Errorf("%w (and fetch after it: %v)", pushErr, err))
	case now == c:
		return c.String(), false, nil // pushed after all; the error came late
	case now != head:
		return "", true, nil
	}
	return "", false, r.errorf("push", pushErr)
}

func (r *Repo) treeOf(h plumbing.Hash) (*object.Tree, error) {
	c, err := object.GetCommit(r.sto, h)
	if err != nil {
		return nil, r.errorf("commit "+h.String(), err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, r.errorf("tree of "+h.String(), err)
	}
	return t, nil
}

func (r *Repo) writeCommit(message string, tree, parent plumbing.Hash) (plumbing.Hash, error) {
	sig := object.Signature{Name: r.author.Name, Email: r.author.Email, When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: tree}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	obj := r.sto.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.sto.SetEncodedObject(obj)
}

var trailerKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

// formatMessage joins msg and the trailers the way git interpret-trailers
// would read them back.
func formatMessage(msg string, trailers []Trailer) (string, error) {
	msg = strings.TrimRight(msg, " \t\r\n")
	if strings.TrimSpace(msg) == "" {
		return "", errors.New("empty commit message")
	}
	var b strings.Builder
	b.WriteString(msg)
	b.WriteString("\n")
	for i, t := range trailers {
		if !trailerKey.MatchString(t.Key) {
			return "", fmt.Errorf("invalid trailer key %q", t.Key)
		}
		v := strings.TrimSpace(t.Value)
		if v == "" || strings.ContainsAny(v, "\r\n") {
			return "", fmt.Errorf("invalid value for trailer %s: %q", t.Key, t.Value)
		}
		if i == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s: %s\n", t.Key, v)
	}
	return b.String(), nil
}

// parseTrailers returns the trailers of a message: its last paragraph, if it
// is not the only one and every line of it is "Key: Value".
func parseTrailers(message string) []Trailer {
	m := strings.TrimRight(message, " \t\r\n")
	i := strings.LastIndex(m, "\n\n")
	if i < 0 {
		return nil
	}
	var out []Trailer
	for _, line := range strings.Split(m[i+2:], "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !trailerKey.MatchString(k) {
			return nil
		}
		out = append(out, Trailer{Key: k, Value: strings.TrimSpace(v)})
	}
	return out
}

// FindCommitWithTrailer fetches, then searches the first-parent history from
// the head, at most depth commits (all if depth <= 0), for a commit whose
// trailers include key: value (key compared case-insensitively, as git does).
// A step that is retried after a crash uses it to find the commit it already
// made instead of making it twice.
func (r *Repo) FindCommitWithTrailer(ctx context.Context, key, value string, depth int) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.fetchLocked(ctx)
	if err != nil {
		return "", false, err
	}
	found := ""
	err = r.walkFirstParent(ctx, head, depth, func(c *object.Commit, _ *object.Tree) (bool, error) {
		for _, t := range parseTrailers(c.Message) {
			if strings.EqualFold(t.Key, key) && t.Value == value {
				found = c.Hash.String()
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return "", false, r.errorf("find trailer "+key, err)
	}
	return found, found != "", nil
}

// Log returns up to n (all if n <= 0) commits of the first-parent history
// from the last fetched head that changed path (a file or a directory; "" or
// "." for any change), newest first. It does not fetch.
func (r *Repo) Log(ctx context.Context, p string, n int) ([]CommitInfo, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		p = "."
	}
	if !fs.ValidPath(p) {
		return nil, r.errorf("log", &fs.PathError{Op: "log", Path: p, Err: fs.ErrInvalid})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []CommitInfo
	err := r.walkFirstParent(ctx, r.head.Load().(plumbing.Hash), 0, func(c *object.Commit, parent *object.Tree) (bool, error) {
		tree, err := c.Tree()
		if err != nil {
			return false, err
		}
		if entryHash(tree, p) != entryHash(parent, p) {
			out = append(out, CommitInfo{
				Hash:     c.Hash.String(),
				Message:  c.Message,
				Author:   Identity{Name: c.Author.Name, Email: c.Author.Email},
				When:     c.Author.When,
				Trailers: parseTrailers(c.Message),
			})
		}
		return n <= 0 || len(out) < n, nil
	})
	if err != nil {
		return nil, r.errorf("log "+p, err)
	}
	return out, nil
}

// entryHash is the hash of what p names in t (zero if absent); "." is t.
func entryHash(t *object.Tree, p string) plumbing.Hash {
	if t == nil {
		return plumbing.ZeroHash
	}
	if p == "." {
		return t.Hash
	}
	e, err := t.FindEntry(p)
	if err != nil {
		return plumbing.ZeroHash
	}
	return e.Hash
}

// walkFirstParent calls fn for each commit from h along first parents, with
// the first parent's tree (nil for a root commit), until fn says stop or max
// commits (all if max <= 0) were seen. r.mu must be held.
func (r *Repo) walkFirstParent(ctx context.Context, h plumbing.Hash, max int, fn func(*object.Commit, *object.Tree) (bool, error)) error {
	if h.IsZero() {
		return nil
	}
	c, err := object.GetCommit(r.sto, h)
	if err != nil {
		return err
	}
	for i := 0; max <= 0 || i < max; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var parent *object.Commit
		var parentTree *object.Tree
		if len(c.ParentHashes) > 0 {
			if parent, err = object.GetCommit(r.sto, c.ParentHashes[0]); err != nil {
				return err
			}
			if parentTree, err = parent.Tree(); err != nil {
				return err
			}
		}
		more, err := fn(c, parentTree)
		if err != nil || !more || parent == nil {
			return err
		}
		c = parent
	}
	return nil
}

// ChangedPaths lists the files added, modified or deleted between commits
// from and to (to "" is the head; from "" means every file in to), sorted.
func (r *Repo) ChangedPaths(ctx context.Context, from, to string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op := fmt.Sprintf("changed paths %s..%s", from, to)
	toC, err := r.resolveLocked(to)
	if err != nil {
		return nil, r.errorf(op, err)
	}
	toT, err := toC.Tree()
	if err != nil {
		return nil, r.errorf(op, err)
	}
	set := map[string]bool{}
	if from == "" {
		err = walkTree(r.sto, toT, "", func(p string, _ object.TreeEntry) error {
			set[p] = true
			return nil
		})
	} else {
		var fromC *object.Commit
		var fromT *object.Tree
		var changes object.Changes
		if fromC, err = r.resolveLocked(from); err == nil {
			if fromT, err = fromC.Tree(); err == nil {
				changes, err = object.DiffTreeWithOptions(ctx, fromT, toT, nil)
			}
		}
		for _, ch := range changes {
			for _, name := range []string{ch.From.Name, ch.To.Name} {
				if name != "" {
					set[name] = true
				}
			}
		}
	}
	if err != nil {
		return nil, r.errorf(op, err)
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}
