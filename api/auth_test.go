package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/store"
)

// fakeTokens is an in-memory TokenStore.
type fakeTokens struct {
	mu     sync.Mutex
	byName map[string]store.Token
	secret map[string]string // secret → name
	nextID int64
	n      int
}

func newFakeTokens() *fakeTokens {
	return &fakeTokens{byName: map[string]store.Token{}, secret: map[string]string{}}
}

func (f *fakeTokens) CreateToken(ctx context.Context, t store.Token) (string, store.Token, error) {
	f.mu.Lock()
	f.n++
	secret := "generated-secret-" + string(rune('a'+f.n))
	f.mu.Unlock()
	saved, err := f.CreateTokenWithSecret(ctx, t, secret)
	return secret, saved, err
}

func (f *fakeTokens) CreateTokenWithSecret(_ context.Context, t store.Token, secret string) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byName[t.Name]; ok {
		return store.Token{}, store.ErrTokenExists
	}
	f.nextID++
	t.ID, t.CreatedAt = f.nextID, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.byName[t.Name] = t
	f.secret[secret] = t.Name
	return t, nil
}

func (f *fakeTokens) TokenBySecret(_ context.Context, secret string) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := f.secret[secret]
	if !ok {
		return store.Token{}, store.ErrNotFound
	}
	return f.byName[name], nil
}

func (f *fakeTokens) Tokens(context.Context) ([]store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Token
	for _, t := range f.byName {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b store.Token) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeTokens) DeleteToken(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byName[name]; !ok {
		return store.ErrNotFound
	}
	delete(f.byName, name)
	for s, n := range f.secret {
		if n == name {
			delete(f.secret, s)
		}
	}
	return nil
}

// fakeAudit collects audit records.
type fakeAudit struct {
	mu      sync.Mutex
	records []store.AuditRecord
}

func (f *fakeAudit) Audit(_ context.Context, r store.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.ID, r.At = int64(len(f.records)+1), time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	f.records = append(f.records, r)
	return nil
}

func (f *fakeAudit) AuditLog(_ context.Context, limit int) ([]store.AuditRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.records)
	slices.Reverse(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeAudit) last() store.AuditRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.records) == 0 {
		return store.AuditRecord{}
	}
	return f.records[len(f.records)-1]
}

// The secrets of the test tokens.
const (
	adminSecret    = "s-admin"    // admin, all projects
	viewerSecret   = "s-viewer"   // viewer, all projects
	ciSecret       = "s-ci"       // deployer, project cd-demo
	shopSecret     = "s-shop"     // deployer, project shop
	deployAllToken = "s-deployer" // deployer, all projects
)

// testRepo has flaskapp in project cd-demo, other in shop, and loose in
// none.
func testRepo() *config.Repo {
	return &config.Repo{
		Projects: map[string]*config.Project{
			"cd-demo": {Name: "cd-demo", Applications: []string{"flaskapp"}},
			"shop":    {Name: "shop", Applications: []string{"other"}},
		},
		Applications: map[string]*config.Application{
			"flaskapp": {Name: "flaskapp", Targets: []config.Target{{Name: "testing"}}, Pipelines: []*config.Pipeline{{
				Name: "deployTesting", Application: "flaskapp", Description: "to testing",
				ExpectedArtifacts: []config.ExpectedArtifact{{ID: "image", Type: config.ArtifactDockerImage, Repository: "registry.local/flaskapp", UsePriorExecution: true}},
				Triggers: []config.Trigger{
					{Type: config.TriggerDocker, Enabled: true, Artifacts: []string{"image"}},
					{Type: config.TriggerCron, Enabled: false, Schedule: "@hourly", TimeZone: "Asia/Shanghai"},
				},
				Parameters: []config.Parameter{{Name: "replicas", Label: "Replicas", Default: "1", Options: []string{"1", "2"}}},
				Stages: []config.Stage{
					{ID: "deploy", Name: "Deploy", Type: config.StageDeployManifest, Target: "testing"},
					{ID: "judge", Name: "Judge", Type: config.StageManualJudgment, DependsOn: []string{"deploy"}},
				},
			}}},
			"other": {Name: "other", Targets: []config.Target{{Name: "prod"}}, Pipelines: []*config.Pipeline{{
				Name: "release", Application: "other", Stages: []config.Stage{{ID: "wait", Name: "Wait", Type: config.StageWait}},
			}}},
			"loose": {Name: "loose", Pipelines: []*config.Pipeline{{Name: "p", Application: "loose"}}},
		},
	}
}

