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
	if err := copyObjects(r.sto, remote, ref.Hash()); err != nil {
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
	if err := copyObjects(remote, r.sto, newH); err != nil {
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
func copyObjects(dst, src storer.EncodedObjectStorer, h plumbing.Hash) error {
	seen := map[plumbing.Hash]bool{}
	var visit func(h plumbing.Hash) error
	visit = func(h plumbing.Hash) error {
		if seen[h] {
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
			if err := visit(c.TreeHash); err != nil {
				return err
			}
			for _, p := range c.ParentHashes {
				if err := visit(p); err != nil {
					return err
				}
			}
		case plumbing.TreeObject:
			t, err := object.DecodeTree(src, obj)
			if err != nil {
				return err
			}
			for _, e := range t.Entries {
				if e.Mode == filemode.Submodule {
					continue
				}
				if err := visit(e.Hash); err != nil {
					return err
				}
			}
		case plumbing.TagObject:
			t, err := object.DecodeTag(src, obj)
			if err != nil {
				return err
			}
			if err := visit(t.Target); err != nil {
				return err
			}
		}
		_, err = dst.SetEncodedObject(obj)
		return err
	}
	return visit(h)
}
