package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	git "github.com/go-git/go-git/v5"
	"github.com/google/go-cmp/cmp"
)

var seed = fstest.MapFS{
	"README.md":             {Data: []byte("# config\n")},
	"apps/web/deploy.yaml":  {Data: []byte("image: web:1\n")},
	"apps/api/deploy.yaml":  {Data: []byte("image: api:1\n")},
	"scripts/bump.sh":       {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
	"targets/prod/env.yaml": {Data: []byte("replicas: 3\n")},
}

func newRemote(t *testing.T) string {
	t.Helper()
	url, err := InitBare(filepath.Join(t.TempDir(), "config.git"), "main", seed, "seed", Identity{})
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func open(t *testing.T, url string) *Repo {
	t.Helper()
	r, err := Open(t.Context(), Options{URL: url, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, r *Repo, rev, p string) string {
	t.Helper()
	tree, err := r.Tree(rev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(tree, p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInitBareLeavesExistingRepoAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.git")
	url1, err := InitBare(path, "main", seed, "seed", Identity{})
	if err != nil {
		t.Fatal(err)
	}
	head := open(t, url1).Head()
	url2, err := InitBare(path, "main", fstest.MapFS{"other": {Data: []byte("x")}}, "again", Identity{})
	if err != nil {
		t.Fatal(err)
	}
	if url1 != url2 {
		t.Errorf("urls differ: %q vs %q", url1, url2)
	}
	if got := open(t, "file://"+url2).Head(); got != head {
		t.Errorf("head moved from %s to %s", head, got)
	}
}

func TestTreeImplementsFS(t *testing.T) {
	r := open(t, newRemote(t))
	tree, err := r.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(tree, "README.md", "apps/web/deploy.yaml", "apps/api/deploy.yaml", "scripts/bump.sh", "targets/prod/env.yaml"); err != nil {
		t.Fatal(err)
	}
	ents, err := fs.ReadDir(tree, "apps")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"api", "web"}, names); diff != "" {
		t.Errorf("ReadDir(apps) (-want +got):\n%s", diff)
	}
	fi, err := fs.Stat(tree, "scripts/bump.sh")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o755 || fi.Size() != int64(len("#!/bin/sh\n")) {
		t.Errorf("stat scripts/bump.sh = %v size %d", fi.Mode(), fi.Size())
	}
	for _, bad := range []string{"missing.yaml", "apps/web/deploy.yaml/x", "../etc/passwd", "/README.md"} {
		if _, err := fs.ReadFile(tree, bad); err == nil {
			t.Errorf("ReadFile(%q) succeeded", bad)
		}
	}
	if _, err := fs.ReadFile(tree, "missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want ErrNotExist", err)
	}
}

func TestCommitReadLogAndDiff(t *testing.T) {
	ctx := t.Context()
	url := newRemote(t)
	cache := t.TempDir()
	r, err := Open(ctx, Options{URL: url, CacheDir: cache, Author: Identity{Name: "Slipway Bot", Email: "bot@slipway.test"}})
	if err != nil {
		t.Fatal(err)
	}
	first := r.Head()

	trailers := []Trailer{{Key: "Slipway-Execution", Value: "01HEXEC"}, {Key: "Slipway-Cause", Value: "registry push web:2"}}
	calls := 0
	h, err := r.Commit(ctx, "deploy web:2", trailers, func(w *Worktree) error {
		calls++
		old, err := w.ReadFile("apps/web/deploy.yaml")
		if err != nil {
			return err
		}
		if err := w.WriteFile("apps/web/deploy.yaml", []byte(strings.Replace(string(old), "web:1", "web:2", 1))); err != nil {
			return err
		}
		if err := w.WriteFile("apps/db/deploy.yaml", []byte("image: db:1\n")); err != nil {
			return err
		}
		return w.Remove("apps/api")
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("change called %d times, want 1", calls)
	}
	if h != r.Head() || h == first {
		t.Errorf("Commit returned %s, head %s, first %s", h, r.Head(), first)
	}

	if got := readFile(t, r, "", "apps/web/deploy.yaml"); got != "image: web:2\n" {
		t.Errorf("head web = %q", got)
	}
	if got := readFile(t, r, first, "apps/web/deploy.yaml"); got != "image: web:1\n" {
		t.Errorf("first web = %q", got)
	}
	if got := readFile(t, r, first, "apps/api/deploy.yaml"); got != "image: api:1\n" {
		t.Errorf("first api = %q", got)
	}
	headTree, _ := r.Tree("")
	if _, err := fs.Stat(headTree, "apps/api"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("apps/api still there at head: %v", err)
	}
	if fi, err := fs.Stat(headTree, "scripts/bump.sh"); err != nil || fi.Mode() != 0o755 {
		t.Errorf("untouched executable lost its mode: %v %v", fi, err)
	}

	changed, err := r.ChangedPaths(ctx, first, h)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"apps/api/deploy.yaml", "apps/db/deploy.yaml", "apps/web/deploy.yaml"}, changed); diff != "" {
		t.Errorf("ChangedPaths (-want +got):\n%s", diff)
	}
	all, err := r.ChangedPaths(ctx, "", first)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"README.md", "apps/api/deploy.yaml", "apps/web/deploy.yaml", "scripts/bump.sh", "targets/prod/env.yaml"}, all); diff != "" {
		t.Errorf("ChangedPaths from empty (-want +got):\n%s", diff)
	}

	log, err := r.Log(ctx, "apps/web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Hash != h || log[1].Hash != first {
		t.Fatalf("Log(apps/web) = %+v", log)
	}
	want := "deploy web:2\n\nSlipway-Execution: 01HEXEC\nSlipway-Cause: registry push web:2\n"
	if log[0].Message != want {
		t.Errorf("message = %q, want %q", log[0].Message, want)
	}
	if diff := cmp.Diff(trailers, log[0].Trailers); diff != "" {
		t.Errorf("trailers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Identity{"Slipway Bot", "bot@slipway.test"}, log[0].Author); diff != "" {
		t.Errorf("author (-want +got):\n%s", diff)
	}
	if log[1].Trailers != nil {
		t.Errorf("seed commit has trailers %v", log[1].Trailers)
	}
	if log, _ := r.Log(ctx, "README.md", 0); len(log) != 1 || log[0].Hash != first {
		t.Errorf("Log(README.md) = %+v", log)
	}
	if log, _ := r.Log(ctx, "", 1); len(log) != 1 || log[0].Hash != h {
		t.Errorf("Log(\"\", 1) = %+v", log)
	}

	got, ok, err := r.FindCommitWithTrailer(ctx, "slipway-execution", "01HEXEC", 10)
	if err != nil || !ok || got != h {
		t.Errorf("FindCommitWithTrailer = %s %v %v, want %s", got, ok, err, h)
	}
	if _, ok, err := r.FindCommitWithTrailer(ctx, "Slipway-Execution", "01HOTHER", 0); ok || err != nil {
		t.Errorf("found a commit for an unknown execution: %v", err)
	}

	// A restart reuses the cache.
	again, err := Open(ctx, Options{URL: url, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if again.Head() != h {
		t.Errorf("reopened head %s, want %s", again.Head(), h)
	}
}

func TestNoChange(t *testing.T) {
	ctx := t.Context()
	r := open(t, newRemote(t))
	head := r.Head()
	for name, change := range map[string]Change{
		"nothing":      func(*Worktree) error { return nil },
		"same content": func(w *Worktree) error { return w.WriteFile("README.md", []byte("# config\n")) },
		"write then remove": func(w *Worktree) error {
			if err := w.WriteFile("new.yaml", []byte("x")); err != nil {
				return err
			}
			return w.Remove("new.yaml")
		},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := r.Commit(ctx, "noop", nil, change)
			if !errors.Is(err, ErrNoChange) || h != head {
				t.Errorf("Commit = %s, %v; want %s, ErrNoChange", h, err, head)
			}
		})
	}
	if log, _ := r.Log(ctx, "", 0); len(log) != 1 {
		t.Errorf("%d commits, want 1", len(log))
	}
}

func TestWorktreeRules(t *testing.T) {
	r := open(t, newRemote(t))
	_, err := r.Commit(t.Context(), "rules", nil, func(w *Worktree) error {
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"write under a file", w.WriteFile("README.md/x", nil)},
			{"write over a directory", w.WriteFile("apps", nil)},
			{"write invalid path", w.WriteFile("../x", nil)},
			{"remove missing", w.Remove("nope")},
		} {
			if tc.err == nil {
				t.Errorf("%s: no error", tc.name)
			}
		}
		if _, err := w.ReadFile("nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(nope) = %v", err)
		}
		if !w.Exists("apps/web") || !w.Exists("README.md") || w.Exists("nope") {
			t.Error("Exists is wrong before edits")
		}
		if err := w.Remove("targets"); err != nil {
			return err
		}
		if w.Exists("targets") || w.Exists("targets/prod/env.yaml") {
			t.Error("targets exists after Remove")
		}
		// A removed directory can become a file.
		return w.WriteFile("targets", []byte("now a file\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, r, "", "targets"); got != "now a file\n" {
		t.Errorf("targets = %q", got)
	}
}

func TestEmptyRemoteGetsBranchOnFirstCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.git")
	if _, err := git.PlainInit(path, true); err != nil {
		t.Fatal(err)
	}
	r := open(t, path)
	if r.Head() != "" {
		t.Fatalf("head of empty repo = %q", r.Head())
	}
	if _, err := r.Tree(""); err == nil {
		t.Error("Tree of empty branch succeeded")
	}
	h, err := r.Commit(t.Context(), "first", nil, func(w *Worktree) error {
		return w.WriteFile("a/b.yaml", []byte("b\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := open(t, path).Head(); got != h {
		t.Errorf("second clone sees %q, want %q", got, h)
	}
}

// Another writer moves the head while the first Commit's change runs: the
// push must be refused, the change re-applied on the new head, and both
// updates kept.
func TestCommitRetriesWhenHeadMoved(t *testing.T) {
	ctx := t.Context()
	url := newRemote(t)
	a, b := open(t, url), open(t, url)

	calls := 0
	_, err := a.Commit(ctx, "a: bump web", nil, func(w *Worktree) error {
		calls++
		if calls == 1 {
			if _, err := b.Commit(ctx, "b: scale prod", nil, func(w *Worktree) error {
				return w.WriteFile("targets/prod/env.yaml", []byte("replicas: 5\n"))
			}); err != nil {
				return fmt.Errorf("concurrent writer: %w", err)
			}
		}
		return w.WriteFile("apps/web/deploy.yaml", []byte("image: web:2\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("change called %d times, want 2", calls)
	}
	c := open(t, url)
	if got := readFile(t, c, "", "apps/web/deploy.yaml"); got != "image: web:2\n" {
		t.Errorf("web = %q", got)
	}
	if got := readFile(t, c, "", "targets/prod/env.yaml"); got != "replicas: 5\n" {
		t.Errorf("prod = %q (lost update)", got)
	}
	log, err := c.Log(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 || !strings.HasPrefix(log[0].Message, "a: ") || !strings.HasPrefix(log[1].Message, "b: ") {
		t.Errorf("history = %+v", log)
	}
}

func TestConcurrentCommitsLoseNothing(t *testing.T) {
	ctx := t.Context()
	url := newRemote(t)
	repos := []*Repo{open(t, url), open(t, url)}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := repos[i%2]
			p := fmt.Sprintf("concurrent/file-%02d.txt", i)
			_, err := r.Commit(ctx, "add "+p, []Trailer{{"Slipway-Test", fmt.Sprint(i)}}, func(w *Worktree) error {
				return w.WriteFile(p, []byte(p))
			})
			errs <- err
		}()
	}
	// Reads go on while the writers work.
	for range 20 {
		if _, err := fs.ReadDir(mustTree(t, repos[0]), "."); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	c := open(t, url)
	ents, err := fs.ReadDir(mustTree(t, c), "concurrent")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		t.Errorf("%d files, want %d", len(ents), n)
	}
	log, err := c.Log(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != n+1 {
		t.Errorf("%d commits, want %d", len(log), n+1)
	}
	for i := range n {
		if _, ok, err := c.FindCommitWithTrailer(ctx, "Slipway-Test", fmt.Sprint(i), 0); !ok || err != nil {
			t.Errorf("commit %d not found: %v", i, err)
		}
	}
}

func mustTree(t *testing.T, r *Repo) fs.FS {
	t.Helper()
	tree, err := r.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestTrailers(t *testing.T) {
	for name, tc := range map[string]struct {
		msg  string
		want []Trailer
	}{
		"none":           {"subject\n\nbody text\n", nil},
		"subject only":   {"Fix: a thing\n", nil},
		"two":            {"s\n\nbody\n\nA-B: 1\nC: two words\n", []Trailer{{"A-B", "1"}, {"C", "two words"}}},
		"mixed last par": {"s\n\nA: 1\nnot a trailer\n", nil},
	} {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseTrailers(tc.msg)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []Trailer{{"Has Space", "v"}, {"K", "two\nlines"}, {"K", " "}, {"", "v"}} {
		if _, err := formatMessage("m", []Trailer{bad}); err == nil {
			t.Errorf("formatMessage accepted %+v", bad)
		}
	}
}
