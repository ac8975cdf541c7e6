package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// buildFlat is the reference for Worktree.build: it lists every file of the
// base tree, applies the edits and writes all trees from scratch. r.mu must
// be held.
func buildFlat(w *Worktree) (plumbing.Hash, error) {
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
			mode = old.mode
		}
		files[p] = leaf{hash: h, mode: mode}
	}
	return writeTrees(w.r.sto, files)
}

// buildBoth builds w's tree incrementally and from scratch and fails unless
// both agree.
func buildBoth(t *testing.T, w *Worktree) plumbing.Hash {
	t.Helper()
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	got, err := w.build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	want, err := buildFlat(w)
	if err != nil {
		t.Fatalf("reference build: %v", err)
	}
	if got != want {
		t.Fatalf("build = %s, want %s (edits %v)", got, want, editList(w))
	}
	return got
}

func editList(w *Worktree) []string {
	var out []string
	for p, e := range w.edits {
		if e.deleted {
			out = append(out, "-"+p)
		} else {
			out = append(out, fmt.Sprintf("+%s=%q", p, e.data))
		}
	}
	return out
}

func (r *Repo) tree(t *testing.T, h plumbing.Hash) *object.Tree {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	tree, err := object.GetTree(r.sto, h)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// entryAt is the hash of what p names in tree (zero if absent).
func (r *Repo) entryAt(t *testing.T, tree plumbing.Hash, p string) plumbing.Hash {
	t.Helper()
	return entryHash(r.tree(t, tree), p)
}

// Random edits through the Worktree API, on a small universe of paths so that
// files, directories and their replacements collide often, must build the
// same tree as a rewrite of the whole tree.
func TestBuildMatchesFullRewrite(t *testing.T) {
	r := &Repo{sto: memory.NewStorage()}
	blob := func(s string) plumbing.Hash {
		h, err := writeBlob(r.sto, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	root, err := writeTrees(r.sto, map[string]leaf{
		"README.md":       {blob("# config\n"), filemode.Regular},
		"a/x/1":           {blob("v1\n"), filemode.Regular},
		"a/y":             {blob("v2\n"), filemode.Regular},
		"scripts/bump.sh": {blob("#!/bin/sh\n"), filemode.Executable},
		"scripts/x":       {blob("bump.sh"), filemode.Symlink},
		"b/y/2":           {blob("v0\n"), filemode.Regular},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := r.tree(t, root)
	var paths []string
	for _, a := range []string{"a", "b", "scripts"} {
		paths = append(paths, a)
		for _, b := range []string{"x", "y", "bump.sh"} {
			paths = append(paths, a+"/"+b)
			for _, c := range []string{"1", "2"} {
				paths = append(paths, a+"/"+b+"/"+c)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for step := range 1500 {
		w := &Worktree{r: r, base: base, edits: map[string]*edit{}}
		for range 1 + rnd.IntN(6) {
			p := paths[rnd.IntN(len(paths))]
			if rnd.IntN(3) == 0 {
				_ = w.Remove(p) // may not exist: fine
			} else {
				_ = w.WriteFile(p, fmt.Appendf(nil, "v%d\n", rnd.IntN(4))) // may be refused: fine
			}
		}
		h := buildBoth(t, w)
		if len(w.edits) == 0 && h != base.Hash {
			t.Fatalf("step %d: no edits, tree %s, want %s", step, h, base.Hash)
		}
		base = r.tree(t, h)
	}
}

func TestBuildRewritesOnlyChangedPath(t *testing.T) {
	ctx := t.Context()
	url, err := InitBare(filepath.Join(t.TempDir(), "config.git"), "main", appsSeed(20), "seed", Identity{})
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	r, err := Open(ctx, Options{URL: url, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	before := r.Head()
	cacheObjs, remoteObjs := looseObjects(t, cache), looseObjects(t, url)

	const p = "applications/app-0007/prod/deployment.yaml"
	after, err := r.Commit(ctx, "bump", nil, func(w *Worktree) error {
		return w.WriteFile(p, []byte("image: app-0007:2\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	oldRoot, newRoot := r.commitTree(t, before), r.commitTree(t, after)
	for _, same := range []string{
		"README.md",
		"applications/app-0006",
		"applications/app-0008",
		"applications/app-0007/application.yaml",
		"applications/app-0007/prod/kustomization.yaml",
	} {
		if o, n := r.entryAt(t, oldRoot, same), r.entryAt(t, newRoot, same); o != n || o.IsZero() {
			t.Errorf("%s: hash %s, was %s", same, n, o)
		}
	}
	for _, changed := range []string{"applications", "applications/app-0007", "applications/app-0007/prod", p} {
		if o, n := r.entryAt(t, oldRoot, changed), r.entryAt(t, newRoot, changed); o == n {
			t.Errorf("%s: hash unchanged", changed)
		}
	}

	// Exactly the new commit, the blob and the four trees on its path are
	// written, to the cache and to the remote.
	want := []string{after, r.entryAt(t, newRoot, p).String(), newRoot.String()}
	for _, d := range []string{"applications", "applications/app-0007", "applications/app-0007/prod"} {
		want = append(want, r.entryAt(t, newRoot, d).String())
	}
	for name, dir := range map[string]struct {
		dir    string
		before map[string]bool
	}{"cache": {cache, cacheObjs}, "remote": {url, remoteObjs}} {
		got := newObjects(looseObjects(t, dir.dir), dir.before)
		if !sameSet(got, want) {
			t.Errorf("%s got objects %v, want %v", name, got, want)
		}
	}

	// Content that the repo already holds writes no blob.
	cacheObjs = looseObjects(t, cache)
	kust, err := fs.ReadFile(mustTree(t, r), "applications/app-0001/prod/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	after2, err := r.Commit(ctx, "copy", nil, func(w *Worktree) error {
		return w.WriteFile("applications/app-0003/extra.yaml", kust)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := newObjects(looseObjects(t, cache), cacheObjs)
	root2 := r.commitTree(t, after2)
	want = []string{after2, root2.String(), r.entryAt(t, root2, "applications").String(), r.entryAt(t, root2, "applications/app-0003").String()}
	if !sameSet(got, want) {
		t.Errorf("copying a file wrote %v, want %v", got, want)
	}
	if _, err := exec.LookPath("git"); err == nil {
		for _, dir := range []string{url, cache} {
			gitCLI(t, t.TempDir(), "--git-dir", dir, "fsck", "--strict", "--no-dangling")
		}
	}
}

func (r *Repo) commitTree(t *testing.T, h string) plumbing.Hash {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := object.GetCommit(r.sto, plumbing.NewHash(h))
	if err != nil {
		t.Fatal(err)
	}
	return c.TreeHash
}

func looseObjects(t *testing.T, gitDir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	root := filepath.Join(gitDir, "objects")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if dir, file, ok := strings.Cut(filepath.ToSlash(rel), "/"); ok && len(dir) == 2 && len(file) == 38 {
			out[dir+file] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newObjects(now, before map[string]bool) []string {
	var out []string
	for h := range now {
		if !before[h] {
			out = append(out, h)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	if len(m) != len(a) || len(a) != len(b) {
		return false
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}

func TestRemoveLastFileRemovesEmptyParents(t *testing.T) {
	ctx := t.Context()
	url, err := InitBare(filepath.Join(t.TempDir(), "config.git"), "main", fstest.MapFS{
		"keep.txt":             {Data: []byte("k\n")},
		"a/b/c/d.txt":          {Data: []byte("d\n")},
		"x/sibling.txt":        {Data: []byte("s\n")},
		"x/y/z/only.txt":       {Data: []byte("o\n")},
		"deep/run.sh":          {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"deep/er/still/f.yaml": {Data: []byte("f: 1\n")},
	}, "seed", Identity{})
	if err != nil {
		t.Fatal(err)
	}
	r := open(t, url)
	if _, err := r.Commit(ctx, "remove", nil, func(w *Worktree) error {
		if err := w.Remove("a/b/c/d.txt"); err != nil {
			return err
		}
		if err := w.Remove("x/y/z/only.txt"); err != nil {
			return err
		}
		// An edited executable keeps its mode.
		return w.WriteFile("deep/run.sh", []byte("#!/bin/sh\nexit 0\n"))
	}); err != nil {
		t.Fatal(err)
	}
	tree := mustTree(t, r)
	for _, gone := range []string{"a", "a/b", "a/b/c", "x/y"} {
		if _, err := fs.Stat(tree, gone); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists: %v", gone, err)
		}
	}
	if fi, err := fs.Stat(tree, "deep/run.sh"); err != nil || fi.Mode() != 0o755 {
		t.Errorf("deep/run.sh: %v %v", fi, err)
	}
	if err := fstest.TestFS(tree, "keep.txt", "x/sibling.txt", "deep/run.sh", "deep/er/still/f.yaml"); err != nil {
		t.Error(err)
	}

	// A file replaced by a directory, and back.
	if _, err := r.Commit(ctx, "file to dir", nil, func(w *Worktree) error {
		if err := w.Remove("keep.txt"); err != nil {
			return err
		}
		return w.WriteFile("keep.txt/inner.txt", []byte("i\n"))
	}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, r, "", "keep.txt/inner.txt"); got != "i\n" {
		t.Errorf("keep.txt/inner.txt = %q", got)
	}
	if _, err := r.Commit(ctx, "dir to file", nil, func(w *Worktree) error {
		if err := w.Remove("keep.txt"); err != nil {
			return err
		}
		return w.WriteFile("keep.txt", []byte("k2\n"))
	}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, r, "", "keep.txt"); got != "k2\n" {
		t.Errorf("keep.txt = %q", got)
	}

	// Removing everything leaves an empty root tree.
	if _, err := r.Commit(ctx, "empty", nil, func(w *Worktree) error {
		for _, p := range []string{"keep.txt", "x", "deep"} {
			if err := w.Remove(p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ents, err := fs.ReadDir(mustTree(t, r), ".")
	if err != nil || len(ents) != 0 {
		t.Errorf("root after removing everything: %v %v", ents, err)
	}
}

// A tree with an empty subtree (git never makes one, other tools may) keeps
// it while untouched, and a file may replace it.
func TestEmptySubtree(t *testing.T) {
	ctx := t.Context()
	url := newRemote(t)
	remote := openLocal(url)
	ref, err := remote.Reference(plumbing.NewBranchReferenceName("main"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := object.GetCommit(remote, ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	root, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	empty, err := putTree(remote, &object.Tree{})
	if err != nil {
		t.Fatal(err)
	}
	nested, err := putTree(remote, &object.Tree{Entries: []object.TreeEntry{{Name: "e", Mode: filemode.Dir, Hash: empty}}})
	if err != nil {
		t.Fatal(err)
	}
	entries := append([]object.TreeEntry{
		{Name: "empty", Mode: filemode.Dir, Hash: empty},
		{Name: "nested", Mode: filemode.Dir, Hash: nested},
	}, root.Entries...)
	tree := &object.Tree{Entries: entries}
	sortEntries(tree.Entries)
	th, err := putTree(remote, tree)
	if err != nil {
		t.Fatal(err)
	}
	nc := &object.Commit{Author: c.Author, Committer: c.Committer, Message: "empty dirs\n", TreeHash: th, ParentHashes: []plumbing.Hash{c.Hash}}
	obj := remote.NewEncodedObject()
	if err := nc.Encode(obj); err != nil {
		t.Fatal(err)
	}
	ch, err := remote.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.SetReference(plumbing.NewHashReference(ref.Name(), ch)); err != nil {
		t.Fatal(err)
	}
	remote.Close()

	r := open(t, url)
	if h, err := r.Commit(ctx, "noop", nil, func(*Worktree) error { return nil }); !errors.Is(err, ErrNoChange) || h != ch.String() {
		t.Errorf("noop commit = %s %v", h, err)
	}
	h, err := r.Commit(ctx, "files over empty dirs", nil, func(w *Worktree) error {
		if w.Exists("empty") || w.Exists("nested") {
			t.Error("an empty directory exists")
		}
		if err := w.WriteFile("empty", []byte("e\n")); err != nil {
			return err
		}
		return w.WriteFile("nested", []byte("n\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"empty": "e\n", "nested": "n\n"} {
		if got := readFile(t, r, h, p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
}

func sortEntries(e []object.TreeEntry) {
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && compareEntries(e[j-1], e[j]) > 0; j-- {
			e[j-1], e[j] = e[j], e[j-1]
		}
	}
}

func TestCompareEntriesMatchesGit(t *testing.T) {
	names := []string{"a", "a.b", "a-b", "a0", "a/", "ab", "b", "", "a.", "a~"}
	var es []object.TreeEntry
	for _, n := range names {
		if n == "" || strings.Contains(n, "/") {
			continue
		}
		es = append(es, object.TreeEntry{Name: n, Mode: filemode.Regular}, object.TreeEntry{Name: n + "d", Mode: filemode.Dir}, object.TreeEntry{Name: n, Mode: filemode.Dir})
	}
	for _, a := range es {
		for _, b := range es {
			want := 0
			as, bs := sortName(a), sortName(b)
			switch {
			case as < bs:
				want = -1
			case as > bs:
				want = 1
			}
			if got := compareEntries(a, b); got != want {
				t.Errorf("compare(%s %v, %s %v) = %d, want %d", a.Name, a.Mode, b.Name, b.Mode, got, want)
			}
		}
	}
}

func sortName(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// countingStorer counts the lookups copyObjects makes in the destination.
type countingStorer struct {
	storer.EncodedObjectStorer
	has int
}

func (s *countingStorer) HasEncodedObject(h plumbing.Hash) error {
	s.has++
	return s.EncodedObjectStorer.HasEncodedObject(h)
}

// Pushing a one-file change looks up the objects on the changed path, not
// every entry of the directories on it.
func TestCopyObjectsSkipsUnchangedEntries(t *testing.T) {
	ctx := t.Context()
	url, err := InitBare(filepath.Join(t.TempDir(), "config.git"), "main", appsSeed(50), "seed", Identity{})
	if err != nil {
		t.Fatal(err)
	}
	r := open(t, url)
	old := r.head.Load().(plumbing.Hash)
	// A second repo commits, so r's cache lacks the new objects.
	other := open(t, url)
	newH, err := other.Commit(ctx, "bump", nil, func(w *Worktree) error {
		return w.WriteFile("applications/app-0030/prod/deployment.yaml", []byte("image: app-0030:2\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	remote := openLocal(url)
	defer remote.Close()
	dst := &countingStorer{EncodedObjectStorer: r.sto}
	r.mu.Lock()
	err = copyObjects(dst, remote, plumbing.NewHash(newH), old)
	r.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// have, the commit, 4 trees and the blob.
	if dst.has > 7 {
		t.Errorf("%d lookups in the destination, want at most 7", dst.has)
	}
	if got := readFile(t, r, newH, "applications/app-0030/prod/deployment.yaml"); got != "image: app-0030:2\n" {
		t.Errorf("copied file = %q", got)
	}

	// Without a known commit, everything reachable is checked.
	dst = &countingStorer{EncodedObjectStorer: r.sto}
	r.mu.Lock()
	err = copyObjects(dst, remote, plumbing.NewHash(newH), plumbing.ZeroHash)
	r.mu.Unlock()
	if err != nil || dst.has != 1 {
		t.Errorf("copy of a present commit: %d lookups, %v", dst.has, err)
	}
}
