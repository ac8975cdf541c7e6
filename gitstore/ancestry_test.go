package gitstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// mergeCommit writes, in r's cache only, a merge commit of parents (first
// parent first) with the first parent's tree.
func (r *Repo) mergeCommit(t *testing.T, parents ...string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	first, err := object.GetCommit(r.sto, plumbing.NewHash(parents[0]))
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "t", Email: "t@example.test", When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: "merge\n", TreeHash: first.TreeHash}
	for _, p := range parents {
		c.ParentHashes = append(c.ParentHashes, plumbing.NewHash(p))
	}
	obj := r.sto.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := r.sto.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestContains(t *testing.T) {
	ctx := t.Context()
	url := newRemote(t)
	r, other := open(t, url), open(t, url)
	c0 := r.Head()
	commit := func(repo *Repo, tag string) string {
		t.Helper()
		h, err := repo.Commit(ctx, "web "+tag, nil, writeWeb(tag))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	c1 := commit(r, "2")
	c2 := commit(r, "3")
	// A branch commit on c2: in the cache, but not on main.
	b1, err := r.CommitToBranch(ctx, "slipway/images/web", "web 9", nil, writeWeb("9"))
	if err != nil {
		t.Fatal(err)
	}
	// A merge of the branch into c1: c2 and b1 are only behind its second
	// parent.
	m := r.mergeCommit(t, c1, b1)
	// A commit another cache pushed, which r has not fetched yet.
	c3 := commit(other, "4")
	tree := r.commitTree(t, c2).String()
	unknown := strings.Repeat("ab", 20)

	tests := map[string]struct {
		rev, ancestor string
		want          bool
	}{
		"itself":                          {c2, c2, true},
		"parent":                          {c2, c1, true},
		"root":                            {c2, c0, true},
		"a descendant is not an ancestor": {c1, c2, false},
		"branch commit on main's head":    {c2, b1, false},
		"main head under the branch":      {b1, c2, true},
		"main root under the branch":      {b1, c0, true},
		"merge, first parent":             {m, c1, true},
		"merge, first parent's parent":    {m, c0, true},
		"merge, second parent":            {m, b1, false},
		"merge, behind the second parent": {m, c2, false},
		"not fetched yet, as rev":         {c3, c2, false},
		"not fetched yet, as ancestor":    {c2, c3, false},
		"unknown hash":                    {c2, unknown, false},
		"unknown rev":                     {unknown, c2, false},
		"a tree, not a commit":            {c2, tree, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := r.Contains(ctx, tc.rev, tc.ancestor)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Contains(%.7s, %.7s) = %v, want %v", tc.rev, tc.ancestor, got, tc.want)
			}
		})
	}

	// Contains does not fetch; once fetched, the other cache's commit is on
	// top of what this cache committed.
	if _, err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Contains(ctx, c3, c2); err != nil || !ok {
		t.Errorf("after fetch: Contains(c3, c2) = %v, %v; want true", ok, err)
	}

	for _, bad := range [][2]string{{"", c2}, {c2, "HEAD"}, {c2[:12], c2}} {
		if _, err := r.Contains(ctx, bad[0], bad[1]); err == nil {
			t.Errorf("Contains(%q, %q): no error for a non-hash", bad[0], bad[1])
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Contains(cctx, c2, c0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}