// testServer is a Server with every test token, the test repo, fake
// releases and an audit log.
type testServer struct {
	*Server
	tokens   *fakeTokens
	audit    *fakeAudit
	releases *fakeReleases
	rec      *fakeReconciler
	h        http.Handler
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{tokens: newFakeTokens(), audit: &fakeAudit{}, releases: newFakeReleases(), rec: &fakeReconciler{}}
	for _, tok := range []struct {
		secret, name, role string
		projects           []string
	}{
		{adminSecret, "root", RoleAdmin, []string{"*"}},
		{viewerSecret, "look", RoleViewer, []string{"*"}},
		{ciSecret, "ci", RoleDeployer, []string{"cd-demo"}},
		{shopSecret, "shop", RoleDeployer, []string{"shop"}},
		{deployAllToken, "deploy-all", RoleDeployer, []string{"*"}},
	} {
		if _, err := ts.tokens.CreateTokenWithSecret(context.Background(), store.Token{Name: tok.name, Role: tok.role, Projects: tok.projects}, tok.secret); err != nil {
			t.Fatal(err)
		}
	}
	repo := testRepo()
	ts.Server = &Server{Reconciler: ts.rec, Releases: ts.releases, Tokens: ts.tokens, Audit: ts.audit, Config: func() *config.Repo { return repo }}
	ts.h = ts.Handler()
	return ts
}

// do serves one request; every answer to a route in the OpenAPI document
// is validated against it.
func (ts *testServer) do(t *testing.T, method, path, secret, body string) *httptest.ResponseRecorder {
	t.Helper()
	return serve(t, ts.h, method, path, secret, body)
}

func serve(t *testing.T, h http.Handler, method, path, secret, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	checkAgainstSpec(t, method, path, secret, body, w)
	return w
}

// wantError checks an error answer's status and field.
func wantError(t *testing.T, w *httptest.ResponseRecorder, code int, field string) Error {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d: %s", w.Code, code, w.Body)
	}
	var e Error
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("error body %s: %v", w.Body, err)
	}
	if e.Field != field {
		t.Errorf("field %q, want %q (%s)", e.Field, field, e.Error)
	}
	return e
}

