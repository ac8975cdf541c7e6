package gitstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Contains reports whether ancestor is rev or a commit in rev's first-parent
// history; both are full commit hashes. It reads the local cache only and
// never fetches, so a caller asking "is the commit I deployed still on the
// branch (not force-pushed away), and is this head newer than it?" gets an
// answer as of the last fetch. A hash the cache does not have (never
// fetched, or not a commit) gives false and no error; only a failing object
// store is an error.
//
// Only first parents are followed, as in Log: a commit that reached the
// branch through the second parent of a merge is not "contained", since the
// branch never pointed at it.
func (r *Repo) Contains(ctx context.Context, rev, ancestor string) (bool, error) {
	op := fmt.Sprintf("contains %s in %s", ancestor, rev)
	if !plumbing.IsHash(rev) || !plumbing.IsHash(ancestor) {
		return false, r.errorf(op, errors.New("want full commit hashes"))
	}
	revH, ancH := plumbing.NewHash(rev), plumbing.NewHash(ancestor)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range []plumbing.Hash{revH, ancH} {
		if _, err := object.GetCommit(r.sto, h); err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, plumbing.ErrInvalidType) {
				return false, nil
			}
			return false, r.errorf(op, err)
		}
	}
	found := false
	err := r.walkFirstParent(ctx, revH, 0, func(c *object.Commit, _ *object.Tree) (bool, error) {
		found = c.Hash == ancH
		return !found, nil
	})
	if err != nil {
		return false, r.errorf(op, err)
	}
	return found, nil
}

// Parent returns the first parent of the commit rev (a full hash) from the
// local cache; a merge commit's first parent is the branch it merged into.
func (r *Repo) Parent(rev string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.resolveLocked(rev)
	if err != nil {
		return "", r.errorf("parent of "+rev, err)
	}
	if c.NumParents() == 0 {
		return "", r.errorf("parent of "+rev, errors.New("a root commit has no parent"))
	}
	return c.ParentHashes[0].String(), nil
}

// MergeBase returns a best common ancestor of the commits a and b (full
// hashes) from the local cache: what a pull request's head branched from,
// so its own changes can be told from those made on the base since.
func (r *Repo) MergeBase(a, b string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ca, err := r.resolveLocked(a)
	if err != nil {
		return "", r.errorf("merge base", err)
	}
	cb, err := r.resolveLocked(b)
	if err != nil {
		return "", r.errorf("merge base", err)
	}
	bases, err := ca.MergeBase(cb)
	if err != nil {
		return "", r.errorf("merge base", err)
	}
	if len(bases) == 0 {
		return "", r.errorf("merge base", fmt.Errorf("%.12s and %.12s share no history", a, b))
	}
	return bases[0].Hash.String(), nil
}

// Info describes the commit rev (a full hash) from the local cache.
func (r *Repo) Info(rev string) (CommitInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.resolveLocked(rev)
	if err != nil {
		return CommitInfo{}, r.errorf("commit "+rev, err)
	}
	return CommitInfo{
		Hash: c.Hash.String(), Message: c.Message,
		Author: Identity{Name: c.Author.Name, Email: c.Author.Email}, When: c.Author.When,
		Trailers: parseTrailers(c.Message),
	}, nil
}
