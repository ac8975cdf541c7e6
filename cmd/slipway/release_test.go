package main

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/api"
	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/pipeline"
	"github.com/slipwaycd/slipway/store"
)

func TestParseParams(t *testing.T) {
	got, err := parseParams([]string{"replicas=2", "url=http://x/?a=b,c", "empty="})
	want := map[string]string{"replicas": "2", "url": "http://x/?a=b,c", "empty": ""}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("parseParams = %v, %v; want %v", got, err, want)
	}
	if got, err := parseParams(nil); err != nil || len(got) != 0 {
		t.Errorf("no params = %v, %v", got, err)
	}
	for _, bad := range [][]string{
		{"replicas"},             // no =
		{"=2"},                   // empty key
		{" =2"},                  // blank key
		{"a =2"},                 // a space in the key
		{"a=1", "b=2", "a=3"},    // repeated
		{"a=1", "a=1"},           // repeated, same value
		{"replicas:2"},           // wrong separator
		{"ok=1", "also-bad-one"}, // one bad among good
	} {
		if got, err := parseParams(bad); err == nil {
			t.Errorf("parseParams(%q) = %v, want an error", bad, got)
		}
	}
}

// at is 10:00:00 UTC plus s seconds.
func at(s int) time.Time {
	return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
}

// execution builds a release order 12 of three stages from their
// statuses; started stages get times from their index.
func execution(status pipeline.Status, stages ...pipeline.StageStatus) *pipeline.Execution {
	ids := []string{"deploy", "judge", "notify"}
	ex := &pipeline.Execution{ID: 12, Application: "flaskapp", Pipeline: "deployTesting", Status: status}
	for i, st := range stages {
		s := &pipeline.StageState{ID: ids[i], Name: ids[i], Status: st}
		if st != pipeline.StagePending {
			s.StartedAt = at(60 * i)
		}
		if st.Done() {
			s.EndedAt = at(60*i + 30)
		}
		ex.Stages = append(ex.Stages, s)
	}
	return ex
}

func TestProgressLines(t *testing.T) {
	P, R, W, S, F := pipeline.StagePending, pipeline.StageRunning, pipeline.StageWaiting, pipeline.StageSucceeded, pipeline.StageFailed
	e0 := execution(pipeline.StatusQueued, P, P, P)
	e1 := execution(pipeline.StatusRunning, R, P, P)
	e2 := execution(pipeline.StatusWaiting, S, W, P)
	e2.Stages[0].Outputs = pipeline.StageOutputs{Target: "testing", Commit: "0123456789abcdef", Health: "Healthy"}
	e3 := execution(pipeline.StatusWaiting, S, W, P) // nothing changed
	e3.Stages[0].Outputs = e2.Stages[0].Outputs
	e4 := execution(pipeline.StatusFailed, S, S, F)
	e4.Stages[0].Outputs = e2.Stages[0].Outputs
	e4.Stages[1].Outputs.Judgment = &pipeline.Judgment{Approved: true, User: "token:ci", Comment: "ship it\nnow"}
	e4.Stages[2].Error = "webhook answered 500\nbody: oops"
	e4.Stages[2].Outputs.HTTPStatus = 500

	steps := []struct {
		prev, cur *pipeline.Execution
		want      []string
	}{
		{nil, e0, nil},
		{e0, e1, []string{"10:00:00  deploy  running"}},
		{e1, e2, []string{
			"10:00:30  deploy  succeeded       commit 0123456789ab, health Healthy",
			"10:01:00  judge   waiting",
			"          waiting for a judgment: slipway release approve 12  (or: slipway release reject 12)",
		}},
		{e2, e3, nil},
		{e3, e4, []string{
			"10:01:30  judge   succeeded       approved by token:ci: ship it",
			"10:02:30  notify  failed          webhook answered 500, HTTP 500",
		}},
		// Joining late: everything that is not pending, at once.
		{nil, e2, []string{
			"10:00:30  deploy  succeeded       commit 0123456789ab, health Healthy",
			"10:01:00  judge   waiting",
			"          waiting for a judgment: slipway release approve 12  (or: slipway release reject 12)",
		}},
	}
	for i, s := range steps {
		got := progressLines(s.prev, s.cur, time.UTC)
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d:\n got %q\nwant %q", i, got, s.want)
		}
	}

	// Two stages waiting: the hint names the stage.
	two := execution(pipeline.StatusWaiting, W, W)
	got := progressLines(nil, two, time.UTC)
	if len(got) != 4 || !strings.Contains(got[1], "approve 12 --stage deploy") || !strings.Contains(got[3], "reject 12 --stage judge") {
		t.Errorf("two waiting: %q", got)
	}
}

func TestResolveToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ flag, server, env, want string }{
		{"f", "http://127.0.0.1:8080", "e", "f"},
		{"", "http://127.0.0.1:8080", "e", "e"},
		{"", "http://127.0.0.1:8080", "", "from-file"},
		{"", "http://localhost:9", "", "from-file"},
		{"", "http://[::1]:8080", "", "from-file"},
		{"", "https://slipway.example.com", "", ""}, // never sent elsewhere
		{"", "http://10.0.0.1:8080", "", ""},
	}
	for _, c := range cases {
		if got := resolveToken(c.flag, c.server, c.env, file); got != c.want {
			t.Errorf("resolveToken(%q, %q, %q) = %q, want %q", c.flag, c.server, c.env, got, c.want)
		}
	}
	if got := resolveToken("", "http://127.0.0.1:8080", "", filepath.Join(t.TempDir(), "none")); got != "" {
		t.Errorf("without a file: %q", got)
	}
}