func TestAuthentication(t *testing.T) {
	ts := newTestServer(t)
	w := ts.do(t, http.MethodGet, "/api/v1/targets", "", "")
	e := wantError(t, w, http.StatusUnauthorized, "")
	if e.Error != "missing API token: send Authorization: Bearer <token>" {
		t.Errorf("message %q", e.Error)
	}
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="slipway"` {
		t.Errorf("WWW-Authenticate %q", got)
	}

	w = ts.do(t, http.MethodGet, "/api/v1/targets", "wrong", "")
	wantError(t, w, http.StatusUnauthorized, "")
	if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
	}

	req := httptest.NewRequest(http.MethodGet, "/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Basic "+viewerSecret)
	w = httptest.NewRecorder()
	ts.h.ServeHTTP(w, req)
	wantError(t, w, http.StatusUnauthorized, "")

	// The scheme is case-insensitive.
	req = httptest.NewRequest(http.MethodGet, "/api/v1/whoami", nil)
	req.Header.Set("Authorization", "bearer "+viewerSecret)
	w = httptest.NewRecorder()
	ts.h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("lower-case bearer: %d %s", w.Code, w.Body)
	}

	w = ts.do(t, http.MethodGet, "/api/v1/whoami", ciSecret, "")
	var me store.Token
	if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil || me.Name != "ci" || me.Role != RoleDeployer {
		t.Errorf("whoami = %+v (%v) %s", me, err, w.Body)
	}

	// The OpenAPI document needs no token.
	w = ts.do(t, http.MethodGet, "/api/v1/openapi.yaml", "", "")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), "openapi: 3.0.3") {
		t.Errorf("openapi.yaml: %d %.40s", w.Code, w.Body)
	}

	// Without a token store nobody is let in.
	h := (&Server{Reconciler: ts.rec}).Handler()
	w = serve(t, h, http.MethodGet, "/api/v1/targets", adminSecret, "")
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("no token store: %d %s", w.Code, w.Body)
	}
}

func TestRoles(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name, method, path, secret, body string
		want                             int
		msg                              string // in the error
	}{
		{"viewer reads", http.MethodGet, "/api/v1/targets", viewerSecret, "", http.StatusOK, ""},
		{"viewer may not sync", http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", viewerSecret, "", http.StatusForbidden, "needs role deployer"},
		{"deployer syncs", http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", ciSecret, "", http.StatusAccepted, ""},
		{"deployer of another project", http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", shopSecret, "", http.StatusForbidden, "needs project cd-demo"},
		{"deployer refreshes", http.MethodPost, "/api/v1/refresh", ciSecret, "", http.StatusAccepted, ""},
		{"deployer may not resync", http.MethodPost, "/api/v1/resync", deployAllToken, "", http.StatusForbidden, "needs role admin"},
		{"admin resyncs", http.MethodPost, "/api/v1/resync", adminSecret, "", http.StatusAccepted, ""},
		{"deployer may not list tokens", http.MethodGet, "/api/v1/tokens", deployAllToken, "", http.StatusForbidden, "needs role admin"},
		{"viewer may not read audit", http.MethodGet, "/api/v1/audit", viewerSecret, "", http.StatusForbidden, "needs role admin"},
		{"scoped token, other project's target", http.MethodGet, "/api/v1/targets/other/prod", ciSecret, "", http.StatusForbidden, "needs project shop"},
		{"scoped token, unbound app", http.MethodGet, "/api/v1/applications/loose/pipelines/p", ciSecret, "", http.StatusForbidden, "bound to no project"},
		{"all-projects token, unbound app", http.MethodGet, "/api/v1/applications/loose/pipelines/p", viewerSecret, "", http.StatusOK, ""},
		{"scoped history", http.MethodGet, "/api/v1/targets/other/prod/history", ciSecret, "", http.StatusForbidden, "needs project shop"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := ts.do(t, tc.method, tc.path, tc.secret, tc.body)
			if w.Code != tc.want {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, w.Code, tc.want, w.Body)
			}
			if tc.msg != "" && !strings.Contains(w.Body.String(), tc.msg) {
				t.Errorf("error %s does not say %q", w.Body, tc.msg)
			}
		})
	}
}

func TestListsFilterByProject(t *testing.T) {
	ts := newTestServer(t)
	var list TargetList
	w := ts.do(t, http.MethodGet, "/api/v1/targets", ciSecret, "")
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Targets) != 1 || list.Targets[0].Application != "flaskapp" {
		t.Errorf("ci's targets = %+v (%v)", list.Targets, err)
	}
	w = ts.do(t, http.MethodGet, "/api/v1/targets?app=other", ciSecret, "")
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != http.StatusOK || len(list.Targets) != 0 {
		t.Errorf("ci's targets of other = %d %+v (%v)", w.Code, list.Targets, err)
	}

	var pipes []Pipeline
	w = ts.do(t, http.MethodGet, "/api/v1/pipelines", ciSecret, "")
	if err := json.Unmarshal(w.Body.Bytes(), &pipes); err != nil || len(pipes) != 1 || pipes[0].Name != "deployTesting" {
		t.Errorf("ci's pipelines = %+v (%v)", pipes, err)
	}
	w = ts.do(t, http.MethodGet, "/api/v1/pipelines", viewerSecret, "")
	if err := json.Unmarshal(w.Body.Bytes(), &pipes); err != nil || len(pipes) != 3 {
		t.Errorf("all pipelines = %+v (%v)", pipes, err)
	}
	w = ts.do(t, http.MethodGet, "/api/v1/pipelines?app=other", ciSecret, "")
	if err := json.Unmarshal(w.Body.Bytes(), &pipes); err != nil || w.Code != http.StatusOK || len(pipes) != 0 {
		t.Errorf("ci's pipelines of other = %d %+v (%v)", w.Code, pipes, err)
	}
}

func TestTokens(t *testing.T) {
	ts := newTestServer(t)

	body := `{"name":"robot","role":"deployer","projects":["cd-demo"]}`
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", deployAllToken, body), http.StatusForbidden, "")
	if r := ts.audit.last(); r.Action != "token.create" || !strings.HasPrefix(r.Outcome, "denied: ") || r.Actor != "token:deploy-all" {
		t.Errorf("denied token.create audited as %+v", r)
	}

	w := ts.do(t, http.MethodPost, "/api/v1/tokens", adminSecret, body)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var created CreatedToken
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || created.Secret == "" || created.Token.Name != "robot" ||
		created.Token.CreatedBy != "token:root" || !slices.Equal(created.Token.Projects, []string{"cd-demo"}) {
		t.Fatalf("created %+v (%v)", created, err)
	}
	if r := ts.audit.last(); r.Action != "token.create" || r.Outcome != "ok" || r.Subject != "token robot" || r.Actor != "token:root" {
		t.Errorf("token.create audited as %+v", r)
	}
	// The new secret works, with its role.
	w = ts.do(t, http.MethodGet, "/api/v1/whoami", created.Secret, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"robot"`) {
		t.Errorf("whoami with the new secret: %d %s", w.Code, w.Body)
	}

	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", adminSecret, body), http.StatusConflict, "name")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", adminSecret, `{"name":"x","role":"boss","projects":["*"]}`), http.StatusBadRequest, "role")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", adminSecret, `{"name":"Not_A_Label","role":"viewer","projects":["*"]}`), http.StatusBadRequest, "name")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", adminSecret, `{"name":"x","role":"viewer","projects":[]}`), http.StatusBadRequest, "projects")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", adminSecret, `{"name":"x","role":"viewer"}`), http.StatusBadRequest, "projects")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", adminSecret, `{"name":"x","role":"viewer","projects":["*"],"secret":"mine"}`), http.StatusBadRequest, "secret")

	var list []store.Token
	w = ts.do(t, http.MethodGet, "/api/v1/tokens", adminSecret, "")
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list) != 6 {
		t.Errorf("tokens = %+v (%v)", list, err)
	}
	if strings.Contains(w.Body.String(), created.Secret) {
		t.Error("the token list shows a secret")
	}

	wantError(t, ts.do(t, http.MethodDelete, "/api/v1/tokens/robot", deployAllToken, ""), http.StatusForbidden, "")
	w = ts.do(t, http.MethodDelete, "/api/v1/tokens/robot", adminSecret, "")
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if r := ts.audit.last(); r.Action != "token.delete" || r.Outcome != "ok" || r.Subject != "token robot" {
		t.Errorf("token.delete audited as %+v", r)
	}
	wantError(t, ts.do(t, http.MethodGet, "/api/v1/whoami", created.Secret, ""), http.StatusUnauthorized, "")
	wantError(t, ts.do(t, http.MethodDelete, "/api/v1/tokens/robot", adminSecret, ""), http.StatusNotFound, "name")

	var recs []store.AuditRecord
	w = ts.do(t, http.MethodGet, "/api/v1/audit?limit=2", adminSecret, "")
	if err := json.Unmarshal(w.Body.Bytes(), &recs); err != nil || len(recs) != 2 || recs[0].Action != "token.delete" {
		t.Errorf("audit = %+v (%v)", recs, err)
	}
}

