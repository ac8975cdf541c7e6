package forge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// exchange is one request a protocol fake expects, and its answer.
type exchange struct {
	method string
	path   string     // escaped, e.g. /api/v4/projects/acme%2Fconfig/statuses/abc
	query  url.Values // exact; nil for none
	body   string     // expected JSON body, compared as values; "" for none
	header http.Header

	status      int    // 0 is 200
	reply       string // JSON answer
	replyHeader http.Header
}

// fakeServer answers a scripted sequence of exchanges and fails the test
// on any request that differs from the next one expected, and on exchanges
// never asked for.
type fakeServer struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	next []exchange
	// headers every request must carry
	always http.Header
}

func newFakeServer(t *testing.T, always http.Header, script ...exchange) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, next: script, always: always}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, ex := range f.next {
			t.Errorf("expected request never sent: %s %s", ex.method, ex.path)
		}
	})
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	t := f.t
	f.mu.Lock()
	if len(f.next) == 0 {
		f.mu.Unlock()
		t.Errorf("unexpected request %s %s", r.Method, r.URL.RequestURI())
		http.Error(w, `{"message":"unexpected"}`, http.StatusTeapot)
		return
	}
	ex := f.next[0]
	f.next = f.next[1:]
	f.mu.Unlock()

	what := r.Method + " " + r.URL.RequestURI()
	if r.Method != ex.method || r.URL.EscapedPath() != ex.path {
		t.Errorf("request %s, want %s %s", what, ex.method, ex.path)
	}
	if diff := cmp.Diff(ex.query, nilIfEmpty(r.URL.Query())); diff != "" {
		t.Errorf("%s: query (-want +got):\n%s", what, diff)
	}
	for _, h := range []http.Header{f.always, ex.header} {
		for k, v := range h { // keys as written, not canonical: PRIVATE-TOKEN
			if got, want := r.Header.Get(k), v[0]; got != want {
				t.Errorf("%s: header %s = %q, want %q", what, k, got, want)
			}
		}
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case ex.body == "" && len(body) > 0:
		t.Errorf("%s: unexpected body %s", what, body)
	case ex.body != "":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q, want application/json", what, ct)
		}
		var got, want any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%s: body %q: %v", what, body, err)
		}
		if err := json.Unmarshal([]byte(ex.body), &want); err != nil {
			t.Fatalf("bad expected body %q: %v", ex.body, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: body (-want +got):\n%s", what, diff)
		}
	}
	for k, v := range ex.replyHeader {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	if ex.status != 0 {
		w.WriteHeader(ex.status)
	}
	_, _ = io.WriteString(w, ex.reply)
}

func nilIfEmpty(v url.Values) url.Values {
	if len(v) == 0 {
		return nil
	}
	return v
}

const glProject = "/api/v4/projects/acme%2Fplatform%2Fconfig"

