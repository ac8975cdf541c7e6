package rollback

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/manifests"
	"github.com/slipwaycd/slipway/store"
)

type quarantine []store.QuarantinedImage

func (q *quarantine) Quarantine(_ context.Context, img store.QuarantinedImage) error {
	*q = append(*q, img)
	return nil
}

type releases map[int64]string

func (r releases) CommitFor(_ context.Context, id int64, _ string) (string, error) {
	if c, ok := r[id]; ok {
		return c, nil
	}
	return "", fmt.Errorf("release order %d: not found", id)
}

const repoName = "registry.test/web"

func digest(c string) string { return "sha256:" + strings.Repeat(c, 64) }

func setup(t *testing.T) (*gitstore.Repo, *config.Repo, []string) {
	t.Helper()
	dir := t.TempDir()
	seed := fstest.MapFS{
		"accounts/local.yaml":                         {Data: []byte("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: k\n")},
		"applications/web/application.yaml":           {Data: []byte("apiVersion: slipway.dev/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  targets:\n  - name: testing\n    account: local\n    namespace: web\n    path: testing\n")},
		"applications/web/testing/kustomization.yaml": {Data: []byte(fmt.Sprintf("resources:\n- deployment.yaml\nimages:\n- name: %s\n  newTag: v1\n  digest: %s\n", repoName, digest("1")))},
		"applications/web/testing/deployment.yaml":    {Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")},
	}
	url, err := gitstore.InitBare(dir+"/config.git", "main", seed, "seed", gitstore.DefaultAuthor)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := gitstore.Open(t.Context(), gitstore.Options{URL: url, CacheDir: dir + "/cache"})
	if err != nil {
		t.Fatal(err)
	}
	revs := []string{repo.Head()}
	for i, tag := range []string{"v2", "v3"} {
		rev, err := repo.Commit(t.Context(), "bump "+tag, nil, func(w *gitstore.Worktree) error {
			p := "applications/web/testing/kustomization.yaml"
			b, err := w.ReadFile(p)
			if err != nil {
				return err
			}
			out, _, err := manifests.SetImage(b, manifests.Image{Name: repoName, NewTag: tag, Digest: digest(fmt.Sprint(i + 2))})
			if err != nil {
				return err
			}
			return w.WriteFile(p, out)
		})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	tree, _ := repo.Tree("")
	cfg, err := config.Load(tree)
	if err != nil {
		t.Fatal(err)
	}
	return repo, cfg, revs
}

func running(t *testing.T, repo *gitstore.Repo) manifests.Image {
	t.Helper()
	tree, _ := repo.Tree("")
	b, err := fs.ReadFile(tree, "applications/web/testing/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := manifests.ReadKustomizationImages(b)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("images %v %v", imgs, err)
	}
	return imgs[0]
}

func TestRollback(t *testing.T) {
	ref := config.TargetRef{App: "web", Target: "testing"}
	for name, tc := range map[string]struct {
		to      string
		wantTag string
		bad     []string // digests quarantined
	}{
		"the change before the last":   {"", "v2", []string{digest("3")}},
		"a revision by prefix":         {"REV0", "v1", []string{digest("3")}},
		"the state a release deployed": {"#7", "v2", []string{digest("3")}},
	} {
		t.Run(name, func(t *testing.T) {
			repo, cfg, revs := setup(t)
			to := strings.Replace(tc.to, "REV0", revs[0][:10], 1)
			var q quarantine
			res, err := Rollback(t.Context(), repo, &q, releases{7: revs[1]}, cfg, Request{Target: ref, To: to, User: "gitea:alice"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Commit == "" {
				t.Fatal("no commit")
			}
			if got := running(t, repo); got.NewTag != tc.wantTag {
				t.Fatalf("after the rollback the target runs %s, want %s", got.NewTag, tc.wantTag)
			}
			if len(q) != len(tc.bad) || q[0].Digest != tc.bad[0] || q[0].Repository != repoName || q[0].Target != "web/testing" || q[0].Actor != "gitea:alice" {
				t.Fatalf("quarantined %+v, want %v", q, tc.bad)
			}
			log, _ := repo.Log(t.Context(), "", 1)
			if !strings.Contains(log[0].Message, "Roll back web/testing") {
				t.Fatalf("commit message %q", log[0].Message)
			}
		})
	}
	repo, cfg, _ := setup(t)
	var q quarantine
	for _, to := range []string{"zzz", "#99", "deadbeefdeadbeef"} {
		if _, err := Rollback(t.Context(), repo, &q, releases{}, cfg, Request{Target: ref, To: to, User: "u"}); err == nil {
			t.Errorf("--to %s: no error", to)
		}
	}
	if len(q) != 0 {
		t.Errorf("refused rollbacks quarantined %v", q)
	}
}
