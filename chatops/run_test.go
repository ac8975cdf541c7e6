package chatops

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/pipeline"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// fakeForge records what the runner says; permissions are given per user.
type fakeForge struct {
	mu        sync.Mutex
	perms     map[string]forge.Permission
	comments  map[int64]string
	reactions []string
	next      int64
}

func (f *fakeForge) Name() string                                                   { return "gitea" }
func (f *fakeForge) SetStatus(context.Context, string, forge.Status) error          { return nil }
func (f *fakeForge) Comments(context.Context, string, int) ([]forge.Comment, error) { return nil, nil }
func (f *fakeForge) Comment(_ context.Context, _ string, _ int, body string) (forge.Comment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.comments[f.next] = body
	return forge.Comment{ID: f.next, Body: body}, nil
}
func (f *fakeForge) EditComment(_ context.Context, _ string, _ int, id int64, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.comments[id] = body
	return nil
}
func (f *fakeForge) React(_ context.Context, _ string, _ int, _ int64, r string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reactions = append(f.reactions, r)
	return nil
}
func (f *fakeForge) Permission(_ context.Context, _, user string) (forge.Permission, error) {
	if p, ok := f.perms[user]; ok {
		return p, nil
	}
	return forge.PermissionNone, nil
}
func (f *fakeForge) EnsurePullRequest(context.Context, string, forge.PullRequest) (forge.PullRequest, error) {
	return forge.PullRequest{}, forge.ErrUnsupported
}
func (f *fakeForge) MaxCommentSize() int { return 65536 }

func (f *fakeForge) reply(id int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.comments[id]
}

// fakeReleases creates release orders in memory.
type fakeReleases struct {
	mu      sync.Mutex
	created []pipeline.Request
}

func (r *fakeReleases) Create(_ context.Context, req pipeline.Request) (*pipeline.Execution, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created = append(r.created, req)
	return &pipeline.Execution{ID: int64(len(r.created)), Application: req.Application, Pipeline: req.Pipeline, Status: pipeline.StatusRunning}, nil
}
func (r *fakeReleases) Get(_ context.Context, id int64) (*pipeline.Execution, error) {
	return &pipeline.Execution{ID: id, Status: pipeline.StatusRunning}, nil
}
func (r *fakeReleases) Judge(context.Context, int64, string, bool, string, string) error { return nil }
func (r *fakeReleases) CommitFor(context.Context, int64, string) (string, error)         { return "", nil }

// configOnly is a Reconciler that only knows the config.
type configOnly struct{ cfg *config.Repo }

func (c configOnly) Config() *config.Repo              { return c.cfg }
func (c configOnly) Revision() string                  { return "" }
func (c configOnly) Refresh(context.Context) error     { return nil }
func (c configOnly) Sync(config.TargetRef) error       { return nil }
func (c configOnly) Status() []reconciler.TargetStatus { return nil }
func (c configOnly) StatusOf(string) (reconciler.TargetStatus, bool) {
	return reconciler.TargetStatus{}, false
}
func (c configOnly) Plan(context.Context, fs.FS, string, *config.Repo, config.TargetRef) (*reconciler.Plan, error) {
	return nil, fmt.Errorf("not planned here")
}

type audits struct {
	mu  sync.Mutex
	log []store.AuditRecord
}

func (a *audits) Audit(_ context.Context, r store.AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log = append(a.log, r)
	return nil
}
func (a *audits) Quarantine(context.Context, store.QuarantinedImage) error { return nil }

const policyRepo = `apiVersion: slipway.dev/v1alpha1
kind: Project
metadata:
  name: shop
spec:
  applications: [web]
  chatops:
    groups:
      release-managers: [alice]
    allow: ["@release-managers", bob]
    environments:
      production: ["@release-managers"]
`

