package automation

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/manifests"
	"github.com/slipwaycd/slipway/store"
)

// seed is a config repo with n applications, each with an automated image.
func seed(n int) fstest.MapFS {
	files := fstest.MapFS{
		"accounts/local.yaml": {Data: []byte("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: k\n")},
	}
	for i := range n {
		app := fmt.Sprintf("app%02d", i)
		image := fmt.Sprintf("127.0.0.1:5000/team/%s", app)
		files["applications/"+app+"/application.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: %s
spec:
  targets:
  - name: prod
    account: local
    namespace: %s
    path: prod
    images:
    - name: web
      repository: %s
      policy:
        semver: ">=1 <3"
`, app, app, image))}
		files["applications/"+app+"/prod/kustomization.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"# image managed by Slipway\nresources:\n- deployment.yaml\nimages:\n- name: %s\n  newTag: v1 # the release\n", image))}
		files["applications/"+app+"/prod/deployment.yaml"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: %s:v1\n", app, image))}
	}
	return files
}

func openRepo(t *testing.T, files fs.FS) (*gitstore.Repo, *config.Repo) {
	t.Helper()
	dir := t.TempDir()
	url, err := gitstore.InitBare(dir+"/config.git", "main", files, "seed", gitstore.DefaultAuthor)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := gitstore.Open(t.Context(), gitstore.Options{URL: url, CacheDir: dir + "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := repo.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(tree)
	if err != nil {
		t.Fatal(err)
	}
	return repo, cfg
}

func imageAt(t *testing.T, repo *gitstore.Repo, app string) manifests.Image {
	t.Helper()
	tree, err := repo.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(tree, "applications/"+app+"/prod/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "# the release") && !strings.Contains(string(b), "# image managed by Slipway") {
		t.Errorf("comments lost:\n%s", b)
	}
	imgs, err := manifests.ReadKustomizationImages(b)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("images = %v, %v", imgs, err)
	}
	return imgs[0]
}

func TestAutomatorBumpsOnce(t *testing.T) {
	repo, cfg := openRepo(t, seed(1))
	refreshed := 0
	a := &Automator{Config: func() *config.Repo { return cfg }, Repo: repo, Refresh: func(context.Context) error { refreshed++; return nil }}
	push := Push{Repository: "127.0.0.1:5000/team/app00", Tag: "v2", Digest: d2, Source: "distribution delivery 1"}

	res, err := a.Handle(t.Context(), push)
	if err != nil || len(res) != 1 || !res[0].Bumped || res[0].Commit == "" {
		t.Fatalf("first push: %+v, %v", res, err)
	}
	if got := imageAt(t, repo, "app00"); got.NewTag != "v2" || got.Digest != d2 {
		t.Errorf("kustomization image = %+v, want v2@%s", got, d2)
	}
	log, err := repo.Log(t.Context(), "applications/app00/prod/kustomization.yaml", 1)
	if err != nil || len(log) != 1 {
		t.Fatalf("log: %v %v", log, err)
	}
	msg := log[0].Message
	for _, want := range []string{"Bump app00/prod image 127.0.0.1:5000/team/app00 to v2", "v1 → v2@", "distribution delivery 1", "Slipway-Image: 127.0.0.1:5000/team/app00:v2@" + d2} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message lacks %q:\n%s", want, msg)
		}
	}

	// Redelivered: nothing new. Outside the range: nothing.
	head := repo.Head()
	for _, p := range []Push{push, {Repository: push.Repository, Tag: "v3-rc1", Digest: d1}, {Repository: push.Repository, Tag: "v3.0.0", Digest: d1}} {
		res, err := a.Handle(t.Context(), p)
		if err != nil || len(res) != 1 || res[0].Bumped {
			t.Errorf("push %s: %+v, %v; want no bump", p.Tag, res, err)
		}
	}
	if repo.Head() != head {
		t.Errorf("head moved from %s to %s without a bump", head, repo.Head())
	}
	if refreshed != 1 {
		t.Errorf("refreshed %d times, want once (only after the commit)", refreshed)
	}
}

// TestAutomatorConcurrentPushes: 20 pushes for 20 applications at once give
// 20 correct bumps, none lost.
func TestAutomatorConcurrentPushes(t *testing.T) {
	const n = 20
	repo, cfg := openRepo(t, seed(n))
	a := &Automator{Config: func() *config.Repo { return cfg }, Repo: repo}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			res, err := a.Handle(context.Background(), Push{Repository: fmt.Sprintf("127.0.0.1:5000/team/app%02d", i), Tag: "v2.0.1", Digest: d2})
			if err == nil && (len(res) != 1 || !res[0].Bumped) {
				err = fmt.Errorf("app%02d: %+v", i, res)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for i := range n {
		if got := imageAt(t, repo, fmt.Sprintf("app%02d", i)); got.NewTag != "v2.0.1" {
			t.Errorf("app%02d image = %+v, want v2.0.1", i, got)
		}
	}
	log, err := repo.Log(t.Context(), "", 0)
	if err != nil || len(log) != n+1 {
		t.Errorf("history has %d commits (%v), want the seed and %d bumps", len(log), err, n)
	}
}

// TestAutomatorPullRequestPushesBranch: with write: pullRequest a bump goes
// to the target's branch, one commit ahead of main, and main is untouched; a
// newer push updates the same branch; a redelivery changes nothing.
func TestAutomatorPullRequestPushesBranch(t *testing.T) {
	files := seed(1)
	f := files["applications/app00/application.yaml"]
	f.Data = []byte(strings.Replace(string(f.Data), "      policy:\n", "      write: pullRequest\n      policy:\n", 1))
	dir := t.TempDir()
	url, err := gitstore.InitBare(dir+"/config.git", "main", files, "seed", gitstore.DefaultAuthor)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := gitstore.Open(t.Context(), gitstore.Options{URL: url, CacheDir: dir + "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := repo.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(tree)
	if err != nil {
		t.Fatal(err)
	}
	if _, tg, _ := cfg.Target("app00", "prod"); tg == nil || len(tg.Images) != 1 || tg.Images[0].Write != config.WritePullRequest {
		t.Fatalf("seeded config does not ask for pull requests: %+v", tg)
	}
	const branch = "slipway/images/app00-prod"
	if got := BranchFor("app00", "prod"); got != branch {
		t.Fatalf("BranchFor = %q", got)
	}
	refreshed := 0
	a := &Automator{Config: func() *config.Repo { return cfg }, Repo: repo, Refresh: func(context.Context) error { refreshed++; return nil }}
	main0 := repo.Head()

	// onBranch reads the branch as a fresh clone of it sees it.
	onBranch := func() (head string, parent string, img manifests.Image) {
		t.Helper()
		b, err := gitstore.Open(t.Context(), gitstore.Options{URL: url, Branch: branch, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		log, err := b.Log(t.Context(), "", 2)
		if err != nil || len(log) != 2 {
			t.Fatalf("branch log: %v, %v", log, err)
		}
		return b.Head(), log[1].Hash, imageAt(t, b, "app00")
	}
	mainUnchanged := func() {
		t.Helper()
		if _, err := repo.Fetch(t.Context()); err != nil {
			t.Fatal(err)
		}
		if repo.Head() != main0 {
			t.Errorf("main moved from %s to %s", main0, repo.Head())
		}
		if got := imageAt(t, repo, "app00"); got.NewTag != "v1" || got.Digest != "" {
			t.Errorf("main's kustomization image = %+v, want v1", got)
		}
	}

	push := Push{Repository: "127.0.0.1:5000/team/app00", Tag: "v2", Digest: d2, Source: "delivery 1"}
	res, err := a.Handle(t.Context(), push)
	if err != nil || len(res) != 1 || !res[0].Bumped || res[0].Commit == "" || res[0].Branch != branch {
		t.Fatalf("first push: %+v, %v", res, err)
	}
	if !strings.Contains(res[0].Reason, "pushed branch "+branch) || !strings.Contains(res[0].Reason, "a pull request opens once a forge is configured") {
		t.Errorf("reason = %q", res[0].Reason)
	}
	mainUnchanged()
	head, parent, img := onBranch()
	if head != res[0].Commit || parent != main0 || img.NewTag != "v2" || img.Digest != d2 {
		t.Errorf("branch = %s (parent %s) with %+v; want %s on %s with v2@%s", head, parent, img, res[0].Commit, main0, d2)
	}
	first := res[0].Commit

	// A newer push updates the same branch in place.
	res, err = a.Handle(t.Context(), Push{Repository: push.Repository, Tag: "v2.1.0", Digest: d1})
	if err != nil || len(res) != 1 || !res[0].Bumped || res[0].Branch != branch || res[0].Commit == first {
		t.Fatalf("second push: %+v, %v", res, err)
	}
	mainUnchanged()
	head, parent, img = onBranch()
	if head != res[0].Commit || parent != main0 || img.NewTag != "v2.1.0" || img.Digest != d1 {
		t.Errorf("branch = %s (parent %s) with %+v; want %s on %s with v2.1.0@%s", head, parent, img, res[0].Commit, main0, d1)
	}
	second := res[0].Commit

	// Redelivered: nothing changes.
	res, err = a.Handle(t.Context(), Push{Repository: push.Repository, Tag: "v2.1.0", Digest: d1})
	if err != nil || len(res) != 1 || res[0].Bumped || res[0].Commit != "" {
		t.Errorf("redelivery: %+v, %v; want no bump", res, err)
	}
	mainUnchanged()
	if head, _, _ := onBranch(); head != second {
		t.Errorf("redelivery moved the branch from %s to %s", second, head)
	}
	if refreshed != 0 {
		t.Errorf("refreshed %d times; a branch changes nothing the reconciler reads", refreshed)
	}
}

// quarantine is an in-memory Quarantine.
type quarantine map[string]store.QuarantinedImage

func (q quarantine) Quarantined(_ context.Context, repository, digest string) (store.QuarantinedImage, bool, error) {
	v, ok := q[repository+"@"+digest]
	return v, ok, nil
}

func TestQuarantinedDigestIsNotPromoted(t *testing.T) {
	repo, cfg := openRepo(t, seed(1))
	image := "127.0.0.1:5000/team/app00"
	bad, good := "sha256:"+strings.Repeat("b", 64), "sha256:"+strings.Repeat("c", 64)
	a := &Automator{Config: func() *config.Repo { return cfg }, Repo: repo,
		Quarantine: quarantine{image + "@" + bad: {Repository: image, Digest: bad, Target: "app00/prod", Actor: "gitea:alice", Reason: "rollback"}}}
	results, err := a.Handle(t.Context(), Push{Repository: image, Tag: "v2", Digest: bad})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Bumped || !strings.Contains(results[0].Reason, "quarantined") {
		t.Fatalf("push of the quarantined digest: %+v", results)
	}
	if got := imageAt(t, repo, "app00"); got.NewTag != "v1" {
		t.Fatalf("after the quarantined push the image is %+v, want v1", got)
	}
	// A newer image is promoted as usual.
	results, err = a.Handle(t.Context(), Push{Repository: image, Tag: "v2", Digest: good})
	if err != nil || len(results) != 1 || !results[0].Bumped {
		t.Fatalf("push of a newer digest: %+v %v", results, err)
	}
	if got := imageAt(t, repo, "app00"); got.NewTag != "v2" || got.Digest != good {
		t.Fatalf("after the newer push the image is %+v", got)
	}
}
