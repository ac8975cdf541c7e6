package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/pipeline"
)

// fakeReleases is a narrow stand-in for the pipeline engine.
type fakeReleases struct {
	mu       sync.Mutex
	execs    map[int64]*pipeline.Execution
	next     int64
	requests []pipeline.Request
	judged   []string
	canceled []string
}

func newFakeReleases() *fakeReleases {
	f := &fakeReleases{execs: map[int64]*pipeline.Execution{}}
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f.add(&pipeline.Execution{Application: "flaskapp", Pipeline: "deployTesting", Project: "cd-demo", Status: pipeline.StatusWaiting,
		Trigger: pipeline.Trigger{Type: config.TriggerManual, User: "token:ci"}, Revision: "abc", CreatedAt: t0, StartedAt: t0, Key: "k1",
		Stages: []*pipeline.StageState{
			{ID: "deploy", Name: "Deploy", Type: config.StageDeployManifest, Status: pipeline.StageSucceeded, StartedAt: t0, EndedAt: t0.Add(time.Minute),
				Log:     []pipeline.LogLine{{Time: t0, Msg: "committed abc"}},
				Outputs: pipeline.StageOutputs{Target: "testing", Commit: "abc", Health: "Healthy", JobLog: "long"}},
			{ID: "judge", Name: "Judge", Type: config.StageManualJudgment, DependsOn: []string{"deploy"}, Status: pipeline.StageWaiting, StartedAt: t0.Add(time.Minute)},
		}})
	f.add(&pipeline.Execution{Application: "other", Pipeline: "release", Project: "shop", Status: pipeline.StatusSucceeded,
		Trigger: pipeline.Trigger{Type: config.TriggerCron}, CreatedAt: t0, Key: "k2"})
	f.add(&pipeline.Execution{Application: "flaskapp", Pipeline: "deployTesting", Project: "cd-demo", Status: pipeline.StatusFailed,
		Trigger: pipeline.Trigger{Type: config.TriggerDocker}, CreatedAt: t0, Key: "k3"})
	return f
}

func (f *fakeReleases) add(ex *pipeline.Execution) {
	f.next++
	ex.ID = f.next
	f.execs[ex.ID] = ex
}

func (f *fakeReleases) Create(_ context.Context, req pipeline.Request) (*pipeline.Execution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if v, ok := req.Parameters["replicas"]; ok && v != "1" && v != "2" {
		return nil, &pipeline.FieldError{Field: "parameters.replicas", Msg: "want one of 1, 2"}
	}
	if req.Pipeline == "nope" {
		return nil, fmt.Errorf("pipeline %s/%s: %w", req.Application, req.Pipeline, pipeline.ErrNotFound)
	}
	ex := &pipeline.Execution{Application: req.Application, Pipeline: req.Pipeline, Project: "cd-demo", Status: pipeline.StatusQueued,
		Trigger: pipeline.Trigger{Type: config.TriggerManual, User: req.User}, Parameters: req.Parameters,
		CreatedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Key: "new",
		Stages: []*pipeline.StageState{{ID: "deploy", Name: "Deploy", Type: config.StageDeployManifest, Status: pipeline.StagePending}}}
	f.add(ex)
	return ex, nil
}

func (f *fakeReleases) Get(_ context.Context, id int64) (*pipeline.Execution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ex, ok := f.execs[id]
	if !ok {
		return nil, fmt.Errorf("release order %d: %w", id, pipeline.ErrNotFound)
	}
	return ex, nil
}

func (f *fakeReleases) List(_ context.Context, flt pipeline.Filter) ([]*pipeline.Execution, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*pipeline.Execution
	for id := f.next; id > 0; id-- {
		ex := f.execs[id]
		if (flt.Application == "" || ex.Application == flt.Application) && (flt.Pipeline == "" || ex.Pipeline == flt.Pipeline) &&
			(flt.Status == "" || ex.Status == flt.Status) {
			out = append(out, ex)
		}
	}
	if flt.Limit > 0 && len(out) > flt.Limit {
		out = out[:flt.Limit]
	}
	return out, nil
}

func (f *fakeReleases) Cancel(_ context.Context, id int64, user, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ex := f.execs[id]
	if ex.Status.Final() {
		return fmt.Errorf("release order %d is %s: %w", id, ex.Status, pipeline.ErrConflict)
	}
	ex.Status, ex.Reason = pipeline.StatusCanceled, reason
	f.canceled = append(f.canceled, user+": "+reason)
	return nil
}

