package gitstore

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeWeb(tag string) Change {
	return func(w *Worktree) error {
		return w.WriteFile("apps/web/deploy.yaml", []byte("image: web:"+tag+"\n"))
	}
}

// branchScenario runs the CommitToBranch story against the remote at url:
// r and other are two Repos of it with their own caches; cloneURL is what
// the git CLI clones to check the result.
func branchScenario(t *testing.T, r, other *Repo, cloneURL string) {
	t.Helper()
	ctx := t.Context()
	const branch = "slipway/images/web-prod"
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	// gitAt clones the remote afresh (bare, so every branch is a local
	// branch) and runs git there.
	gitAt := func(args ...string) string {
		t.Helper()
		work := t.TempDir()
		gitCLI(t, work, "clone", "--quiet", "--bare", cloneURL, "c.git")
		return strings.TrimSpace(gitCLI(t, filepath.Join(work, "c.git"), args...))
	}
	// check says the branch is exactly one commit, want, ahead of main at
	// base, with web at webTag, and main is untouched.
	check := func(want, base, webTag string) {
		t.Helper()
		if got := gitAt("log", "-1", "--format=%H %P", branch); got != want+" "+base {
			t.Errorf("branch head and parent = %q, want %q", got, want+" "+base)
		}
		if got := gitAt("rev-list", "--count", "main.."+branch); got != "1" {
			t.Errorf("branch is %s commits ahead of main, want 1", got)
		}
		if got := gitAt("rev-parse", "main"); got != base {
			t.Errorf("main moved to %s, want %s", got, base)
		}
		if got := gitAt("show", branch+":apps/web/deploy.yaml"); got != "image: web:"+webTag {
			t.Errorf("branch web = %q, want web:%s", got, webTag)
		}
		if got := gitAt("show", "main:apps/web/deploy.yaml"); got != "image: web:1" {
			t.Errorf("main web = %q, want web:1", got)
		}
	}

	main0 := r.Head()
	h1, err := r.CommitToBranch(ctx, branch, "bump web to 2", []Trailer{{"Slipway-Target", "web/prod"}}, writeWeb("2"))
	if err != nil {
		t.Fatal(err)
	}
	check(h1, main0, "2")
	if got := gitAt("log", "-1", "--format=%(trailers:key=Slipway-Target,valueonly)", branch); got != "web/prod" {
		t.Errorf("trailer = %q", got)
	}
	if got := readFile(t, r, h1, "apps/web/deploy.yaml"); got != "image: web:2\n" {
		t.Errorf("Tree(h1) web = %q", got)
	}
	if r.Head() != main0 {
		t.Errorf("Head() = %s, want main still at %s", r.Head(), main0)
	}

	// A newer bump replaces the branch in place.
	h2, err := r.CommitToBranch(ctx, branch, "bump web to 3", nil, writeWeb("3"))
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h1 {
		t.Fatal("second bump returned the first commit")
	}
	check(h2, main0, "3")

	// The same bump again, from this Repo or another cache: nothing pushed.
	for name, repo := range map[string]*Repo{"same repo": r, "other cache": other} {
		h, err := repo.CommitToBranch(ctx, branch, "bump web to 3", nil, writeWeb("3"))
		if !errors.Is(err, ErrNoChange) || h != h2 {
			t.Errorf("%s: redelivery = %s, %v; want %s, ErrNoChange", name, h, err, h2)
		}
	}
	check(h2, main0, "3")

	// A change that leaves main as it is: no branch, and an existing branch
	// is left alone.
	if h, err := r.CommitToBranch(ctx, "slipway/images/noop", "noop", nil, writeWeb("1")); !errors.Is(err, ErrNoChange) || h != "" {
		t.Errorf("no-op change = %q, %v; want ErrNoChange", h, err)
	}
	if got := gitAt("branch", "--list", "slipway/images/noop"); got != "" {
		t.Errorf("no-op change created a branch: %q", got)
	}
	if _, err := r.CommitToBranch(ctx, branch, "noop", nil, writeWeb("1")); !errors.Is(err, ErrNoChange) {
		t.Errorf("no-op change on the branch: %v; want ErrNoChange", err)
	}
	check(h2, main0, "3")

	// Main moves on: the next bump is based on the new main head.
	main1, err := other.Commit(ctx, "bump api", nil, func(w *Worktree) error {
		return w.WriteFile("apps/api/deploy.yaml", []byte("image: api:2\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	h3, err := r.CommitToBranch(ctx, branch, "bump web to 4", nil, writeWeb("4"))
	if err != nil {
		t.Fatal(err)
	}
	check(h3, main1, "4")
	if got := gitAt("show", branch+":apps/api/deploy.yaml"); got != "image: api:2" {
		t.Errorf("branch api = %q, want main's api:2", got)
	}
	if r.Head() != main1 {
		t.Errorf("Head() = %s, want %s", r.Head(), main1)
	}
	gitAt("fsck", "--strict")

	// Bad branch names are refused before anything happens.
	for _, b := range []string{"", "main", "bad..name", "ends/", "sp ace"} {
		_, err := r.CommitToBranch(ctx, b, "x", nil, writeWeb("5"))
		if err == nil || errors.Is(err, ErrNoChange) {
			t.Errorf("branch %q: err = %v, want refusal", b, err)
		}
	}
	check(h3, main1, "4")

	// A failing change is reported and pushes nothing.
	boom := errors.New("boom")
	if _, err := r.CommitToBranch(ctx, branch, "x", nil, func(*Worktree) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("failing change: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.CommitToBranch(cctx, branch, "x", nil, writeWeb("6")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	check(h3, main1, "4")
}

func TestCommitToBranchLocal(t *testing.T) {
	url := newRemote(t)
	branchScenario(t, open(t, url), open(t, url), url)
}

func TestCommitToBranchOverSmartHTTP(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	root := t.TempDir()
	bare := filepath.Join(root, "config.git")
	if _, err := InitBare(bare, "main", seed, "seed", Identity{}); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, root, "--git-dir", bare, "config", "http.receivepack", "true")
	url := gitHTTPServer(t, root) + "/config.git"
	openHTTP := func() *Repo {
		r, err := Open(t.Context(), Options{URL: url, CacheDir: t.TempDir(), Auth: Auth{Username: httpUser, Password: httpPass}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := openHTTP()
	branchScenario(t, r, openHTTP(), strings.Replace(url, "http://", "http://"+httpUser+":"+httpPass+"@", 1))

	// Errors over HTTP name the repo but never the password.
	_, err := r.CommitToBranch(t.Context(), "bad..name", "x", nil, writeWeb("7"))
	if err == nil || strings.Contains(err.Error(), httpPass) || !strings.Contains(err.Error(), "/config.git") {
		t.Errorf("error = %v", err)
	}
}
