package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// fakeReconciler stands in for the reconciler: it loads the config at the
// config repo's head on Refresh, and reports every target synced there and
// healthy. That is the narrow contract stages rely on.
type fakeReconciler struct {
	repo *gitstore.Repo
	mu   sync.Mutex
	cfg  *config.Repo
	rev  string
	sync []string
}

func (f *fakeReconciler) Config() *config.Repo { f.mu.Lock(); defer f.mu.Unlock(); return f.cfg }
func (f *fakeReconciler) Revision() string     { f.mu.Lock(); defer f.mu.Unlock(); return f.rev }
func (f *fakeReconciler) Refresh(ctx context.Context) error {
	rev, err := f.repo.Fetch(ctx)
	if err != nil {
		return err
	}
	tree, err := f.repo.Tree(rev)
	if err != nil {
		return err
	}
	cfg, err := config.Load(tree)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.cfg, f.rev = cfg, rev
	f.mu.Unlock()
	return nil
}
func (f *fakeReconciler) Sync(ref config.TargetRef) error {
	f.mu.Lock()
	f.sync = append(f.sync, ref.String())
	f.mu.Unlock()
	return nil
}
func (f *fakeReconciler) StatusOf(key string) (reconciler.TargetStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	app, target, _ := strings.Cut(key, "/")
	return reconciler.TargetStatus{Application: app, Target: target, Phase: reconciler.PhaseSynced,
		SyncedRevision: f.rev, DesiredRevision: f.rev, Health: reconciler.Healthy}, true
}

const testApp = `apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: web
spec:
  targets:
  - name: testing
    account: local
    namespace: web
    path: testing
    sync:
      prune: true
`

const testPipeline = `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: deploy
spec:
  execution:
    concurrent: false
    keepWaiting: %KEEP%
  expectedArtifacts:
  - id: image
    repository: registry.test/web
    tagRegex: '^v[0-9]+$'
  triggers:
  - type: docker
    artifacts: [image]
  - type: cron
    schedule: "0 3 * * *"
    timeZone: Asia/Shanghai
  parameters:
  - name: note
    default: none
  stages:
  - id: deploy
    type: deployManifest
    target: testing
    artifacts: [image]
  - id: judge
    type: manualJudgment
  - id: scale
    type: scaleManifest
    target: testing
    objectName: web
    replicas: 3
`

// onPushPipeline starts on pushes to the testing target's files.
const onPushPipeline = `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: onPush
spec:
  triggers:
  - type: git
    paths: ["applications/web/testing/**"]
  stages:
  - id: check
    type: checkPreconditions
    expressions: ['trigger.type == "git"']
`

type testEnv struct {
	t     *testing.T
	db    *store.Store
	repo  *gitstore.Repo
	rec   *fakeReconciler
	eng   *Engine
	stop  context.CancelFunc
	done  chan struct{}
	clock Clock
}