func newTestGitLab(t *testing.T, script ...exchange) *GitLab {
	t.Helper()
	f := newFakeServer(t, http.Header{"PRIVATE-TOKEN": {"glpat-test"}, "Accept": {"application/json"}}, script...)
	g, err := NewGitLab(f.srv.URL+"/", "glpat-test", f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// glRepo is a project in a subgroup: its path has two slashes to encode.
const glRepo = "acme/platform/config"

func TestGitLabSetStatus(t *testing.T) {
	sha := "6dcb09b5b57875f334f61aebed695e2e4193db5e"
	path := glProject + "/statuses/" + sha
	tests := []struct {
		name    string
		status  Status
		ex      exchange
		wantErr error
	}{
		{
			name:   "pending",
			status: Status{SHA: sha, Context: "slipway/plan", State: StatePending, Description: "planning", TargetURL: "https://slipway.example.com/p/1"},
			ex: exchange{method: "POST", path: path, status: 201, reply: `{"id":1,"status":"pending"}`,
				body: `{"state":"pending","name":"slipway/plan","description":"planning","target_url":"https://slipway.example.com/p/1"}`},
		},
		{
			name:   "success without URL",
			status: Status{SHA: sha, Context: "slipway/sync", State: StateSuccess},
			ex:     exchange{method: "POST", path: path, status: 201, reply: `{}`, body: `{"state":"success","name":"slipway/sync"}`},
		},
		{
			name:   "failure is failed",
			status: Status{SHA: sha, Context: "c", State: StateFailure},
			ex:     exchange{method: "POST", path: path, status: 201, reply: `{}`, body: `{"state":"failed","name":"c"}`},
		},
		{
			name:   "error is failed, description clipped to 255 characters",
			status: Status{SHA: sha, Context: "c", State: StateError, Description: strings.Repeat("ü", 300)},
			ex: exchange{method: "POST", path: path, status: 201, reply: `{}`,
				body: `{"state":"failed","name":"c","description":"` + strings.Repeat("ü", 255) + `"}`},
		},
		{
			name:   "same state again is not an error",
			status: Status{SHA: sha, Context: "c", State: StatePending},
			ex: exchange{method: "POST", path: path, status: 400, reply: `{"message":"Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via \"enqueue\")"}`,
				body: `{"state":"pending","name":"c"}`},
		},
		{
			name:   "unknown project",
			status: Status{SHA: sha, Context: "c", State: StateSuccess},
			ex: exchange{method: "POST", path: path, status: 404, reply: `{"message":"404 Project Not Found"}`,
				body: `{"state":"success","name":"c"}`},
			wantErr: ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGitLab(t, tt.ex)
			err := g.SetStatus(context.Background(), glRepo, tt.status)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("unknown state", func(t *testing.T) {
		g := newTestGitLab(t)
		if err := g.SetStatus(context.Background(), glRepo, Status{SHA: sha, State: "done"}); err == nil {
			t.Error("no error")
		}
	})
}

func TestGitLabComments(t *testing.T) {
	notes := glProject + "/merge_requests/7/notes"
	q := func(page string) url.Values {
		return url.Values{"sort": {"asc"}, "order_by": {"created_at"}, "per_page": {"100"}, "page": {page}}
	}
	g := newTestGitLab(t,
		exchange{method: "GET", path: notes, query: q("1"), replyHeader: http.Header{"X-Next-Page": {"2"}},
			reply: `[{"id":301,"body":"/slipway plan","system":false,"author":{"username":"alice"}},
			         {"id":302,"body":"added 1 commit","system":true,"author":{"username":"alice"}}]`},
		exchange{method: "GET", path: notes, query: q("2"), replyHeader: http.Header{"X-Next-Page": {""}},
			reply: `[{"id":303,"body":"**Plan**","system":false,"author":{"username":"slipway-bot"}}]`},
	)
	got, err := g.Comments(context.Background(), glRepo, 7)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(g.web, "/")
	want := []Comment{
		{ID: 301, Body: "/slipway plan", Author: "alice", URL: base + "/acme/platform/config/-/merge_requests/7#note_301"},
		{ID: 303, Body: "**Plan**", Author: "slipway-bot", URL: base + "/acme/platform/config/-/merge_requests/7#note_303"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGitLabCommentAndEdit(t *testing.T) {
	notes := glProject + "/merge_requests/7/notes"
	g := newTestGitLab(t,
		exchange{method: "POST", path: notes, body: `{"body":"**Plan** ✓"}`, status: 201,
			reply: `{"id":401,"body":"**Plan** ✓","author":{"username":"slipway-bot"}}`},
		exchange{method: "PUT", path: notes + "/401", body: `{"body":"**Plan** ✗"}`,
			reply: `{"id":401,"body":"**Plan** ✗"}`},
		exchange{method: "PUT", path: notes + "/402", body: `{"body":"x"}`, status: 404, reply: `{"message":"404 Not found"}`},
	)
	ctx := context.Background()
	c, err := g.Comment(ctx, glRepo, 7, "**Plan** ✓")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != 401 || c.Author != "slipway-bot" || !strings.HasSuffix(c.URL, "/-/merge_requests/7#note_401") {
		t.Errorf("comment = %+v", c)
	}
	if err := g.EditComment(ctx, glRepo, 7, 401, "**Plan** ✗"); err != nil {
		t.Error(err)
	}
	if err := g.EditComment(ctx, glRepo, 7, 402, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

func TestGitLabReact(t *testing.T) {
	awards := glProject + "/merge_requests/7/notes/301/award_emoji"
	tests := []struct {
		reaction string
		emoji    string
		status   int
		reply    string
	}{
		{ReactionEyes, "eyes", 201, `{"id":1,"name":"eyes"}`},
		{ReactionPlusOne, "thumbsup", 201, `{"id":2,"name":"thumbsup"}`},
		{ReactionConfused, "confused", 201, `{}`},
		{ReactionRocket, "rocket", 201, `{}`},
		// Awarded already: GitLab answers 404 with this message.
		{ReactionEyes, "eyes", 404, `{"message":"404 Award Emoji Name has already been taken Not Found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.reaction+"/"+http.StatusText(tt.status), func(t *testing.T) {
			g := newTestGitLab(t, exchange{method: "POST", path: awards, body: `{"name":"` + tt.emoji + `"}`, status: tt.status, reply: tt.reply})
			if err := g.React(context.Background(), glRepo, 7, 301, tt.reaction); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("unknown reaction", func(t *testing.T) {
		g := newTestGitLab(t)
		if err := g.React(context.Background(), glRepo, 7, 301, "shrug"); err == nil {
			t.Error("no error")
		}
	})
}

func TestGitLabPermission(t *testing.T) {
	users := exchange{method: "GET", path: "/api/v4/users", query: url.Values{"username": {"alice"}}, reply: `[{"id":42,"username":"alice"}]`}
	member := func(status int, reply string) exchange {
		return exchange{method: "GET", path: glProject + "/members/all/42", status: status, reply: reply}
	}
	tests := []struct {
		name    string
		script  []exchange
		want    Permission
		wantErr error
	}{
		{"owner", []exchange{users, member(200, `{"id":42,"access_level":50}`)}, PermissionAdmin, nil},
		{"maintainer", []exchange{users, member(200, `{"access_level":40}`)}, PermissionAdmin, nil},
		{"developer", []exchange{users, member(200, `{"access_level":30}`)}, PermissionWrite, nil},
		{"reporter", []exchange{users, member(200, `{"access_level":20}`)}, PermissionRead, nil},
		{"guest", []exchange{users, member(200, `{"access_level":10}`)}, PermissionRead, nil},
		{"minimal access", []exchange{users, member(200, `{"access_level":5}`)}, PermissionNone, nil},
		{"not a member", []exchange{users, member(404, `{"message":"404 Not found"}`)}, PermissionNone, nil},
		{"no such user", []exchange{{method: "GET", path: "/api/v4/users", query: url.Values{"username": {"alice"}}, reply: `[]`}}, PermissionNone, nil},
		{"no such project", []exchange{users, member(404, `{"message":"404 Project Not Found"}`)}, PermissionNone, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGitLab(t, tt.script...)
			got, err := g.Permission(context.Background(), glRepo, "alice")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("permission = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGitLabEnsurePullRequest(t *testing.T) {
	mrs := glProject + "/merge_requests"
	list := func(reply string) exchange {
		return exchange{method: "GET", path: mrs, reply: reply,
			query: url.Values{"state": {"opened"}, "source_branch": {"slipway/bump-web"}, "target_branch": {"main"}}}
	}
	pr := PullRequest{Title: "Bump web to 1.2", Body: "From Slipway.", Head: "slipway/bump-web", Base: "main"}
	mr := func(title, desc, state string) string {
		b, _ := json.Marshal(map[string]any{"iid": 12, "title": title, "description": desc, "source_branch": "slipway/bump-web",
			"target_branch": "main", "sha": "abc123", "web_url": "https://gitlab.example.com/acme/platform/config/-/merge_requests/12", "state": state})
		return string(b)
	}
	want := PullRequest{Number: 12, Title: "Bump web to 1.2", Body: "From Slipway.", Head: "slipway/bump-web", Base: "main",
		HeadSHA: "abc123", URL: "https://gitlab.example.com/acme/platform/config/-/merge_requests/12", State: "open"}
	tests := []struct {
		name   string
		script []exchange
	}{
		{"up to date", []exchange{list("[" + mr("Bump web to 1.2", "From Slipway.", "opened") + "]")}},
		{"updated", []exchange{
			list("[" + mr("Bump web to 1.1", "old", "opened") + "]"),
			{method: "PUT", path: mrs + "/12", body: `{"title":"Bump web to 1.2","description":"From Slipway."}`, reply: mr("Bump web to 1.2", "From Slipway.", "opened")},
		}},
		{"created", []exchange{
			list("[]"),
			{method: "POST", path: mrs, status: 201, reply: mr("Bump web to 1.2", "From Slipway.", "opened"),
				body: `{"source_branch":"slipway/bump-web","target_branch":"main","title":"Bump web to 1.2","description":"From Slipway."}`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGitLab(t, tt.script...)
			got, err := g.EnsurePullRequest(context.Background(), glRepo, pr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewGitLab(t *testing.T) {
	tests := []struct{ in, web, api string }{
		{"", "https://gitlab.com", "https://gitlab.com/api/v4"},
		{"https://gitlab.example.com/", "https://gitlab.example.com", "https://gitlab.example.com/api/v4"},
		{"https://example.com/gitlab/api/v4", "https://example.com/gitlab", "https://example.com/gitlab/api/v4"},
	}
	for _, tt := range tests {
		g, err := NewGitLab(tt.in, "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.web != tt.web || g.api != tt.api {
			t.Errorf("NewGitLab(%q): web %q api %q, want %q %q", tt.in, g.web, g.api, tt.web, tt.api)
		}
	}
	for _, bad := range []string{"gitlab.com", "ftp://gitlab.com", "https://"} {
		if _, err := NewGitLab(bad, "t", nil); err == nil {
			t.Errorf("NewGitLab(%q): no error", bad)
		}
	}
	if got := (&GitLab{}).MaxCommentSize(); got != 1000000 {
		t.Errorf("MaxCommentSize = %d", got)
	}
}
