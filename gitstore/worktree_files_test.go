package gitstore

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestWorktreeFiles(t *testing.T) {
	dir := t.TempDir()
	url, err := InitBare(dir+"/r.git", "main", fstest.MapFS{
		"app/a.yaml":     {Data: []byte("a")},
		"app/b.yaml":     {Data: []byte("b")},
		"app/sub/c.yaml": {Data: []byte("c")},
	}, "seed", DefaultAuthor)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), Options{URL: url, CacheDir: dir + "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Commit(t.Context(), "edit", nil, func(w *Worktree) error {
		if err := w.Remove("app/a.yaml"); err != nil {
			return err
		}
		if err := w.WriteFile("app/d.yaml", []byte("d")); err != nil {
			return err
		}
		if diff := cmp.Diff([]string{"b.yaml", "d.yaml"}, w.Files("app")); diff != "" {
			t.Errorf("Files (-want +got):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMergeBase(t *testing.T) {
	dir := t.TempDir()
	url, err := InitBare(dir+"/r.git", "main", fstest.MapFS{"a": {Data: []byte("a")}}, "seed", DefaultAuthor)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), Options{URL: url, CacheDir: dir + "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	fork := r.Head()
	branch, err := r.CommitToBranch(t.Context(), "topic", "on the branch", nil, func(w *Worktree) error { return w.WriteFile("b", []byte("b")) })
	if err != nil {
		t.Fatal(err)
	}
	main, err := r.Commit(t.Context(), "on main", nil, func(w *Worktree) error { return w.WriteFile("c", []byte("c")) })
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.MergeBase(main, branch)
	if err != nil || got != fork {
		t.Fatalf("MergeBase = %s, %v; want %s", got, err, fork)
	}
}