func newTestEnv(t *testing.T, keepWaiting bool, clock Clock) *testEnv {
	t.Helper()
	dir := t.TempDir()
	seed := fstest.MapFS{
		"accounts/local.yaml":                         {Data: []byte("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: local\n")},
		"applications/web/application.yaml":           {Data: []byte(testApp)},
		"applications/web/pipelines/deploy.yaml":      {Data: []byte(strings.ReplaceAll(testPipeline, "%KEEP%", map[bool]string{true: "true", false: "false"}[keepWaiting]))},
		"applications/web/testing/kustomization.yaml": {Data: []byte("resources:\n- deployment.yaml\nimages:\n- name: registry.test/web\n  newTag: v1\n")},
		"applications/web/testing/deployment.yaml":    {Data: []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n")},
		"applications/web/pipelines/onPush.yaml":      {Data: []byte(onPushPipeline)},
		"applications/web/pipelines/slow.yaml":        {Data: []byte("apiVersion: slipway.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: slow\nspec:\n  stages:\n  - id: judge\n    type: manualJudgment\n")},
		"applications/web/pipelines/parent.yaml":      {Data: []byte("apiVersion: slipway.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: parent\nspec:\n  stages:\n  - id: child\n    type: pipeline\n    pipeline: slow\n")},
	}
	url, err := gitstore.InitBare(filepath.Join(dir, "config.git"), "main", seed, "seed", gitstore.DefaultAuthor)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := gitstore.Open(t.Context(), gitstore.Options{URL: url, Branch: "main", CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), filepath.Join(dir, "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rec := &fakeReconciler{repo: repo}
	if err := rec.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, db: db, repo: repo, rec: rec, clock: clock}
	env.start()
	return env
}

// start runs a fresh engine over the same store and repo, as a restarted
// server would.
func (env *testEnv) start() {
	ctx, cancel := context.WithCancel(env.t.Context())
	env.eng = New(Options{Store: env.db, Repo: env.repo, Reconciler: env.rec, Clock: env.clock, Poll: 10 * time.Millisecond})
	env.stop, env.done = cancel, make(chan struct{})
	go func() { _ = env.eng.Run(ctx); close(env.done) }()
	env.t.Cleanup(env.halt)
}

func (env *testEnv) halt() {
	env.stop()
	<-env.done
}

func (env *testEnv) push(tag string) []Started {
	env.t.Helper()
	out, err := env.eng.OnImagePushed(env.t.Context(), webhooks.ImagePushed{
		Origin:   webhooks.Origin{Provider: "distribution", Receiver: "r", DeliveryID: "d-" + tag},
		Registry: "registry.test", Repository: "web", Tag: tag, Digest: "sha256:" + strings.Repeat("a", 64),
	})
	if err != nil {
		env.t.Fatal(err)
	}
	return out
}

// wait polls an execution until ok accepts it.
func (env *testEnv) wait(id int64, what string, ok func(*Execution) bool) *Execution {
	env.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var x *Execution
	for time.Now().Before(deadline) {
		var err error
		x, err = env.eng.Get(env.t.Context(), id)
		if err == nil && ok(x) {
			return x
		}
		time.Sleep(5 * time.Millisecond)
	}
	env.t.Fatalf("release order %d: %s: last state %+v", id, what, x)
	return nil
}

func statusIs(s Status) func(*Execution) bool {
	return func(x *Execution) bool { return x.Status == s }
}

// commitsOf counts the config repo commits an execution made.
func (env *testEnv) commitsOf(id int64) int {
	env.t.Helper()
	if _, err := env.repo.Fetch(env.t.Context()); err != nil {
		env.t.Fatal(err)
	}
	log, err := env.repo.Log(env.t.Context(), "", 0)
	if err != nil {
		env.t.Fatal(err)
	}
	n := 0
	for _, c := range log {
		for _, tr := range c.Trailers {
			if tr.Key == trailerRelease && tr.Value == strconv.FormatInt(id, 10) {
				n++
			}
		}
	}
	return n
}

func readFile(t *testing.T, repo *gitstore.Repo, p string) string {
	t.Helper()
	tree, err := repo.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(tree, p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPushJudgeApprove(t *testing.T) {
	env := newTestEnv(t, true, nil)
	started := env.push("v2")
	if len(started) != 1 || started[0].Status == StatusRefused {
		t.Fatalf("push started %v", started)
	}
	id := started[0].ID
	x := env.wait(id, "waiting for the judgment", statusIs(StatusWaiting))
	if x.Stages[0].Status != StageSucceeded || x.Stages[0].Outputs.Commit == "" {
		t.Fatalf("deploy stage: %+v", x.Stages[0])
	}
	k := readFile(t, env.repo, "applications/web/testing/kustomization.yaml")
	if !strings.Contains(k, "newTag: v2") || !strings.Contains(k, "digest: sha256:aaaa") {
		t.Fatalf("kustomization after deploy:\n%s", k)
	}
	// A redelivery of the same push starts nothing new.
	if again := env.push("v2"); len(again) != 1 || again[0].ID != id {
		t.Fatalf("redelivery started %v, want release order %d again", again, id)
	}
	if err := env.eng.Judge(t.Context(), id, "", true, "alice", "ship it"); err != nil {
		t.Fatal(err)
	}
	x = env.wait(id, "succeeded", statusIs(StatusSucceeded))
	if j := x.Stages[1].Outputs.Judgment; j == nil || !j.Approved || j.User != "alice" {
		t.Fatalf("judgment: %+v", j)
	}
	if k := readFile(t, env.repo, "applications/web/testing/kustomization.yaml"); !strings.Contains(k, "count: 3") {
		t.Fatalf("kustomization after scale:\n%s", k)
	}
	if err := env.eng.Judge(t.Context(), id, "", true, "alice", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("judging a finished release order: %v, want ErrConflict", err)
	}
}

func TestRejectStopsTheRest(t *testing.T) {
	env := newTestEnv(t, true, nil)
	id := env.push("v2")[0].ID
	env.wait(id, "waiting", statusIs(StatusWaiting))
	if err := env.eng.Judge(t.Context(), id, "judge", false, "bob", "not today"); err != nil {
		t.Fatal(err)
	}
	x := env.wait(id, "rejected", statusIs(StatusRejected))
	if x.Stages[2].Status != StageSkipped {
		t.Fatalf("scale stage after a rejection: %s", x.Stages[2].Status)
	}
	if !strings.Contains(x.Reason, "bob: not today") {
		t.Fatalf("reason %q", x.Reason)
	}
	if k := readFile(t, env.repo, "applications/web/testing/kustomization.yaml"); strings.Contains(k, "count: 3") {
		t.Fatalf("scaled after a rejection:\n%s", k)
	}
	// Restarting a rejected release order asks again; the deploy keeps its result.
	if err := env.eng.Restart(t.Context(), id, "carol"); err != nil {
		t.Fatal(err)
	}
	x = env.wait(id, "waiting again", statusIs(StatusWaiting))
	if x.Stages[0].Status != StageSucceeded || x.Stages[0].Attempts != 1 {
		t.Fatalf("deploy stage after restart: %+v", x.Stages[0])
	}
}

func TestConcurrencyOff(t *testing.T) {
	for name, keep := range map[string]bool{"keep waiting": true, "newest waits": false} {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, keep, nil)
			first := env.push("v2")[0].ID
			env.wait(first, "waiting", statusIs(StatusWaiting))
			second := env.push("v3")[0].ID
			third := env.push("v4")[0].ID
			env.wait(second, "queued", func(x *Execution) bool { return x.Status == StatusQueued || x.Status == StatusCanceled })
			if err := env.eng.Judge(t.Context(), first, "", true, "alice", ""); err != nil {
				t.Fatal(err)
			}
			env.wait(first, "succeeded", statusIs(StatusSucceeded))
			if keep {
				env.wait(second, "second runs next", statusIs(StatusWaiting))
				if x, _ := env.eng.Get(t.Context(), third); x.Status != StatusQueued {
					t.Fatalf("third while second runs: %s", x.Status)
				}
			} else {
				x := env.wait(second, "second canceled", statusIs(StatusCanceled))
				if !strings.Contains(x.Reason, "superseded") {
					t.Fatalf("reason %q", x.Reason)
				}
				env.wait(third, "third runs", statusIs(StatusWaiting))
			}
		})
	}
}

func TestResumeAfterCrashCommitsOnce(t *testing.T) {
	env := newTestEnv(t, true, nil)
	id := env.push("v2")[0].ID
	env.wait(id, "waiting", statusIs(StatusWaiting))
	env.halt() // the server stops while the execution waits
	env.start()
	x := env.wait(id, "waiting after restart", statusIs(StatusWaiting))
	if x.Stages[0].Status != StageSucceeded {
		t.Fatalf("deploy stage after restart: %s", x.Stages[0].Status)
	}
	if err := env.eng.Judge(t.Context(), id, "", true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	env.wait(id, "succeeded", statusIs(StatusSucceeded))
	if n := env.commitsOf(id); n != 2 {
		t.Fatalf("release order %d made %d commits, want 2 (deploy, scale)", id, n)
	}
}

func TestCancelAndMissingArtifact(t *testing.T) {
	env := newTestEnv(t, true, nil)
	id := env.push("v2")[0].ID
	env.wait(id, "waiting", statusIs(StatusWaiting))
	if err := env.eng.Cancel(t.Context(), id, "dave", "wrong build"); err != nil {
		t.Fatal(err)
	}
	x := env.wait(id, "canceled", statusIs(StatusCanceled))
	if !strings.Contains(x.Reason, "dave: wrong build") || x.Stages[1].Status != StageCanceled {
		t.Fatalf("after cancel: reason %q, judge %s", x.Reason, x.Stages[1].Status)
	}
	if err := env.eng.Cancel(t.Context(), id, "dave", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("second cancel: %v", err)
	}
	// A manual release order without the artifact a stage binds is refused.
	_, err := env.eng.Create(t.Context(), Request{Application: "web", Pipeline: "deploy", User: "dave"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "artifacts" {
		t.Fatalf("create without artifact: %v", err)
	}
	_, err = env.eng.Create(t.Context(), Request{Application: "web", Pipeline: "deploy", Artifacts: []string{"registry.test/web:latest"}})
	if !errors.As(err, &fe) || fe.Field != "artifacts[0]" {
		t.Fatalf("create with a non-matching artifact: %v", err)
	}
	_, err = env.eng.Create(t.Context(), Request{Application: "web", Pipeline: "deploy", Parameters: map[string]string{"nope": "1"}, Artifacts: []string{"registry.test/web:v7"}})
	if !errors.As(err, &fe) || fe.Field != "parameters.nope" {
		t.Fatalf("create with an unknown parameter: %v", err)
	}
	if _, err := env.eng.Create(t.Context(), Request{Application: "web", Pipeline: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("create of a missing pipeline: %v", err)
	}
}

// fakeClock moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func TestCronFiresInItsTimeZone(t *testing.T) {
	// 18:59 UTC is 02:59 in Shanghai: the 03:00 schedule is a minute away.
	clock := &fakeClock{now: time.Date(2026, 11, 25, 18, 59, 0, 0, time.UTC)}
	env := newTestEnv(t, true, clock)
	count := func() int {
		xs, err := env.eng.List(t.Context(), Filter{Application: "web"})
		if err != nil {
			t.Fatal(err)
		}
		return len(xs)
	}
	time.Sleep(50 * time.Millisecond) // the scheduler computes its first wake-up
	clock.Advance(30 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := count(); n != 0 {
		t.Fatalf("%d executions before 03:00 Shanghai", n)
	}
	clock.Advance(31 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	xs, _ := env.eng.List(t.Context(), Filter{Application: "web"})
	if len(xs) != 1 {
		t.Fatalf("%d executions after 03:00 Shanghai, want 1", len(xs))
	}
	// The cron trigger brings no image: the deploy stage binds one, so the
	// execution is refused, with the reason recorded.
	if xs[0].Trigger.Type != config.TriggerCron || xs[0].Status != StatusRefused || !strings.Contains(xs[0].Reason, "expected artifact image") {
		t.Fatalf("cron execution: %s %s %q", xs[0].Trigger.Type, xs[0].Status, xs[0].Reason)
	}
}

// TestGitTriggerSkipsReleaseCommits: a push of the config repo starts its
// git-triggered pipelines, but not when the pushed commit was made by a
// release order (which would loop).
func TestGitTriggerSkipsReleaseCommits(t *testing.T) {
	env := newTestEnv(t, true, nil)
	id := env.push("v2")[0].ID
	x := env.wait(id, "waiting", statusIs(StatusWaiting))
	pushed := func(after string) []Started {
		t.Helper()
		if err := env.rec.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		out, err := env.eng.OnGitPushed(t.Context(), webhooks.GitPushed{Repo: "team/config", Ref: "refs/heads/main", Branch: "main", After: after,
			Paths: []string{"applications/web/testing/kustomization.yaml"}}, true)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := pushed(x.Stages[0].Outputs.Commit)
	if len(got) != 1 || got[0].ID != 0 || !strings.Contains(got[0].Reason, "committed by release order") {
		t.Fatalf("push of a release order's commit started %+v", got)
	}
	rev, err := env.repo.Commit(t.Context(), "by hand", nil, func(w *gitstore.Worktree) error {
		return w.WriteFile("applications/web/testing/deployment.yaml", []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	got = pushed(rev)
	if len(got) != 1 || got[0].ID == 0 {
		t.Fatalf("push of a commit by hand started %+v", got)
	}
	env.wait(got[0].ID, "succeeded", statusIs(StatusSucceeded))
}

// TestCancelParentCancelsChild: canceling an execution whose pipeline
// stage waits for a child execution cancels the child too.
func TestCancelParentCancelsChild(t *testing.T) {
	env := newTestEnv(t, true, nil)
	parent, err := env.eng.Create(t.Context(), Request{Application: "web", Pipeline: "parent", User: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	x := env.wait(parent.ID, "the child started", func(x *Execution) bool { return x.Stages[0].Outputs.Child != 0 })
	child := x.Stages[0].Outputs.Child
	env.wait(child, "the child waits", statusIs(StatusWaiting))
	if c, _ := env.eng.Get(t.Context(), child); c.Trigger.Parent != parent.ID {
		t.Fatalf("child's parent %d, want %d", c.Trigger.Parent, parent.ID)
	}
	if err := env.eng.Cancel(t.Context(), parent.ID, "dave", ""); err != nil {
		t.Fatal(err)
	}
	env.wait(parent.ID, "parent canceled", statusIs(StatusCanceled))
	c := env.wait(child, "child canceled", statusIs(StatusCanceled))
	if !strings.Contains(c.Reason, fmt.Sprintf("parent release order %d stopped", parent.ID)) {
		t.Fatalf("child's reason %q", c.Reason)
	}
}