// cliEngine is a pipeline engine whose release order advances one step
// each time it is read.
type cliEngine struct {
	mu    sync.Mutex
	ex    *pipeline.Execution
	steps []*pipeline.Execution
	reqs  []pipeline.Request
}

func (e *cliEngine) Create(_ context.Context, req pipeline.Request) (*pipeline.Execution, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reqs = append(e.reqs, req)
	e.ex = e.steps[0]
	return e.ex, nil
}

func (e *cliEngine) Get(_ context.Context, id int64) (*pipeline.Execution, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ex == nil || id != e.ex.ID {
		return nil, fmt.Errorf("release order %d: %w", id, pipeline.ErrNotFound)
	}
	if i := slices.Index(e.steps, e.ex); i+1 < len(e.steps) {
		e.ex = e.steps[i+1]
	}
	return e.ex, nil
}

func (e *cliEngine) List(context.Context, pipeline.Filter) ([]*pipeline.Execution, error) {
	return []*pipeline.Execution{e.steps[len(e.steps)-1]}, nil
}
func (e *cliEngine) Cancel(context.Context, int64, string, string) error              { return nil }
func (e *cliEngine) Restart(context.Context, int64, string) error                     { return nil }
func (e *cliEngine) Judge(context.Context, int64, string, bool, string, string) error { return nil }

// cliTokens knows one admin token.
type cliTokens struct{}

func (cliTokens) CreateToken(context.Context, store.Token) (string, store.Token, error) {
	return "", store.Token{}, store.ErrTokenExists
}
func (cliTokens) CreateTokenWithSecret(context.Context, store.Token, string) (store.Token, error) {
	return store.Token{}, store.ErrTokenExists
}
func (cliTokens) TokenBySecret(_ context.Context, s string) (store.Token, error) {
	if s != "cli-secret" {
		return store.Token{}, store.ErrNotFound
	}
	return store.Token{Name: "me", Role: api.RoleAdmin, Projects: []string{"*"}}, nil
}
func (cliTokens) Tokens(context.Context) ([]store.Token, error) { return nil, nil }
func (cliTokens) DeleteToken(context.Context, string) error     { return store.ErrNotFound }

func TestReleaseCreateWait(t *testing.T) {
	t.Setenv("SLIPWAY_TOKEN", "")
	t.Setenv("SLIPWAY_DATA_DIR", t.TempDir())
	ok := execution(pipeline.StatusSucceeded, pipeline.StageSucceeded, pipeline.StageSucceeded)
	ok.StartedAt, ok.EndedAt = at(0), at(90)
	engine := &cliEngine{steps: []*pipeline.Execution{
		execution(pipeline.StatusQueued, pipeline.StagePending, pipeline.StagePending),
		execution(pipeline.StatusRunning, pipeline.StageRunning, pipeline.StagePending),
		ok,
	}}
	repo := &config.Repo{Applications: map[string]*config.Application{"flaskapp": {Name: "flaskapp"}}}
	srv := httptest.NewServer((&api.Server{Releases: engine, Tokens: cliTokens{}, Config: func() *config.Repo { return repo }}).Handler())
	defer srv.Close()

	_, _, err := runCLI(t, "release", "list", "--server", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "missing API token") || !strings.Contains(err.Error(), "--token") {
		t.Errorf("without a token: %v", err)
	}

	out, _, err := runCLI(t, "release", "create", "--server", srv.URL, "--token", "cli-secret",
		"--app", "flaskapp", "--pipeline", "deployTesting", "--param", "replicas=2", "--artifact", "registry.local/flaskapp:v2", "--wait", "--timeout", "30s")
	if err != nil {
		t.Fatalf("create --wait: %v\n%s", err, out)
	}
	for _, want := range []string{"release order 12 created (flaskapp/deployTesting)", "deploy  running", "deploy  succeeded", "judge   succeeded", "release order 12 succeeded in 1m30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if r := engine.reqs[0]; r.User != "token:me" || r.Parameters["replicas"] != "2" || !slices.Equal(r.Artifacts, []string{"registry.local/flaskapp:v2"}) {
		t.Errorf("engine got %+v", r)
	}

	out, _, err = runCLI(t, "release", "list", "--server", srv.URL, "--token", "cli-secret")
	if err != nil || !strings.Contains(out, "ID") || !strings.Contains(out, "flaskapp") || !strings.Contains(out, "succeeded") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "release", "show", "12", "--server", srv.URL, "--token", "cli-secret")
	if err != nil || !strings.Contains(out, "Release order:  12") || !strings.Contains(out, "Stages:") {
		t.Errorf("show: %v\n%s", err, out)
	}

	// A failed order fails the command.
	bad := execution(pipeline.StatusFailed, pipeline.StageFailed)
	bad.Reason, bad.Stages[0].Error = "stage deploy failed", "sync failed"
	engine.steps = []*pipeline.Execution{execution(pipeline.StatusRunning, pipeline.StageRunning), bad}
	out, _, err = runCLI(t, "release", "create", "--server", srv.URL, "--token", "cli-secret", "--app", "flaskapp", "--pipeline", "deployTesting", "--wait")
	if err == nil || !strings.Contains(err.Error(), "release order 12 failed: stage deploy failed") || !strings.Contains(out, "deploy  failed") {
		t.Errorf("failed order: %v\n%s", err, out)
	}

	if _, _, err := runCLI(t, "release", "create", "--server", srv.URL, "--token", "cli-secret", "--app", "flaskapp", "--pipeline", "deployTesting", "--param", "a"); err == nil {
		t.Error("a bad --param was sent")
	}
}