func loadPolicyRepo(t *testing.T) *config.Repo {
	t.Helper()
	account := func(name, env string) string {
		return fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: %s\nspec:\n  environment: %s\n  kubeconfig:\n    secretRef: k\n", name, env)
	}
	pipe := func(name, target string) string {
		return fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: %s\nspec:\n  stages:\n  - id: deploy\n    type: deployManifest\n    target: %s\n", name, target)
	}
	cfg, err := config.Load(fstest.MapFS{
		"accounts/test.yaml":                        {Data: []byte(account("test", "testing"))},
		"accounts/prod.yaml":                        {Data: []byte(account("prod", "production"))},
		"projects/shop.yaml":                        {Data: []byte(policyRepo)},
		"applications/web/application.yaml":         {Data: []byte("apiVersion: slipway.dev/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  targets:\n  - name: testing\n    account: test\n    namespace: web\n    path: testing\n  - name: prod\n    account: prod\n    namespace: web\n    path: prod\n")},
		"applications/web/testing/cm.yaml":          {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")},
		"applications/web/prod/cm.yaml":             {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")},
		"applications/web/pipelines/toTesting.yaml": {Data: []byte(pipe("toTesting", "testing"))},
		"applications/web/pipelines/toProd.yaml":    {Data: []byte(pipe("toProd", "prod"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAuthorization: the forge's permission first, then the project's
// allow list, then the environment's; a refusal says why and is audited.
func TestAuthorization(t *testing.T) {
	cfg := loadPolicyRepo(t)
	for name, tc := range map[string]struct {
		user, body string
		allowed    bool
		why        string
	}{
		"a release manager deploys to production": {"alice", "/slipway deploy web toProd", true, ""},
		"an allowed writer deploys to testing":    {"bob", "/slipway deploy web toTesting", true, ""},
		"production needs the group":              {"bob", "/slipway deploy web toProd", false, "production environment needs one of @release-managers"},
		"a writer outside the allow list":         {"carol", "/slipway deploy web toTesting", false, "carol is not in the project's chat-ops allow list"},
		"a reader cannot deploy":                  {"rita", "/slipway deploy web toTesting", false, "needs write permission on team/config; rita has read"},
		"a reader may ask for status":             {"rita", "/slipway status web", true, ""},
		"a stranger may not even read":            {"zed", "/slipway status", false, "needs read permission"},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeForge{comments: map[int64]string{}, perms: map[string]forge.Permission{
				"alice": forge.PermissionAdmin, "bob": forge.PermissionWrite, "carol": forge.PermissionWrite, "rita": forge.PermissionRead,
			}}
			rel := &fakeReleases{}
			a := &audits{}
			r := &Runner{Forge: f, RepoName: "team/config", Releases: rel, Reconciler: configOnly{cfg}, Store: a}
			if _, err := r.Handle(t.Context(), webhooks.CommentEvent{Action: "created", Repo: "team/config", Number: 3, CommentID: 99, Body: tc.body, Author: tc.user}); err != nil {
				t.Fatal(err)
			}
			reply := f.reply(1)
			if !strings.HasPrefix(reply, "@"+tc.user+" `") {
				t.Fatalf("reply %q does not address %s", reply, tc.user)
			}
			if tc.allowed == strings.Contains(reply, "Refused") {
				t.Fatalf("allowed %v, reply:\n%s", tc.allowed, reply)
			}
			if !strings.Contains(reply, tc.why) {
				t.Fatalf("reply lacks %q:\n%s", tc.why, reply)
			}
			deploys := strings.Contains(tc.body, "deploy")
			if got := len(rel.created); got != map[bool]int{true: 1, false: 0}[tc.allowed && deploys] {
				t.Fatalf("%d release orders created", got)
			}
			if tc.allowed && deploys && rel.created[0].User != "gitea:"+tc.user {
				t.Fatalf("release order user %q", rel.created[0].User)
			}
			if len(a.log) != 1 || a.log[0].Actor != "gitea:"+tc.user || (tc.allowed != (a.log[0].Outcome == "ok")) {
				t.Fatalf("audit %+v", a.log)
			}
			if f.reactions[0] != forge.ReactionEyes {
				t.Fatalf("first reaction %v, want eyes", f.reactions)
			}
		})
	}
}

// TestUsageAndIgnore: a usage error is answered, a comment without a
// command or on another repository is not.
func TestUsageAndIgnore(t *testing.T) {
	cfg := loadPolicyRepo(t)
	f := &fakeForge{comments: map[int64]string{}, perms: map[string]forge.Permission{"bob": forge.PermissionWrite}}
	r := &Runner{Forge: f, RepoName: "team/config", Releases: &fakeReleases{}, Reconciler: configOnly{cfg}, Store: &audits{}}
	for _, ev := range []webhooks.CommentEvent{
		{Action: "created", Repo: "team/config", Body: "looks good to me", Author: "bob"},
		{Action: "created", Repo: "team/other", Body: "/slipway deploy web toTesting", Author: "bob"},
		{Action: "edited", Repo: "team/config", Body: "/slipway deploy web toTesting", Author: "bob"},
	} {
		if _, err := r.Handle(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.comments) != 0 {
		t.Fatalf("answered %v", f.comments)
	}
	if _, err := r.Handle(t.Context(), webhooks.CommentEvent{Action: "created", Repo: "team/config", Body: "/slipway scale web/testing", Author: "bob"}); err != nil {
		t.Fatal(err)
	}
	if reply := f.reply(1); !strings.Contains(reply, "usage error") {
		t.Fatalf("usage reply %q", reply)
	}
}
