package gitstore

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
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

// build writes the objects of the edited tree and returns the root tree
// hash; r.mu must be held. Only the trees on the paths of edited files are
// rebuilt: every other subtree keeps its hash and is not read, and objects
// the store already has are not written again. A directory that the edits
// leave without entries vanishes, as in git; untouched subtrees are reused
// as they are.
func (w *Worktree) build() (plumbing.Hash, error) {
	root := &editDir{}
	for p, e := range w.edits {
		n := root
		parts := strings.Split(p, "/")
		for _, d := range parts[:len(parts)-1] {
			n = n.dir(d)
		}
		if n.files == nil {
			n.files = map[string]*edit{}
		}
		n.files[parts[len(parts)-1]] = e
	}
	if len(w.edits) == 0 && w.base != nil {
		return w.base.Hash, nil
	}
	h, _, err := w.buildDir(w.base, root, "")
	return h, err
}

// editDir holds the edits below one directory, by path component.
type editDir struct {
	files map[string]*edit
	dirs  map[string]*editDir
}

func (d *editDir) dir(name string) *editDir {
	if d.dirs == nil {
		d.dirs = map[string]*editDir{}
	}
	c := d.dirs[name]
	if c == nil {
		c = &editDir{}
		d.dirs[name] = c
	}
	return c
}

