package gitstore

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Tree returns a read-only view of the tree of commit rev ("" for the last
// fetched head; a hash, or any revision go-git resolves). Nothing is checked
// out: files are read from blobs on demand. The result implements
// fs.ReadFileFS, fs.ReadDirFS and fs.StatFS and is safe for concurrent use.
// Submodule entries are not shown. Mod times are the commit's commit time.
func (r *Repo) Tree(rev string) (fs.FS, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.resolveLocked(rev)
	if err != nil {
		return nil, r.errorf("tree "+rev, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, r.errorf("tree "+rev, err)
	}
	return &treeFS{r: r, root: t, mtime: c.Committer.When, dirs: map[string]*object.Tree{".": t}}, nil
}

// treeFS is an fs.FS over one git tree. Every storage access holds r.mu, and
// files are read whole into memory when opened (config repos hold small
// files), so open files need no lock.
type treeFS struct {
	r     *Repo
	root  *object.Tree
	mtime time.Time
	// dirs caches decoded subtrees by path: without it every lookup decodes
	// each directory on its path again, which dominates loading a repo
	// with a thousand applications. Guarded by r.mu.
	dirs map[string]*object.Tree
}

// dir returns the decoded tree of directory p, from the cache when it can.
// r.mu must be held.
func (f *treeFS) dir(p string) (*object.Tree, error) {
	if t, ok := f.dirs[p]; ok {
		return t, nil
	}
	parent, err := f.dir(path.Dir(p))
	if err != nil {
		return nil, err
	}
	e, err := parent.FindEntry(path.Base(p))
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, fs.ErrNotExist
	}
	t, err := object.GetTree(f.r.sto, e.Hash)
	if err != nil {
		return nil, err
	}
	f.dirs[p] = t
	return t, nil
}

var (
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

// node is what a path names: a directory (tree != nil) or a file.
type node struct {
	info *fileInfo
	tree *object.Tree
	data []byte
}

// lookup resolves name; with content it also reads the file's bytes or the
// directory's tree. r.mu must be held.
func (f *treeFS) lookup(op, name string, content bool) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &node{info: &fileInfo{name: ".", mode: fs.ModeDir | 0o755, mtime: f.mtime}, tree: f.root}, nil
	}
	parent, err := f.dir(path.Dir(name))
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	e, err := parent.FindEntry(path.Base(name))
	if err != nil || e.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	n := &node{}
	if e.Mode == filemode.Dir {
		n.info = &fileInfo{name: path.Base(name), mode: fs.ModeDir | 0o755, mtime: f.mtime}
		if content {
			if n.tree, err = f.dir(name); err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: err}
			}
		}
		return n, nil
	}
	if n.info, err = f.entryInfo(e); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if content {
		if n.data, err = readBlob(f.r.sto, e.Hash); err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		n.info.size, n.info.sizeOf = int64(len(n.data)), nil
	}
	return n, nil
}

func (f *treeFS) entryInfo(e *object.TreeEntry) (*fileInfo, error) {
	fi := &fileInfo{name: e.Name, mtime: f.mtime}
	switch e.Mode {
	case filemode.Dir:
		fi.mode = fs.ModeDir | 0o755
		return fi, nil
	case filemode.Executable:
		fi.mode = 0o755
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	default:
		fi.mode = 0o644
	}
	// Reading the blob's size means reading the object; most callers (config
	// loading, kustomize) never ask, so it is read on first use.
	h := e.Hash
	fi.sizeOf = sync.OnceValue(func() int64 {
		f.r.mu.Lock()
		defer f.r.mu.Unlock()
		o, err := f.r.sto.EncodedObject(plumbing.BlobObject, h)
		if err != nil {
			return 0
		}
		return o.Size()
	})
	return fi, nil
}

func (f *treeFS) Open(name string) (fs.File, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	n, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if n.tree == nil {
		return &openFile{info: n.info, rd: bytes.NewReader(n.data)}, nil
	}
	entries, err := f.dirEntries(n.tree)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &openDir{info: n.info, entries: entries}, nil
}

func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	n, err := f.lookup("read", name, true)
	if err != nil {
		return nil, err
	}
	if n.tree != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return n.data, nil
}

func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	n, err := f.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if n.tree == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	entries, err := f.dirEntries(n.tree)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return entries, nil
}

func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	n, err := f.lookup("stat", name, false)
	if err != nil {
		return nil, err
	}
	return n.info, nil
}

// dirEntries lists a tree sorted by name, as fs.ReadDir wants (git sorts
// directories as if their names ended in "/").
func (f *treeFS) dirEntries(t *object.Tree) ([]fs.DirEntry, error) {
	out := make([]fs.DirEntry, 0, len(t.Entries))
	for i := range t.Entries {
		if t.Entries[i].Mode == filemode.Submodule {
			continue
		}
		fi, err := f.entryInfo(&t.Entries[i])
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// fileInfo is both the fs.FileInfo and the fs.DirEntry of a tree entry.
type fileInfo struct {
	name   string
	size   int64
	sizeOf func() int64 // lazy size of a blob
	mode   fs.FileMode
	mtime  time.Time
}

func (i *fileInfo) Name() string { return i.name }
func (i *fileInfo) Size() int64 {
	if i.sizeOf != nil {
		return i.sizeOf()
	}
	return i.size
}
func (i *fileInfo) Mode() fs.FileMode          { return i.mode }
func (i *fileInfo) ModTime() time.Time         { return i.mtime }
func (i *fileInfo) IsDir() bool                { return i.mode.IsDir() }
func (i *fileInfo) Sys() any                   { return nil }
func (i *fileInfo) Type() fs.FileMode          { return i.mode.Type() }
func (i *fileInfo) Info() (fs.FileInfo, error) { return i, nil }
func (i *fileInfo) String() string             { return fs.FormatFileInfo(i) }

type openFile struct {
	info *fileInfo
	rd   *bytes.Reader
}

func (o *openFile) Stat() (fs.FileInfo, error) { return o.info, nil }
func (o *openFile) Read(p []byte) (int, error) { return o.rd.Read(p) }
func (o *openFile) ReadAt(p []byte, off int64) (int, error) {
	return o.rd.ReadAt(p, off)
}
func (o *openFile) Seek(off int64, whence int) (int64, error) { return o.rd.Seek(off, whence) }
func (o *openFile) Close() error                              { return nil }

type openDir struct {
	info    *fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *openDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *openDir) Close() error { return nil }

func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}