// A token for some projects gives only those, and deletes only tokens
// within them.
func TestScopedAdmin(t *testing.T) {
	ts := newTestServer(t)
	if _, err := ts.tokens.CreateTokenWithSecret(context.Background(), store.Token{Name: "demo-admin", Role: RoleAdmin, Projects: []string{"cd-demo"}}, "s-demo-admin"); err != nil {
		t.Fatal(err)
	}
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", "s-demo-admin", `{"name":"all","role":"admin","projects":["*"]}`), http.StatusForbidden, "projects")
	wantError(t, ts.do(t, http.MethodPost, "/api/v1/tokens", "s-demo-admin", `{"name":"s","role":"viewer","projects":["shop"]}`), http.StatusForbidden, "projects")
	if w := ts.do(t, http.MethodPost, "/api/v1/tokens", "s-demo-admin", `{"name":"d","role":"viewer","projects":["cd-demo"]}`); w.Code != http.StatusCreated {
		t.Errorf("within its project: %d %s", w.Code, w.Body)
	}
	wantError(t, ts.do(t, http.MethodDelete, "/api/v1/tokens/root", "s-demo-admin", ""), http.StatusForbidden, "")
	if w := ts.do(t, http.MethodDelete, "/api/v1/tokens/ci", "s-demo-admin", ""); w.Code != http.StatusNoContent {
		t.Errorf("delete within its project: %d %s", w.Code, w.Body)
	}
}

