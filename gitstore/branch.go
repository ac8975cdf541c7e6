package gitstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// CommitToBranch fetches the main branch (the one the Repo was opened for),
// applies change to the main head's tree, writes a commit whose only parent
// is the main head and force-updates branch on the remote to it. The branch
// is thus always exactly one commit ahead of main and is replaced in place by
// each newer change, so a burst of changes coalesces into one branch (one
// pull request). It returns the branch's commit hash.
//
// If change leaves main's tree as it was, it returns "" and ErrNoChange and
// leaves the branch alone. If the branch already holds a commit with the same
// tree on the same main head, it returns that commit's hash and ErrNoChange
// and pushes nothing, so a redelivered change is a no-op.
func (r *Repo) CommitToBranch(ctx context.Context, branch, msg string, trailers []Trailer, change Change) (string, error) {
	op := "commit to branch " + branch
	ref := plumbing.NewBranchReferenceName(branch)
	if branch == "" {
		return "", r.errorf("commit to branch", errors.New("branch name is required"))
	}
	if err := ref.Validate(); err != nil {
		return "", r.errorf(op, fmt.Errorf("invalid branch name: %w", err))
	}
	if ref == r.branchRef {
		return "", r.errorf(op, errors.New("refusing to force-push the main branch"))
	}
	message, err := formatMessage(msg, trailers)
	if err != nil {
		return "", r.errorf(op, err)
	}
	// Writers of this Repo queue, as for Commit.
	r.commitMu.Lock()
	defer r.commitMu.Unlock()

	r.mu.Lock()
	head, err := r.fetchLocked(ctx)
	var base *object.Tree
	if err == nil {
		if head.IsZero() {
			err = r.errorf(op, errors.New("main branch has no commits yet"))
		} else {
			base, err = r.treeOf(head)
		}
	}
	r.mu.Unlock()
	if err != nil {
		return "", err
	}

	// The change runs without r.mu: its Worktree takes the lock per read.
	w := &Worktree{r: r, base: base, edits: map[string]*edit{}}
	if err := change(w); err != nil {
		return "", r.errorf(op+": change", err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	treeHash, err := w.build()
	if err != nil {
		return "", r.errorf(op+": build tree", err)
	}
	if treeHash == base.Hash {
		return "", ErrNoChange
	}
	cur, err := r.fetchBranchLocked(ctx, ref)
	if err != nil {
		return "", r.errorf(op+": fetch", err)
	}
	if cur != nil && cur.TreeHash == treeHash && len(cur.ParentHashes) == 1 && cur.ParentHashes[0] == head {
		return cur.Hash.String(), ErrNoChange
	}
	c, err := r.writeCommit(message, treeHash, head)
	if err != nil {
		return "", r.errorf(op+": write", err)
	}
	if err := r.forcePushLocked(ctx, ref, c, head); err != nil {
		return "", r.errorf(op+": push", err)
	}
	return c.String(), nil
}

// branchTrackRef is where the cache keeps the last seen head of branch.
func branchTrackRef(ref plumbing.ReferenceName) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(remoteName, ref.Short())
}

// fetchBranchLocked returns the remote's head commit of ref, fetched into
// the cache, or nil if the remote has no such branch. r.mu must be
// held.
func (r *Repo) fetchBranchLocked(ctx context.Context, ref plumbing.ReferenceName) (*object.Commit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	track := branchTrackRef(ref)
	var h plumbing.Hash
	if r.localDir != "" {
		unlock := lockLocal(r.localDir)
		remote := openLocal(r.localDir)
		rr, err := storer.ResolveReference(remote, ref)
		switch {
		case errors.Is(err, plumbing.ErrReferenceNotFound):
		case err != nil:
		default:
			// Copy its closure (cheap: it is one commit ahead of a main
			// head the cache has), so the cache keeps every object's
			// closure and Tree can read the branch.
			h = rr.Hash()
			have := r.head.Load().(plumbing.Hash)
			if err = copyObjects(r.sto, remote, h, have); err == nil {
				err = r.sto.SetReference(plumbing.NewHashReference(track, h))
			}
		}
		remote.Close()
		unlock()
		if err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil, err
		}
	} else {
		rem, err := r.repo.Remote(remoteName)
		if err != nil {
			return nil, err
		}
		err = rem.FetchContext(ctx, &git.FetchOptions{
			RemoteName: remoteName,
			RefSpecs:   []config.RefSpec{config.RefSpec("+" + ref.String() + ":" + track.String())},
			Auth:       r.auth,
			Tags:       git.NoTags,
			Force:      true,
		})
		switch {
		case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
			tr, err := r.sto.Reference(track)
			if err != nil {
				return nil, err
			}
			h = tr.Hash()
		case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		default:
			return nil, err
		}
	}
	if h.IsZero() {
		if err := r.sto.RemoveReference(track); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return object.GetCommit(r.sto, h)
}

// forcePushLocked sets ref on the remote to commit newH, whatever it was,
// and records it in the cache. base is the commit newH was built on, which
// the remote has. r.mu must be held.
func (r *Repo) forcePushLocked(ctx context.Context, ref plumbing.ReferenceName, newH, base plumbing.Hash) error {
	if r.localDir != "" {
		unlock := lockLocal(r.localDir)
		remote := openLocal(r.localDir)
		err := copyObjects(remote, r.sto, newH, base)
		if err != nil {
			err = fmt.Errorf("copy objects: %w", err)
		} else {
			err = remote.SetReference(plumbing.NewHashReference(ref, newH))
		}
		remote.Close()
		unlock()
		if err != nil {
			return err
		}
	} else {
		err := r.repo.PushContext(ctx, &git.PushOptions{
			RemoteName: remoteName,
			RefSpecs:   []config.RefSpec{config.RefSpec("+" + newH.String() + ":" + ref.String())},
			Auth:       r.auth,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return err
		}
	}
	return r.sto.SetReference(plumbing.NewHashReference(branchTrackRef(ref), newH))
}

// FetchBranch fetches another branch of the remote, such as a pull
// request's head, into the cache and returns its head commit, so that Tree
// can read it. A missing branch is an error wrapping fs.ErrNotExist.
func (r *Repo) FetchBranch(ctx context.Context, branch string) (string, error) {
	op := "fetch branch " + branch
	ref := plumbing.NewBranchReferenceName(branch)
	if err := ref.Validate(); err != nil || branch == "" {
		return "", r.errorf(op, fmt.Errorf("invalid branch name %q", branch))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.fetchBranchLocked(ctx, ref)
	if err != nil {
		return "", r.errorf(op, err)
	}
	if c == nil {
		return "", r.errorf(op, fs.ErrNotExist)
	}
	return c.Hash.String(), nil
}