func (f *fakeReleases) Restart(_ context.Context, id int64, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ex := f.execs[id]
	if !ex.Status.Final() {
		return fmt.Errorf("release order %d is %s: %w", id, ex.Status, pipeline.ErrConflict)
	}
	ex.Status = pipeline.StatusRunning
	return nil
}

func (f *fakeReleases) Judge(_ context.Context, id int64, stage string, approve bool, user, comment string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ex := f.execs[id]
	i := slices.IndexFunc(ex.Stages, func(s *pipeline.StageState) bool {
		return (stage == "" || s.ID == stage) && s.Status == pipeline.StageWaiting
	})
	if i < 0 {
		return fmt.Errorf("release order %d waits for no judgment: %w", id, pipeline.ErrConflict)
	}
	st := ex.Stages[i]
	st.Status = pipeline.StageSucceeded
	if !approve {
		st.Status, ex.Status = pipeline.StageRejected, pipeline.StatusRejected
	} else {
		ex.Status = pipeline.StatusRunning
	}
	st.Outputs.Judgment = &pipeline.Judgment{Approved: approve, User: user, Comment: comment, At: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	f.judged = append(f.judged, fmt.Sprintf("%d/%s %v %s %s", id, st.ID, approve, user, comment))
	return nil
}

func TestCreateRelease(t *testing.T) {
	ts := newTestServer(t)
	body := `{"application":"flaskapp","pipeline":"deployTesting","parameters":{"replicas":"2"},"artifacts":["registry.local/flaskapp:v2"]}`

	e := wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases", viewerSecret, body), http.StatusForbidden, "")
	if !strings.Contains(e.Error, "deployer") {
		t.Errorf("viewer refused with %q; want it to name the deployer role", e.Error)
	}
	if r := ts.audit.last(); r.Action != "release.create" || r.Actor != "token:look" || !strings.HasPrefix(r.Outcome, "denied: ") {
		t.Errorf("denied create audited as %+v", r)
	}
	e = wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases", shopSecret, body), http.StatusForbidden, "")
	if !strings.Contains(e.Error, "cd-demo") {
		t.Errorf("other project's deployer refused with %q; want it to name project cd-demo", e.Error)
	}
	if r := ts.audit.last(); r.Action != "release.create" || r.Subject != "flaskapp/deployTesting" || !strings.Contains(r.Outcome, "cd-demo") {
		t.Errorf("denied create audited as %+v", r)
	}
	if len(ts.releases.requests) != 0 {
		t.Fatalf("refused requests reached the engine: %+v", ts.releases.requests)
	}

	w := ts.do(t, http.MethodPost, "/api/v1/releases", ciSecret, body)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var ex pipeline.Execution
	if err := json.Unmarshal(w.Body.Bytes(), &ex); err != nil || ex.ID != 4 || ex.Status != pipeline.StatusQueued || ex.Trigger.User != "token:ci" {
		t.Errorf("created %+v (%v)", ex, err)
	}
	req := ts.releases.requests[0]
	if req.User != "token:ci" || req.Application != "flaskapp" || req.Pipeline != "deployTesting" || req.Parameters["replicas"] != "2" ||
		!slices.Equal(req.Artifacts, []string{"registry.local/flaskapp:v2"}) {
		t.Errorf("engine got %+v", req)
	}
	if r := ts.audit.last(); r.Action != "release.create" || r.Outcome != "ok" || r.Actor != "token:ci" || r.Subject != "flaskapp/deployTesting" || !strings.Contains(r.Detail, "release 4") {
		t.Errorf("create audited as %+v", r)
	}
}

func TestCreateReleaseBadRequests(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name, body string
		code       int
		field      string
	}{
		{"unknown field", `{"application":"flaskapp","pipeline":"deployTesting","paramters":{}}`, http.StatusBadRequest, "paramters"},
		{"wrong type", `{"application":"flaskapp","pipeline":"deployTesting","parameters":"replicas=2"}`, http.StatusBadRequest, "parameters"},
		{"wrong type inside", `{"application":"flaskapp","pipeline":"deployTesting","artifacts":[1]}`, http.StatusBadRequest, "artifacts"},
		{"missing pipeline", `{"application":"flaskapp"}`, http.StatusBadRequest, "pipeline"},
		{"missing application", `{"pipeline":"deployTesting"}`, http.StatusBadRequest, "application"},
		{"engine field error", `{"application":"flaskapp","pipeline":"deployTesting","parameters":{"replicas":"9"}}`, http.StatusBadRequest, "parameters.replicas"},
		{"no body", ``, http.StatusBadRequest, ""},
		{"not JSON", `{"application":`, http.StatusBadRequest, ""},
		{"an array", `[]`, http.StatusBadRequest, ""},
		{"two objects", `{"application":"flaskapp","pipeline":"deployTesting"} {}`, http.StatusBadRequest, ""},
		{"unknown pipeline", `{"application":"flaskapp","pipeline":"nope"}`, http.StatusNotFound, ""},
		{"unknown application", `{"application":"ghost","pipeline":"p"}`, http.StatusNotFound, "application"},
		{"too large", `{"application":"flaskapp","pipeline":"deployTesting","parameters":{"x":"` + strings.Repeat("a", maxBody) + `"}}`, http.StatusRequestEntityTooLarge, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases", ciSecret, tc.body), tc.code, tc.field)
			if tc.field != "" && !strings.Contains(e.Error, tc.field) {
				t.Errorf("message %q does not name %s", e.Error, tc.field)
			}
			if r := ts.audit.last(); r.Action != "release.create" || !strings.HasPrefix(r.Outcome, "error: ") {
				t.Errorf("audited as %+v", r)
			}
		})
	}
}