func TestAuditOfMutations(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", ciSecret, "")
	if r := ts.audit.last(); r.Actor != "token:ci" || r.Action != "target.sync" || r.Subject != "flaskapp/testing" || r.Outcome != "ok" {
		t.Errorf("sync audited as %+v", r)
	}
	ts.do(t, http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", shopSecret, "")
	if r := ts.audit.last(); r.Actor != "token:shop" || r.Action != "target.sync" || !strings.HasPrefix(r.Outcome, "denied: ") || !strings.Contains(r.Outcome, "cd-demo") {
		t.Errorf("denied sync audited as %+v", r)
	}
	ts.do(t, http.MethodPost, "/api/v1/resync", "", "")
	if r := ts.audit.last(); r.Actor != "anonymous" || r.Action != "resync" || !strings.HasPrefix(r.Outcome, "denied: missing API token") {
		t.Errorf("anonymous resync audited as %+v", r)
	}
	ts.do(t, http.MethodPost, "/api/v1/targets/flaskapp/nope/sync", ciSecret, "")
	if r := ts.audit.last(); r.Action != "target.sync" || !strings.HasPrefix(r.Outcome, "error: ") {
		t.Errorf("failed sync audited as %+v", r)
	}
	n := len(ts.audit.records)
	ts.do(t, http.MethodGet, "/api/v1/targets", ciSecret, "")
	ts.do(t, http.MethodGet, "/api/v1/releases", ciSecret, "")
	if len(ts.audit.records) != n {
		t.Errorf("reads were audited: %+v", ts.audit.records[n:])
	}
}

func TestEnsureAdminToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "admin-token")
	tokens := newFakeTokens()

	secret, created, err := EnsureAdminToken(ctx, tokens, path)
	if err != nil || !created || secret == "" {
		t.Fatalf("first: %q %v %v", secret, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != secret {
		t.Errorf("file holds %q, want the secret %q", b, secret)
	}
	tok, err := tokens.TokenBySecret(ctx, secret)
	if err != nil || tok.Name != "admin" || tok.Role != RoleAdmin || !slices.Equal(tok.Projects, []string{"*"}) {
		t.Errorf("token %+v (%v)", tok, err)
	}

	// Reused: same secret, nothing created.
	again, created, err := EnsureAdminToken(ctx, tokens, path)
	if err != nil || created || again != secret {
		t.Errorf("again: %q %v %v", again, created, err)
	}

	// The file survives a new database: the token is made with its secret.
	fresh := newFakeTokens()
	again, created, err = EnsureAdminToken(ctx, fresh, path)
	if err != nil || !created || again != secret {
		t.Errorf("new store: %q %v %v", again, created, err)
	}
	if tok, err := fresh.TokenBySecret(ctx, secret); err != nil || tok.Name != "admin" {
		t.Errorf("new store's token %+v (%v)", tok, err)
	}

	// A file with another secret than the admin token's: refused.
	other := filepath.Join(dir, "other-token")
	if err := os.WriteFile(other, []byte("not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureAdminToken(ctx, tokens, other); err == nil {
		t.Error("a file with another secret than the existing admin token's was accepted")
	}

	// The file of a non-admin token: refused.
	if _, err := tokens.CreateTokenWithSecret(ctx, store.Token{Name: "v", Role: RoleViewer, Projects: []string{"*"}}, "viewer-secret"); err != nil {
		t.Fatal(err)
	}
	vf := filepath.Join(dir, "viewer-token")
	if err := os.WriteFile(vf, []byte("viewer-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureAdminToken(ctx, tokens, vf); err == nil {
		t.Error("a viewer's secret was accepted as the admin token")
	}

	// An empty file fails closed.
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureAdminToken(ctx, newFakeTokens(), empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}

	// The file lost, the token left: a new token replaces it.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	renewed, created, err := EnsureAdminToken(ctx, tokens, path)
	if err != nil || !created || renewed == secret {
		t.Fatalf("file lost: %q %v %v", renewed, created, err)
	}
	if _, err := tokens.TokenBySecret(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old secret still works: %v", err)
	}
}

// TestWithStore runs the bootstrap, token management and the audit log on
// the real store.
func TestWithStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(t.TempDir(), "admin-token")
	secret, created, err := EnsureAdminToken(ctx, db, path)
	if err != nil || !created {
		t.Fatalf("EnsureAdminToken: %q %v %v", secret, created, err)
	}
	if again, created, err := EnsureAdminToken(ctx, db, path); err != nil || created || again != secret {
		t.Fatalf("again: %q %v %v", again, created, err)
	}

	repo := testRepo()
	h := (&Server{Reconciler: &fakeReconciler{}, Tokens: db, Audit: db, Config: func() *config.Repo { return repo }}).Handler()
	w := serve(t, h, http.MethodPost, "/api/v1/tokens", secret, `{"name":"ci","role":"deployer","projects":["cd-demo"]}`)
	var ct CreatedToken
	if err := json.Unmarshal(w.Body.Bytes(), &ct); err != nil || w.Code != http.StatusCreated || ct.Secret == "" || ct.Token.CreatedBy != "token:admin" {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if w := serve(t, h, http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", ct.Secret, ""); w.Code != http.StatusAccepted {
		t.Errorf("sync with the new token: %d %s", w.Code, w.Body)
	}
	if w := serve(t, h, http.MethodPost, "/api/v1/targets/other/prod/sync", ct.Secret, ""); w.Code != http.StatusForbidden {
		t.Errorf("sync of another project: %d %s", w.Code, w.Body)
	}
	w = serve(t, h, http.MethodGet, "/api/v1/audit", secret, "")
	var recs []store.AuditRecord
	if err := json.Unmarshal(w.Body.Bytes(), &recs); err != nil || len(recs) != 3 {
		t.Fatalf("audit: %s (%v)", w.Body, err)
	}
	if recs[0].Action != "target.sync" || !strings.HasPrefix(recs[0].Outcome, "denied: ") || recs[2].Action != "token.create" || recs[2].Actor != "token:admin" {
		t.Errorf("audit = %+v", recs)
	}
	if w := serve(t, h, http.MethodDelete, "/api/v1/tokens/ci", secret, ""); w.Code != http.StatusNoContent {
		t.Errorf("delete: %d %s", w.Code, w.Body)
	}
	if w := serve(t, h, http.MethodGet, "/api/v1/whoami", ct.Secret, ""); w.Code != http.StatusUnauthorized {
		t.Errorf("deleted token: %d %s", w.Code, w.Body)
	}
}