// buildDir writes the tree of directory p, which is base (nil if absent)
// with the edits in ed applied, and returns its hash and its number of
// entries. A directory left with no entries is written only at the root.
func (w *Worktree) buildDir(base *object.Tree, ed *editDir, p string) (plumbing.Hash, int, error) {
	s := w.r.sto
	var entries []object.TreeEntry
	index := map[string]int{} // name -> position in entries, for edited names
	if base != nil {
		entries = make([]object.TreeEntry, len(base.Entries), len(base.Entries)+len(ed.files)+len(ed.dirs))
		copy(entries, base.Entries)
		for i, e := range entries {
			if _, ok := ed.files[e.Name]; ok {
				index[e.Name] = i
			} else if _, ok := ed.dirs[e.Name]; ok {
				index[e.Name] = i
			}
		}
	}
	names := make([]string, 0, len(ed.files)+len(ed.dirs))
	for name := range ed.files {
		names = append(names, name)
	}
	for name := range ed.dirs {
		if _, ok := ed.files[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names) // deterministic write order and errors

	// Entries to drop get this mode, which no decoded entry has.
	const removed = filemode.Empty
	resort := false
	for _, name := range names {
		var be *object.TreeEntry
		i, inBase := index[name]
		if inBase {
			be = &entries[i]
		}
		// What name holds after the edits, as a file and as a directory.
		var file, dir *object.TreeEntry
		if fe, ok := ed.files[name]; ok {
			if !fe.deleted {
				h, err := putBlob(s, fe.data)
				if err != nil {
					return plumbing.ZeroHash, 0, err
				}
				mode := filemode.Regular
				if be != nil && isFileMode(be.Mode) {
					mode = be.Mode // keep the executable bit or symlink
				}
				file = &object.TreeEntry{Name: name, Mode: mode, Hash: h}
			}
		} else if be != nil && be.Mode != filemode.Dir {
			file = be
		}
		if sub, ok := ed.dirs[name]; ok {
			var subBase *object.Tree
			if be != nil && be.Mode == filemode.Dir {
				t, err := object.GetTree(s, be.Hash)
				if err != nil {
					return plumbing.ZeroHash, 0, fmt.Errorf("tree %s: %w", path.Join(p, name), err)
				}
				subBase = t
			}
			h, n, err := w.buildDir(subBase, sub, path.Join(p, name))
			if err != nil {
				return plumbing.ZeroHash, 0, err
			}
			if n > 0 {
				dir = &object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
			}
		} else if be != nil && be.Mode == filemode.Dir {
			dir = be
		}
		if file != nil && dir != nil {
			// A file may replace a directory that holds no files (only empty
			// subtrees), which is the only way WriteFile allows this.
			has, err := treeHasFiles(s, dir.Hash)
			if err != nil {
				return plumbing.ZeroHash, 0, fmt.Errorf("tree %s: %w", path.Join(p, name), err)
			}
			if has {
				return plumbing.ZeroHash, 0, fmt.Errorf("%s is both a file and a directory", path.Join(p, name))
			}
			dir = nil
		}
		next := file
		if next == nil {
			next = dir
		}
		switch {
		case next == nil && inBase:
			entries[i].Mode = removed
		case next == nil:
		case inBase:
			if (entries[i].Mode == filemode.Dir) != (next.Mode == filemode.Dir) {
				resort = true
			}
			entries[i] = *next
		default:
			entries = append(entries, *next)
			resort = true
		}
	}
	kept := entries[:0]
	for _, e := range entries {
		if e.Mode != removed {
			kept = append(kept, e)
		}
	}
	if resort {
		slices.SortFunc(kept, compareEntries)
	}
	if len(kept) == 0 && p != "" {
		return plumbing.ZeroHash, 0, nil
	}
	h, err := putTree(s, &object.Tree{Entries: kept})
	return h, len(kept), err
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

// compareEntries orders tree entries as git does: by name, with directory
// names compared as if they ended in "/".
func compareEntries(a, b object.TreeEntry) int {
	an, bn := a.Name, b.Name
	n := min(len(an), len(bn))
	if c := strings.Compare(an[:n], bn[:n]); c != 0 {
		return c
	}
	ac, bc := entryByte(a, n), entryByte(b, n)
	return cmp.Compare(ac, bc)
}

// entryByte is byte i of e's sort name (its name, plus "/" for a directory),
// or 0 past its end.
func entryByte(e object.TreeEntry, i int) int {
	switch {
	case i < len(e.Name):
		return int(e.Name[i])
	case i == len(e.Name) && e.Mode == filemode.Dir:
		return '/'
	}
	return 0
}

// treeHasFiles reports whether tree h holds any non-directory entry at any
// depth.
func treeHasFiles(s storer.EncodedObjectStorer, h plumbing.Hash) (bool, error) {
	t, err := object.GetTree(s, h)
	if err != nil {
		return false, err
	}
	for _, e := range t.Entries {
		if e.Mode != filemode.Dir {
			return true, nil
		}
		if has, err := treeHasFiles(s, e.Hash); has || err != nil {
			return has, err
		}
	}
	return false, nil
}

// putBlob stores data as a blob unless the store already has it.
func putBlob(s storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	h := plumbing.ComputeHash(plumbing.BlobObject, data)
	if s.HasEncodedObject(h) == nil {
		return h, nil
	}
	return writeBlob(s, data)
}

// putTree stores t unless the store already has it.
func putTree(s storer.EncodedObjectStorer, t *object.Tree) (plumbing.Hash, error) {
	obj := &plumbing.MemoryObject{}
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	if h := obj.Hash(); s.HasEncodedObject(h) == nil {
		return h, nil
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

// RestoreDir makes the directory dir hold exactly what it holds in from (a
// tree read at another revision): files that are not in from are removed,
// the others written. A rollback is this change, committed.
func (w *Worktree) RestoreDir(dir string, from fs.FS) error {
	files := map[string][]byte{}
	err := fs.WalkDir(from, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(from, p)
		files[p] = b
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore %s: %w", dir, err)
	}
	if w.Exists(dir) {
		if err := w.Remove(dir); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if err := w.WriteFile(p, files[p]); err != nil {
			return err
		}
	}
	return nil
}

// Files lists the files directly in dir, as the worktree has them now
// (edits included), by name, sorted.
func (w *Worktree) Files(dir string) []string {
	var out []string
	for _, f := range w.filesUnder(dir) {
		if rest := strings.TrimPrefix(f, dir+"/"); !strings.Contains(rest, "/") {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out
}
