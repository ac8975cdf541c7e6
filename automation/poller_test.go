package automation

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
)

func TestBestTag(t *testing.T) {
	tags := []string{"latest", "v1.0.0", "v2.0.0", "v2.10.0", "v2.9.1", "v3.0.0-rc1", "main-9", "main-10", "pr-7", "stable"}
	cases := map[string]struct {
		a    config.ImageAutomation
		tags []string
		want string // "" for none
	}{
		"semver highest in range":    {auto(func(a *config.ImageAutomation) { a.Semver = ">=2 <3" }), tags, "v2.10.0"},
		"semver skips prereleases":   {auto(func(a *config.ImageAutomation) { a.Semver = ">=2" }), tags, "v2.10.0"},
		"semver prerelease range":    {auto(func(a *config.ImageAutomation) { a.Semver = ">=3.0.0-0" }), tags, "v3.0.0-rc1"},
		"semver nothing in range":    {auto(func(a *config.ImageAutomation) { a.Semver = ">=4" }), tags, ""},
		"semver same version twice":  {auto(func(a *config.ImageAutomation) { a.Semver = "2" }), []string{"v2.0.0", "2.0.0"}, "v2.0.0"},
		"regex natural order":        {auto(func(a *config.ImageAutomation) { a.TagRegex = `^main-\d+$` }), tags, "main-10"},
		"regex no match":             {auto(func(a *config.ImageAutomation) { a.TagRegex = `^release-` }), tags, ""},
		"newest prefers versions":    {auto(func(a *config.ImageAutomation) { a.Newest = true }), tags, "v3.0.0-rc1"},
		"newest without versions":    {auto(func(a *config.ImageAutomation) { a.Newest = true }), []string{"build-9", "build-10", "build-010a"}, "build-010a"},
		"newest dates":               {auto(func(a *config.ImageAutomation) { a.Newest = true }), []string{"2026-11-09", "2026-11-25", "2026-2-1"}, "2026-11-25"},
		"newest bare numbers":        {auto(func(a *config.ImageAutomation) { a.Newest = true }), []string{"99", "100", "7"}, "100"},
		"newest release after rc":    {auto(func(a *config.ImageAutomation) { a.Newest = true }), []string{"v3.0.0", "v3.0.0-rc.2", "v2.99.0"}, "v3.0.0"},
		"regex dotted versions":      {auto(func(a *config.ImageAutomation) { a.TagRegex = `^1\.` }), []string{"1.9", "1.10", "1.2.3"}, "1.10"},
		"exact tag present":          {auto(func(a *config.ImageAutomation) { a.Tag = "stable" }), tags, "stable"},
		"exact tag absent":           {auto(func(a *config.ImageAutomation) { a.Tag = "edge" }), tags, ""},
		"no tags":                    {auto(func(a *config.ImageAutomation) { a.Newest = true }), nil, ""},
		"order of the list is moot":  {auto(func(a *config.ImageAutomation) { a.Semver = ">=2 <3" }), []string{"v2.10.0", "v2.9.1", "v2.0.0"}, "v2.10.0"},
		"leading zeros tie to bytes": {auto(func(a *config.ImageAutomation) { a.TagRegex = `^b` }), []string{"b07", "b7"}, "b7"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := BestTag(tc.a, tc.tags)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("BestTag = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	_, cfg := openRepo(t, seed(3))
	setPoll(cfg, "app00", time.Minute)
	setPoll(cfg, "app01", 10*time.Second)
	// app02 names app00's repository too, more often; app01 is alone.
	setPoll(cfg, "app02", 30*time.Second)
	cfg.Applications["app02"].Targets[0].Images[0].Repository = "127.0.0.1:5000/team/app00"
	cfg.Applications["app02"].Targets[0].Images = append(cfg.Applications["app02"].Targets[0].Images,
		config.ImageAutomation{Name: "webhooks-only", Repository: "127.0.0.1:5000/team/app00", Newest: true})
	got := map[string]time.Duration{}
	for repo, job := range plan(cfg) {
		got[repo] = job.Every
		if len(job.Automations) != 2-strings.Count(repo, "app01") {
			t.Errorf("%s: %d automations, want the polling ones", repo, len(job.Automations))
		}
	}
	want := map[string]time.Duration{"127.0.0.1:5000/team/app00": 30 * time.Second, "127.0.0.1:5000/team/app01": 10 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	view := pollView(cfg, "127.0.0.1:5000/team/app00")
	var names []string
	for _, ref := range view.TargetRefs() {
		_, tg, _ := view.Target(ref.App, ref.Target)
		for _, img := range tg.Images {
			names = append(names, ref.String()+" "+img.Name)
		}
	}
	if diff := cmp.Diff([]string{"app00/prod web", "app02/prod web"}, names); diff != "" {
		t.Errorf("poll view (-want +got):\n%s", diff)
	}
	if n := len(cfg.Applications["app02"].Targets[0].Images); n != 2 {
		t.Errorf("the view changed the config: app02 has %d automations", n)
	}
}

// testRegistry is an in-process OCI registry on 127.0.0.1. While down is
// set it refuses every request (403: the registry client retries 5xx with
// backoff, which would make a test's failing rounds slow), counting them.
type testRegistry struct {
	host    string
	down    atomic.Bool
	refused atomic.Int64
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			r.refused.Add(1)
			http.Error(w, "denied", http.StatusForbidden)
			return
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// push writes a random image as repo:tag and returns its digest.
func (r *testRegistry) push(t *testing.T, repoAndTag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(r.host+"/"+repoAndTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// seedAt is seed(n) with its images in the registry at host.
func seedAt(n int, host string) fstest.MapFS {
	files := seed(n)
	for _, f := range files {
		f.Data = bytes.ReplaceAll(f.Data, []byte("127.0.0.1:5000"), []byte(host))
	}
	return files
}

func setPoll(cfg *config.Repo, app string, every time.Duration) {
	cfg.Applications[app].Targets[0].Images[0].Poll = every
}

// runPoller runs p until the test ends, and checks that Run returns on cancel.
func runPoller(t *testing.T, p *Poller) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.Run(ctx); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func kustomization(t *testing.T, repo *gitstore.Repo, app string) string {
	t.Helper()
	tree, err := repo.Tree("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(tree, "applications/"+app+"/prod/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPollerBumps: tags pushed to a registry that sends no webhooks are
// found, the best one in range is committed once, and a later push is found
// too. An automation without poll on the same repository is left alone.
func TestPollerBumps(t *testing.T) {
	reg := startRegistry(t)
	repo, cfg := openRepo(t, seedAt(2, reg.host))
	image := reg.host + "/team/app00"
	setPoll(cfg, "app00", 50*time.Millisecond)
	// app01 automates the same repository, but by webhook only.
	cfg.Applications["app01"].Targets[0].Images[0].Repository = image
	app01 := kustomization(t, repo, "app01")

	for _, tag := range []string{"v1", "v2.0.0", "v3.0.0-rc1", "v3.0.0", "latest"} {
		reg.push(t, "team/app00:"+tag)
	}
	d21 := reg.push(t, "team/app00:v2.1.0")
	var mu sync.Mutex
	refreshed := 0
	counted := &countingRepo{Repo: repo}
	a := &Automator{Config: func() *config.Repo { return cfg }, Repo: counted, Refresh: func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		refreshed++
		return nil
	}}
	runPoller(t, &Poller{Config: func() *config.Repo { return cfg }, Automator: a})

	eventually(t, "v2.1.0 committed", func() bool {
		got := imageAt(t, repo, "app00")
		return got.NewTag == "v2.1.0" && got.Digest == d21
	})
	head, attempts := repo.Head(), counted.commits.Load()
	time.Sleep(300 * time.Millisecond) // several rounds
	if repo.Head() != head {
		t.Errorf("head moved from %s to %s with nothing new in the registry", head, repo.Head())
	}
	if n := counted.commits.Load() - attempts; n != 0 {
		t.Errorf("%d commits attempted with nothing new in the registry; want none (no fetch per round)", n)
	}
	history, err := repo.Log(t.Context(), "", 0)
	if err != nil || len(history) != 2 {
		t.Fatalf("history has %d commits (%v), want the seed and one bump", len(history), err)
	}
	if msg := history[0].Message; !strings.Contains(msg, "Reported by registry poll.") || !strings.Contains(msg, "Slipway-Image: "+image+":v2.1.0@"+d21) {
		t.Errorf("commit message:\n%s", msg)
	}
	if got := kustomization(t, repo, "app01"); got != app01 {
		t.Errorf("the webhook-only automation was bumped by a poll:\n%s", got)
	}

	d22 := reg.push(t, "team/app00:v2.2.0")
	eventually(t, "v2.2.0 committed", func() bool {
		got := imageAt(t, repo, "app00")
		return got.NewTag == "v2.2.0" && got.Digest == d22
	})
	// Handle refreshes after it commits: once per bump.
	eventually(t, "two refreshes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return refreshed == 2
	})
}

// TestPollerFollowsConfig: poll: added to the config later takes effect
// without a restart.
func TestPollerFollowsConfig(t *testing.T) {
	reg := startRegistry(t)
	repo, cfg := openRepo(t, seedAt(1, reg.host))
	d2 := reg.push(t, "team/app00:v2.0.0")
	var current atomic.Pointer[config.Repo]
	current.Store(cfg)
	a := &Automator{Config: current.Load, Repo: repo}
	runPoller(t, &Poller{Config: current.Load, Automator: a})

	time.Sleep(200 * time.Millisecond)
	if got := imageAt(t, repo, "app00"); got.NewTag != "v1" {
		t.Fatalf("bumped to %+v without poll set", got)
	}
	next := *cfg
	next.Applications = map[string]*config.Application{}
	for k, app := range cfg.Applications {
		cp := *app
		cp.Targets = append([]config.Target(nil), app.Targets...)
		cp.Targets[0].Images = append([]config.ImageAutomation(nil), app.Targets[0].Images...)
		next.Applications[k] = &cp
	}
	setPoll(&next, "app00", 50*time.Millisecond)
	current.Store(&next)
	eventually(t, "v2.0.0 committed after poll was set", func() bool {
		got := imageAt(t, repo, "app00")
		return got.NewTag == "v2.0.0" && got.Digest == d2
	})
}

// TestPollerLogsStateChanges: a failing registry is logged when it starts
// failing and when it recovers, not every round.
func TestPollerLogsStateChanges(t *testing.T) {
	reg := startRegistry(t)
	repo, cfg := openRepo(t, seedAt(1, reg.host))
	setPoll(cfg, "app00", 20*time.Millisecond)
	reg.push(t, "team/app00:v2.0.0")
	reg.down.Store(true)
	logs := &recorder{}
	a := &Automator{Config: func() *config.Repo { return cfg }, Repo: repo}
	runPoller(t, &Poller{Config: func() *config.Repo { return cfg }, Automator: a, Log: slog.New(logs)})

	eventually(t, "the failure logged", func() bool { return logs.count("registry poll failing") == 1 })
	eventually(t, "ten failing rounds", func() bool { return reg.refused.Load() >= 10 })
	reg.down.Store(false)
	eventually(t, "v2.0.0 committed after recovery", func() bool { return imageAt(t, repo, "app00").NewTag == "v2.0.0" })
	eventually(t, "the recovery logged", func() bool { return logs.count("registry poll recovered") == 1 })
	if n := logs.count("registry poll failing"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, logs)
	}
	if msg := logs.first("registry poll failing"); !strings.Contains(msg, reg.host+"/team/app00") {
		t.Errorf("failure log does not name the repository: %s", msg)
	}
}

// countingRepo counts commit attempts: each one fetches the config repo.
type countingRepo struct {
	*gitstore.Repo
	commits atomic.Int64
}

func (r *countingRepo) Commit(ctx context.Context, msg string, trailers []gitstore.Trailer, change gitstore.Change) (string, error) {
	r.commits.Add(1)
	return r.Repo.Commit(ctx, msg, trailers, change)
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu      sync.Mutex
	records []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	s := rec.Message
	rec.Attrs(func(a slog.Attr) bool { s += fmt.Sprintf(" %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, s)
	return nil
}

func (r *recorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.records {
		if strings.HasPrefix(s, msg+" ") || s == msg {
			n++
		}
	}
	return n
}

func (r *recorder) first(msg string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.records {
		if strings.HasPrefix(s, msg) {
			return s
		}
	}
	return ""
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.records, "\n")
}
