package gitstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Change applies an edit to the head tree. Commit calls it again on a fresh
// head after a conflict, so it must be a pure function of what it reads from
// the Worktree (and of values it captured), and it must not call the Repo.
type Change func(w *Worktree) error

// Worktree is an in-memory view of the head tree that a Change edits. Edits
// are kept in memory until Commit turns them into tree objects. Paths are
// slash-separated and relative to the repo root, as in io/fs. A Worktree is
// for the one Change it is given to; it is not safe for concurrent use.
type Worktree struct {
	r     *Repo
	base  *object.Tree // nil on a branch without commits
	edits map[string]*edit
}

type edit struct {
	data    []byte
	deleted bool
}

// ReadFile returns the current content of the file at p.
func (w *Worktree) ReadFile(p string) ([]byte, error) {
	if err := checkPath("read", p); err != nil {
		return nil, err
	}
	if e, ok := w.edits[p]; ok {
		if e.deleted {
			return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
		}
		return append([]byte(nil), e.data...), nil
	}
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	entry := w.baseEntry(p)
	if entry == nil || !isFileMode(entry.Mode) {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	}
	data, err := readBlob(w.r.sto, entry.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: err}
	}
	return data, nil
}

// WriteFile creates or replaces the file at p, creating parent directories as
// needed. It fails if p is a directory or a parent of p is a file.
func (w *Worktree) WriteFile(p string, data []byte) error {
	if err := checkPath("write", p); err != nil {
		return err
	}
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if w.isFile(d) {
			return &fs.PathError{Op: "write", Path: p, Err: fmt.Errorf("parent %s is a file", d)}
		}
	}
	if w.isDir(p) {
		return &fs.PathError{Op: "write", Path: p, Err: errors.New("is a directory")}
	}
	w.edits[p] = &edit{data: append([]byte{}, data...)}
	return nil
}

// Remove deletes the file at p, or everything under p if it is a directory.
func (w *Worktree) Remove(p string) error {
	if err := checkPath("remove", p); err != nil {
		return err
	}
	switch {
	case w.isFile(p):
		w.edits[p] = &edit{deleted: true}
	case w.isDir(p):
		for _, f := range w.filesUnder(p) {
			w.edits[f] = &edit{deleted: true}
		}
	default:
		return &fs.PathError{Op: "remove", Path: p, Err: fs.ErrNotExist}
	}
	return nil
}

// Exists reports whether p is a file or a non-empty directory.
func (w *Worktree) Exists(p string) bool {
	if p == "." {
		return true
	}
	if !fs.ValidPath(p) {
		return false
	}
	return w.isFile(p) || w.isDir(p)
}

func checkPath(op, p string) error {
	if !fs.ValidPath(p) || p == "." {
		return &fs.PathError{Op: op, Path: p, Err: fs.ErrInvalid}
	}
	return nil
}

// baseEntry looks p up in the base tree; r.mu must be held.
func (w *Worktree) baseEntry(p string) *object.TreeEntry {
	if w.base == nil {
		return nil
	}
	e, err := w.base.FindEntry(p)
	if err != nil {
		return nil
	}
	return e
}

func (w *Worktree) isFile(p string) bool {
	if e, ok := w.edits[p]; ok {
		return !e.deleted
	}
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	e := w.baseEntry(p)
	return e != nil && e.Mode != filemode.Dir
}

func (w *Worktree) isDir(p string) bool {
	return len(w.filesUnder(p)) > 0
}

// filesUnder lists the files that currently exist below directory p.
func (w *Worktree) filesUnder(p string) []string {
	prefix := p + "/"
	var out []string
	for f, e := range w.edits {
		if !e.deleted && strings.HasPrefix(f, prefix) {
			out = append(out, f)
		}
	}
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	e := w.baseEntry(p)
	if e == nil || e.Mode != filemode.Dir {
		return out
	}
	t, err := object.GetTree(w.r.sto, e.Hash)
	if err != nil {
		return out
	}
	_ = walkTree(w.r.sto, t, p, func(f string, _ object.TreeEntry) error {
		if _, edited := w.edits[f]; !edited {
			out = append(out, f)
		}
		return nil
	})
	return out
}

