package gitstore

import (
	"errors"
	"fmt"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Local remotes are read and written directly through go-git's storage rather
// than through its file transport: that transport runs the git-upload-pack
// and git-receive-pack binaries, and go-git's in-process receive-pack server
// does not check a ref's old value, which would lose concurrent updates.
// Here the ref is swapped with CheckAndSetReference, which locks the ref file
// and compares the old value, and a process-wide lock per remote keeps this
// process's readers off a ref file while it is being rewritten.

var localLocks sync.Map // git dir -> *sync.Mutex

func lockLocal(dir string) func() {
	m, _ := localLocks.LoadOrStore(dir, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func openLocal(dir string) *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
}

// localFetch copies the branch head and whatever it needs into the cache and
// updates the tracking ref. Must be called with r.mu held.
func (r *Repo) localFetch() (plumbing.Hash, error) {
	unlock := lockLocal(r.localDir)
	defer unlock()
	remote := openLocal(r.localDir)
	defer remote.Close()

	ref, err := storer.ResolveReference(remote, r.branchRef)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		if err := r.sto.RemoveReference(r.trackRef); err != nil {
			return plumbing.ZeroHash, err
		}
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	// The cache has the closure of the head it tracks: objects are copied
	// before the tracking ref moves.
	have := plumbing.ZeroHash
	if cur, err := r.sto.Reference(r.trackRef); err == nil && cur.Type() == plumbing.HashReference {
		have = cur.Hash()
	}
	if err := copyObjects(r.sto, remote, ref.Hash(), have); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("copy objects: %w", err)
	}
	if err := r.sto.SetReference(plumbing.NewHashReference(r.trackRef, ref.Hash())); err != nil {
		return plumbing.ZeroHash, err
	}
	return ref.Hash(), nil
}

// localPush copies commit newH and its closure to the remote and moves the
// branch from old to newH, or fails with errHeadMoved. Must be called with
// r.mu held.
func (r *Repo) localPush(newH, old plumbing.Hash) error {
	unlock := lockLocal(r.localDir)
	defer unlock()
	remote := openLocal(r.localDir)
	defer remote.Close()

	cur, err := remote.Reference(r.branchRef)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if !old.IsZero() {
			return errHeadMoved
		}
	case err != nil:
		return err
	case cur.Type() != plumbing.HashReference || cur.Hash() != old:
		return errHeadMoved
	}
	// The remote's branch is at old, so it has old's closure.
	if err := copyObjects(remote, r.sto, newH, old); err != nil {
		return fmt.Errorf("copy objects: %w", err)
	}
	var oldRef *plumbing.Reference
	if !old.IsZero() {
		oldRef = plumbing.NewHashReference(r.branchRef, old)
	}
	err = remote.CheckAndSetReference(plumbing.NewHashReference(r.branchRef, newH), oldRef)
	if errors.Is(err, storage.ErrReferenceHasChanged) {
		return errHeadMoved
	}
	return err
}

// copyObjects copies object h and everything it reaches from src to dst,
// skipping what dst already has. Objects are written children first, so an
// object present in dst always has its closure there too, even after a crash.
//
// have, unless zero, is a commit that dst has (with its closure, then), as
// the branch head h was built on or fetched after. h's tree is compared with
// have's tree path by path and an entry with the hash it has there is
// skipped unchecked, so a commit that changes a few files costs a few
// objects per directory on their paths, not one lookup per entry of every
// directory it rewrites.
func copyObjects(dst, src storer.EncodedObjectStorer, h, have plumbing.Hash) error {
	if !have.IsZero() && dst.HasEncodedObject(have) != nil {
		have = plumbing.ZeroHash // not there after all: check everything
	}
	// peerTree returns the tree at the same place in have, read from dst, or
	// nil if there is none (or it cannot be read: then nothing is skipped).
	peerTree := func(peer plumbing.Hash) *object.Tree {
		if peer.IsZero() {
			return nil
		}
		t, err := object.GetTree(dst, peer)
		if err != nil {
			return nil
		}
		return t
	}
	haveTree := plumbing.ZeroHash
	if !have.IsZero() {
		if c, err := object.GetCommit(dst, have); err == nil {
			haveTree = c.TreeHash
		}
	}
	seen := map[plumbing.Hash]bool{}
	// visit copies h; peer is the hash at the same place in have (zero if
	// unknown), which dst has.
	var visit func(h, peer plumbing.Hash) error
	visit = func(h, peer plumbing.Hash) error {
		if seen[h] || h == peer {
			return nil
		}
		seen[h] = true
		if dst.HasEncodedObject(h) == nil {
			return nil
		}
		obj, err := src.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("object %s: %w", h, err)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(src, obj)
			if err != nil {
				return err
			}
			if err := visit(c.TreeHash, haveTree); err != nil {
				return err
			}
			for _, p := range c.ParentHashes {
				if err := visit(p, have); err != nil {
					return err
				}
			}
		case plumbing.TreeObject:
			t, err := object.DecodeTree(src, obj)
			if err != nil {
				return err
			}
			var peers map[string]plumbing.Hash
			if pt := peerTree(peer); pt != nil {
				peers = make(map[string]plumbing.Hash, len(pt.Entries))
				for _, e := range pt.Entries {
					peers[e.Name] = e.Hash
				}
			}
			for _, e := range t.Entries {
				if e.Mode == filemode.Submodule {
					continue
				}
				if err := visit(e.Hash, peers[e.Name]); err != nil {
					return err
				}
			}
		case plumbing.TagObject:
			t, err := object.DecodeTag(src, obj)
			if err != nil {
				return err
			}
			if err := visit(t.Target, plumbing.ZeroHash); err != nil {
				return err
			}
		}
		_, err = dst.SetEncodedObject(obj)
		return err
	}
	return visit(h, plumbing.ZeroHash)
}