func TestListReleases(t *testing.T) {
	ts := newTestServer(t)
	list := func(secret, query string) []pipeline.Execution {
		t.Helper()
		w := ts.do(t, http.MethodGet, "/api/v1/releases"+query, secret, "")
		if w.Code != http.StatusOK {
			t.Fatalf("list%s: %d %s", query, w.Code, w.Body)
		}
		var out []pipeline.Execution
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ids := func(l []pipeline.Execution) []int64 {
		var out []int64
		for _, e := range l {
			out = append(out, e.ID)
		}
		return out
	}
	if got := ids(list(viewerSecret, "")); !slices.Equal(got, []int64{3, 2, 1}) {
		t.Errorf("all = %v", got)
	}
	if got := ids(list(ciSecret, "")); !slices.Equal(got, []int64{3, 1}) {
		t.Errorf("ci sees %v, want only cd-demo's", got)
	}
	if got := ids(list(ciSecret, "?limit=1")); !slices.Equal(got, []int64{3}) {
		t.Errorf("ci, limit 1: %v", got)
	}
	if got := ids(list(ciSecret, "?app=other")); len(got) != 0 {
		t.Errorf("ci sees other's: %v", got)
	}
	if got := ids(list(viewerSecret, "?status=waiting")); !slices.Equal(got, []int64{1}) {
		t.Errorf("waiting = %v", got)
	}
	if got := ids(list(viewerSecret, "?app=flaskapp&pipeline=deployTesting&limit=5")); !slices.Equal(got, []int64{3, 1}) {
		t.Errorf("flaskapp = %v", got)
	}
	for _, e := range list(viewerSecret, "") {
		for _, st := range e.Stages {
			if st.Log != nil || st.Outputs.JobLog != "" {
				t.Errorf("list shows the log of %d/%s", e.ID, st.ID)
			}
		}
	}
	// The engine's executions are not touched.
	if ts.releases.execs[1].Stages[0].Log == nil {
		t.Error("listing cleared the engine's log")
	}
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/releases?status=done", viewerSecret, ""), http.StatusBadRequest, "status")
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/releases?limit=0", viewerSecret, ""), http.StatusBadRequest, "limit")
}

func TestGetRelease(t *testing.T) {
	ts := newTestServer(t)
	w := ts.do(t, http.MethodGet, "/api/v1/releases/1", ciSecret, "")
	var ex pipeline.Execution
	if err := json.Unmarshal(w.Body.Bytes(), &ex); err != nil || w.Code != http.StatusOK || len(ex.Stages) != 2 || len(ex.Stages[0].Log) != 1 {
		t.Fatalf("get: %d %+v (%v)", w.Code, ex, err)
	}
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/releases/99", ciSecret, ""), http.StatusNotFound, "")
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/releases/x", ciSecret, ""), http.StatusBadRequest, "id")
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/releases/0", ciSecret, ""), http.StatusBadRequest, "id")
	e := wantError(t, ts.do(t, http.MethodGet, "/api/v1/releases/2", ciSecret, ""), http.StatusForbidden, "")
	if !strings.Contains(e.Error, "shop") {
		t.Errorf("403 %q does not name project shop", e.Error)
	}
}

func TestReleaseActions(t *testing.T) {
	ts := newTestServer(t)

	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/1/approve", viewerSecret, ""), http.StatusForbidden, "")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/1/approve", shopSecret, ""), http.StatusForbidden, "")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/1/approve", ciSecret, `{"stage":"judge","comment":"ok","extra":1}`), http.StatusBadRequest, "extra")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/1/approve", ciSecret, `{"stage":["judge"]}`), http.StatusBadRequest, "stage")
	if len(ts.releases.judged) != 0 {
		t.Fatalf("refused judgments reached the engine: %v", ts.releases.judged)
	}

	w := ts.do(t, http.MethodPost, "/api/v1/releases/1/approve", ciSecret, `{"comment":"looks good"}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("approve: %d %s", w.Code, w.Body)
	}
	var ex pipeline.Execution
	if err := json.Unmarshal(w.Body.Bytes(), &ex); err != nil || ex.Status != pipeline.StatusRunning || ex.Stages[1].Outputs.Judgment == nil {
		t.Errorf("after approve: %+v (%v)", ex, err)
	}
	if want := "1/judge true token:ci looks good"; len(ts.releases.judged) != 1 || ts.releases.judged[0] != want {
		t.Errorf("judged %v, want %q", ts.releases.judged, want)
	}
	if r := ts.audit.last(); r.Action != "release.approve" || r.Outcome != "ok" || r.Subject != "release 1 (flaskapp/deployTesting)" {
		t.Errorf("approve audited as %+v", r)
	}

	// Nothing waits any more: 409.
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/1/reject", ciSecret, `{"stage":"judge"}`), http.StatusConflict, "")
	if r := ts.audit.last(); r.Action != "release.reject" || !strings.HasPrefix(r.Outcome, "error: ") {
		t.Errorf("conflict audited as %+v", r)
	}

	w = ts.do(t, http.MethodPost, "/api/v1/releases/1/cancel", ciSecret, `{"reason":"wrong image"}`)
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), `"canceled"`) {
		t.Fatalf("cancel: %d %s", w.Code, w.Body)
	}
	if !slices.Equal(ts.releases.canceled, []string{"token:ci: wrong image"}) {
		t.Errorf("canceled %v", ts.releases.canceled)
	}
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/1/cancel", ciSecret, ""), http.StatusConflict, "")

	// Restart takes no body, or an empty object.
	if w := ts.do(t, http.MethodPost, "/api/v1/releases/3/restart", ciSecret, ""); w.Code != http.StatusAccepted {
		t.Errorf("restart: %d %s", w.Code, w.Body)
	}
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/3/restart", ciSecret, `{}`), http.StatusConflict, "")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/3/restart", ciSecret, `{"force":true}`), http.StatusBadRequest, "force")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/releases/42/restart", ciSecret, ""), http.StatusNotFound, "")
}

func TestPipelines(t *testing.T) {
	ts := newTestServer(t)
	w := ts.do(t, http.MethodGet, "/api/v1/applications/flaskapp/pipelines/deployTesting", ciSecret, "")
	var p Pipeline
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusOK {
		t.Fatalf("get: %d %s (%v)", w.Code, w.Body, err)
	}
	if p.Name != "deployTesting" || len(p.Stages) != 2 || p.Stages[1].DependsOn[0] != "deploy" || p.Stages[0].Target != "testing" ||
		len(p.Triggers) != 2 || p.Triggers[1].Schedule != "@hourly" || p.Triggers[1].Enabled || len(p.Parameters) != 1 ||
		len(p.ExpectedArtifacts) != 1 || !p.ExpectedArtifacts[0].UsePriorExecution {
		t.Errorf("pipeline %+v", p)
	}
	for _, s := range []string{`"dependsOn": []`, `"timeZone": "Asia/Shanghai"`} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("pipeline JSON lacks %s: %s", s, w.Body)
		}
	}
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/applications/flaskapp/pipelines/nope", ciSecret, ""), http.StatusNotFound, "pipeline")
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/applications/ghost/pipelines/nope", ciSecret, ""), http.StatusNotFound, "application")
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/applications/other/pipelines/release", ciSecret, ""), http.StatusForbidden, "")
}