// build writes the edited tree's objects and returns the root tree hash;
// r.mu must be held.
func (w *Worktree) build() (plumbing.Hash, error) {
	files := map[string]leaf{}
	if w.base != nil {
		err := walkTree(w.r.sto, w.base, "", func(p string, e object.TreeEntry) error {
			files[p] = leaf{hash: e.Hash, mode: e.Mode}
			return nil
		})
		if err != nil {
			return plumbing.ZeroHash, err
		}
	}
	for p, e := range w.edits {
		if e.deleted {
			delete(files, p)
			continue
		}
		h, err := writeBlob(w.r.sto, e.data)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		mode := filemode.Regular
		if old, ok := files[p]; ok && isFileMode(old.mode) {
			mode = old.mode // keep the executable bit or symlink
		}
		files[p] = leaf{hash: h, mode: mode}
	}
	return writeTrees(w.r.sto, files)
}

// leaf is a non-directory tree entry: a file, symlink or submodule.
type leaf struct {
	hash plumbing.Hash
	mode filemode.FileMode
}

func isFileMode(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Deprecated || m == filemode.Executable || m == filemode.Symlink
}

// walkTree calls fn for every non-directory entry below t, with its full path.
func walkTree(s storer.EncodedObjectStorer, t *object.Tree, prefix string, fn func(string, object.TreeEntry) error) error {
	for _, e := range t.Entries {
		p := e.Name
		if prefix != "" {
			p = prefix + "/" + e.Name
		}
		if e.Mode != filemode.Dir {
			if err := fn(p, e); err != nil {
				return err
			}
			continue
		}
		sub, err := object.GetTree(s, e.Hash)
		if err != nil {
			return fmt.Errorf("tree %s: %w", p, err)
		}
		if err := walkTree(s, sub, p, fn); err != nil {
			return err
		}
	}
	return nil
}

type dirNode struct {
	leaves map[string]leaf
	dirs   map[string]*dirNode
}

// writeTrees writes the tree objects for a flat set of files and returns the
// root tree's hash. Directories without files vanish, as in git.
func writeTrees(s storer.EncodedObjectStorer, files map[string]leaf) (plumbing.Hash, error) {
	root := &dirNode{leaves: map[string]leaf{}, dirs: map[string]*dirNode{}}
	for p, l := range files {
		n := root
		parts := strings.Split(p, "/")
		for _, d := range parts[:len(parts)-1] {
			c := n.dirs[d]
			if c == nil {
				c = &dirNode{leaves: map[string]leaf{}, dirs: map[string]*dirNode{}}
				n.dirs[d] = c
			}
			n = c
		}
		n.leaves[parts[len(parts)-1]] = l
	}
	return writeDir(s, root, "")
}

func writeDir(s storer.EncodedObjectStorer, n *dirNode, p string) (plumbing.Hash, error) {
	t := &object.Tree{}
	for name, l := range n.leaves {
		if _, clash := n.dirs[name]; clash {
			return plumbing.ZeroHash, fmt.Errorf("%s is both a file and a directory", path.Join(p, name))
		}
		t.Entries = append(t.Entries, object.TreeEntry{Name: name, Mode: l.mode, Hash: l.hash})
	}
	for name, c := range n.dirs {
		h, err := writeDir(s, c, path.Join(p, name))
		if err != nil {
			return plumbing.ZeroHash, err
		}
		t.Entries = append(t.Entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	sort.Sort(object.TreeEntrySorter(t.Entries))
	obj := s.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

func writeBlob(s storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	wr, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := wr.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := wr.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

func readBlob(s storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(s, h)
	if err != nil {
		return nil, err
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}
