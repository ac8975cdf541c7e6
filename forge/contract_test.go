package forge

// Contract tests of the GitHub forge against GitHub's published OpenAPI
// description (npm @octokit/openapi, fetched by `make octokit` into
// ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/npm/). An httptest server stands
// in for a GitHub Enterprise Server: every request the GitHub forge sends is
// matched to an operation of the description (method and path template,
// under the server's /api/v3 base path) and validated with kin-openapi —
// path parameters, query and JSON body, with request bodies made strict (a
// field the description does not list is an error) — and answered with the
// operation's documented example. A request the description does not know,
// or that does not validate, fails the test.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-github/v89/github"
)

// octokitOpenAPI is the @octokit/openapi version scripts/octokit.sh fetches.
const octokitOpenAPI = "23.0.2"

// slipwayCache is ${SLIPWAY_CACHE:-$HOME/.cache/slipway}, as in scripts/octokit.sh.
func slipwayCache(t testing.TB) string {
	if dir := os.Getenv("SLIPWAY_CACHE"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("no home directory for the Slipway cache (set SLIPWAY_CACHE): %v", err)
	}
	return filepath.Join(home, ".cache", "slipway")
}

type githubSpec struct {
	doc    *openapi3.T
	router routers.Router
	err    error
}

var (
	githubSpecOnce   sync.Once
	githubSpecLoaded githubSpec
)

// loadGitHubSpec loads api.github.com's description once per test binary.
func loadGitHubSpec(t testing.TB) githubSpec {
	t.Helper()
	path := filepath.Join(slipwayCache(t), "npm", "octokit-openapi-"+octokitOpenAPI, "generated", "api.github.com.json")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("GitHub's OpenAPI description is missing (%v): run make octokit", err)
	}
	githubSpecOnce.Do(func() {
		doc, err := readGitHubSpec(path)
		if err != nil {
			githubSpecLoaded.err = fmt.Errorf("load %s: %w", path, err)
			return
		}
		strictRequestBodies(doc)
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			githubSpecLoaded.err = fmt.Errorf("route %s: %w", path, err)
			return
		}
		githubSpecLoaded = githubSpec{doc: doc, router: router}
	})
	if githubSpecLoaded.err != nil {
		t.Fatal(githubSpecLoaded.err)
	}
	return githubSpecLoaded
}

// readGitHubSpec loads the description without what plays no part in
// validation — descriptions, summaries and GitHub's extensions, outside examples
// and property names — which is most of its 13 MB: kin-openapi then takes
// a quarter of the time (seconds, not tens of seconds, under -race).
func readGitHubSpec(path string) (*openapi3.T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	if data, err = json.Marshal(pruneSpec(raw, false)); err != nil {
		return nil, err
	}
	doc := &openapi3.T{}
	if err := json.Unmarshal(data, doc); err != nil {
		return nil, err
	}
	if err := openapi3.NewLoader().ResolveRefsIn(doc, nil); err != nil {
		return nil, err
	}
	return doc, nil
}

// specExtensions are the description's extensions, none of them of use in
// validation. (Names such as the x-rate-limit-limit header are not all
// extensions.)
var specExtensions = map[string]bool{
	"x-webhooks": true, "x-github": true, "x-github-breaking-changes": true, "x-octokit": true,
}

// pruneSpec drops string descriptions and summaries and GitHub's
// extensions from a decoded JSON document, leaving example values whole and not taking
// the keys of a properties map (names of properties) for its own.
func pruneSpec(v any, names bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !names {
				if _, text := e.(string); text && (k == "description" || k == "summary") || specExtensions[k] {
					delete(x, k)
					continue
				}
				if k == "example" || k == "examples" {
					continue
				}
			}
			x[k] = pruneSpec(e, !names && k == "properties")
		}
	case []any:
		for i := range x {
			x[i] = pruneSpec(x[i], false)
		}
	}
	return v
}

// strictRequestBodies makes every JSON request body schema that is a plain
// object (properties, no composition, no additionalProperties of its own)
// reject fields it does not list: GitHub ignores unknown fields, so a
// misspelt one would otherwise pass unnoticed.
func strictRequestBodies(doc *openapi3.T) {
	no := false
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			media := op.RequestBody.Value.Content.Get("application/json")
			if media == nil || media.Schema == nil || media.Schema.Value == nil {
				continue
			}
			s := media.Schema.Value
			if len(s.Properties) == 0 || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 ||
				s.AdditionalProperties.Has != nil || s.AdditionalProperties.Schema != nil {
				continue
			}
			s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
		}
	}
}

// contractReply replaces an operation's documented example.
type contractReply func(r *http.Request) (status int, header http.Header, body any)

// contractServer is a GitHub Enterprise Server that knows only GitHub's
// OpenAPI description.
type contractServer struct {
	t    testing.TB
	spec githubSpec
	srv  *httptest.Server

	mu       sync.Mutex
	seen     []string // operationIds answered, in order
	rejected []string // why requests were refused
	replies  map[string]contractReply
}

// newContractServer starts a server; unless the test expects refusals
// (lenient), any refused request fails the test when it ends.
func newContractServer(t *testing.T, lenient bool) *contractServer {
	t.Helper()
	c := &contractServer{t: t, spec: loadGitHubSpec(t), replies: map[string]contractReply{}}
	c.srv = httptest.NewServer(c)
	t.Cleanup(func() {
		c.srv.Close()
		if !lenient {
			for _, r := range c.refusals() {
				t.Errorf("request refused by GitHub's OpenAPI description: %s", r)
			}
		}
	})
	return c
}

// github returns a GitHub forge talking to the server as GitHub Enterprise.
func (c *contractServer) github(t testing.TB) *GitHub {
	t.Helper()
	g, err := NewGitHub(c.srv.URL, "test-token", c.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// reply sets the answer of an operation.
func (c *contractServer) reply(operationID string, f contractReply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies[operationID] = f
}

func (c *contractServer) operations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

func (c *contractServer) refusals() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.rejected)
}

func (c *contractServer) refuse(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.rejected = append(c.rejected, msg)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": "contract: " + msg})
}

func (c *contractServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	what := r.Method + " " + r.URL.RequestURI()
	if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
		c.refuse(w, http.StatusUnauthorized, "%s: Authorization %q, want the token", what, got)
		return
	}
	// The server's base path: GitHub Enterprise serves the API under /api/v3;
	// the description's server is https://api.github.com.
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v3/")
	if !ok {
		c.refuse(w, http.StatusNotFound, "%s: not under the API's base path /api/v3/", what)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		c.refuse(w, http.StatusBadRequest, "%s: reading the body: %v", what, err)
		return
	}
	u, err := url.Parse("https://api.github.com/" + path)
	if err != nil {
		c.refuse(w, http.StatusBadRequest, "%s: %v", what, err)
		return
	}
	u.RawQuery = r.URL.RawQuery
	req := r.Clone(r.Context())
	req.URL, req.Host, req.RequestURI = u, u.Host, ""
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))

	route, params, err := c.spec.router.FindRoute(req)
	if err != nil {
		c.refuse(w, http.StatusNotFound, "%s: no such operation in GitHub's OpenAPI description: %v", what, err)
		return
	}
	opID := route.Operation.OperationID
	err = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
			RejectWhenRequestBodyNotSpecified: true,
			MultiError:                        true,
			SkipSettingDefaults:               true, // the reply sees the request as sent
		},
	})
	if err != nil {
		c.refuse(w, http.StatusUnprocessableEntity, "%s (%s) %s: %v", what, opID, bytes.TrimSpace(body), err)
		return
	}
	c.mu.Lock()
	c.seen = append(c.seen, opID)
	f := c.replies[opID]
	c.mu.Unlock()

	status, header, out := 0, http.Header(nil), any(nil)
	if f != nil {
		status, header, out = f(req)
	} else {
		status, out, err = documentedExample(route.Operation)
		if err != nil {
			c.refuse(w, http.StatusInternalServerError, "%s (%s): %v", what, opID, err)
			return
		}
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	if out == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(out); err != nil {
		c.t.Errorf("%s: writing the reply: %v", what, err)
	}
}

// documentedExample is the first success response of op with its
// documented JSON example (the "default" one first), or a minimal value of
// its schema's type where it has none; a nil body for a response without
// content.
func documentedExample(op *openapi3.Operation) (int, any, error) {
	var codes []string
	for code := range op.Responses.Map() {
		if len(code) == 3 && code[0] == '2' {
			codes = append(codes, code)
		}
	}
	if len(codes) == 0 {
		return 0, nil, errors.New("no success response documented")
	}
	sort.Strings(codes)
	status := 0
	fmt.Sscan(codes[0], &status)
	resp := op.Responses.Value(codes[0]).Value
	media := resp.Content.Get("application/json")
	if media == nil {
		return status, nil, nil
	}
	if media.Example != nil {
		return status, media.Example, nil
	}
	names := make([]string, 0, len(media.Examples))
	for name := range media.Examples {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] == "default" || (names[j] != "default" && names[i] < names[j]) })
	for _, name := range names {
		if ex := media.Examples[name]; ex != nil && ex.Value != nil && ex.Value.Value != nil {
			return status, ex.Value.Value, nil
		}
	}
	if media.Schema != nil && media.Schema.Value != nil && media.Schema.Value.Type.Is("array") {
		return status, []any{}, nil
	}
	return status, map[string]any{}, nil
}

// githubOperations are the operations the GitHub forge uses; the contract
// test must see every one.
var githubOperations = []string{
	"issues/create-comment",
	"issues/list-comments",
	"issues/update-comment",
	"pulls/create",
	"pulls/list",
	"pulls/update",
	"reactions/create-for-issue-comment",
	"repos/create-commit-status",
	"repos/create-deployment",
	"repos/create-deployment-status",
	"repos/get-collaborator-permission-level",
}

func TestGitHubContract(t *testing.T) {
	c := newContractServer(t, false)
	g := c.github(t)
	ctx := context.Background()
	const repo = "octo-org/config"

	t.Run("SetStatus", func(t *testing.T) {
		for _, st := range []State{StatePending, StateSuccess, StateFailure, StateError} {
			err := g.SetStatus(ctx, repo, Status{
				SHA: "6dcb09b5b57875f334f61aebed695e2e4193db5e", Context: "slipway/plan", State: st,
				Description: strings.Repeat("é", 200), TargetURL: "https://slipway.example.com/plans/1",
			})
			if err != nil {
				t.Errorf("%s: %v", st, err)
			}
		}
		// No target URL, no description.
		if err := g.SetStatus(ctx, repo, Status{SHA: "6dcb09b", Context: "slipway/sync", State: StateSuccess}); err != nil {
			t.Error(err)
		}
	})

	t.Run("Comments", func(t *testing.T) {
		// Two pages: the first points at the second in a Link header.
		c.reply("issues/list-comments", func(r *http.Request) (int, http.Header, any) {
			status, ex, _ := documentedExample(c.spec.doc.Paths.Find("/repos/{owner}/{repo}/issues/{issue_number}/comments").Get)
			if r.URL.Query().Get("page") == "" {
				next := c.srv.URL + "/api/v3/repositories/1/issues/7/comments?per_page=100&page=2"
				return status, http.Header{"Link": {`<` + next + `>; rel="next"`}}, ex
			}
			return status, nil, ex
		})
		got, err := g.Comments(ctx, repo, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d comments, want 2 (one a page): %+v", len(got), got)
		}
		if got[0].ID == 0 || got[0].Body == "" || got[0].Author == "" || got[0].URL == "" {
			t.Errorf("comment not filled in from the example: %+v", got[0])
		}
	})

	t.Run("Comment", func(t *testing.T) {
		got, err := g.Comment(ctx, repo, 7, "**Plan** for `web`:\n\n```diff\n+ image: web:1.2\n```\n")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == 0 || got.URL == "" {
			t.Errorf("comment = %+v", got)
		}
	})

	t.Run("EditComment", func(t *testing.T) {
		if err := g.EditComment(ctx, repo, 7, 1, "edited"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("React", func(t *testing.T) {
		for _, r := range []string{ReactionEyes, ReactionPlusOne, ReactionConfused, ReactionRocket} {
			if err := g.React(ctx, repo, 7, 1, r); err != nil {
				t.Errorf("%s: %v", r, err)
			}
		}
	})

	t.Run("Permission", func(t *testing.T) {
		got, err := g.Permission(ctx, repo, "octocat")
		if err != nil {
			t.Fatal(err)
		}
		if got != PermissionAdmin { // the example: permission admin, role_name admin
			t.Errorf("permission = %q, want admin", got)
		}
	})

	t.Run("EnsurePullRequest/update", func(t *testing.T) {
		// The documented list has an open pull request; its title differs.
		got, err := g.EnsurePullRequest(ctx, repo, PullRequest{Title: "Bump web to 1.2", Body: "From Slipway.", Head: "slipway/bump-web", Base: "main"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Number == 0 || got.URL == "" || got.HeadSHA == "" || got.Head == "" || got.Base == "" {
			t.Errorf("pull request = %+v", got)
		}
	})

	t.Run("EnsurePullRequest/create", func(t *testing.T) {
		c.reply("pulls/list", func(*http.Request) (int, http.Header, any) { return http.StatusOK, nil, []any{} })
		defer c.reply("pulls/list", nil)
		got, err := g.EnsurePullRequest(ctx, repo, PullRequest{Title: "Bump web to 1.2", Body: "From Slipway.", Head: "slipway/bump-web", Base: "main"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Number == 0 || got.Head == "" || got.Base == "" {
			t.Errorf("pull request = %+v", got)
		}
	})

	t.Run("CreateDeployment", func(t *testing.T) {
		id, err := g.CreateDeployment(ctx, repo, Deployment{Ref: "6dcb09b5b57875f334f61aebed695e2e4193db5e", Environment: "production", Description: "web 1.2"})
		if err != nil {
			t.Fatal(err)
		}
		if id == 0 {
			t.Error("deployment id 0")
		}
	})

	t.Run("SetDeploymentStatus", func(t *testing.T) {
		for _, state := range []string{"in_progress", "success", "failure"} {
			if err := g.SetDeploymentStatus(ctx, repo, 42, state, "https://slipway.example.com/syncs/9", "synced"); err != nil {
				t.Errorf("%s: %v", state, err)
			}
		}
		if err := g.SetDeploymentStatus(ctx, repo, 42, "queued", "", ""); err != nil {
			t.Error(err)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		c.reply("repos/get-collaborator-permission-level", func(*http.Request) (int, http.Header, any) {
			return http.StatusNotFound, nil, map[string]string{"message": "Not Found"}
		})
		defer c.reply("repos/get-collaborator-permission-level", nil)
		_, err := g.Permission(ctx, repo, "ghost")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
			t.Errorf("err = %v, want ErrNotFound naming the user", err)
		}
	})

	var missing []string
	seen := c.operations()
	for _, op := range githubOperations {
		if !slices.Contains(seen, op) {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		t.Errorf("operations never exercised: %v", missing)
	}
	for _, op := range seen {
		if !slices.Contains(githubOperations, op) {
			t.Errorf("operation %s is used but not listed in githubOperations", op)
		}
	}
}

// TestGitHubContractRefuses proves the server refuses what GitHub's
// description does not allow, so the contract test above means something.
func TestGitHubContractRefuses(t *testing.T) {
	c := newContractServer(t, true)
	g := c.github(t)
	ctx := context.Background()

	t.Run("invalid body", func(t *testing.T) {
		// A state GitHub does not have, sent past the forge's own check.
		_, _, err := g.client.Repositories.CreateStatus(ctx, "o", "r", "6dcb09b", github.RepoStatus{State: github.Ptr("done")})
		if err == nil {
			t.Fatal("an invalid state was accepted")
		}
		assertRefused(t, c, "repos/create-commit-status", `"/state"`, "not one of the allowed values")
	})

	t.Run("unknown field", func(t *testing.T) {
		req, err := g.client.NewRequest(ctx, "POST", "repos/o/r/issues/7/comments", map[string]string{"body": "hi", "bodyy": "typo"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.client.Do(req, nil); err == nil {
			t.Fatal("a body with an unknown field was accepted")
		}
		assertRefused(t, c, "issues/create-comment", `"bodyy" is unsupported`)
	})

	t.Run("unknown operation", func(t *testing.T) {
		req, err := g.client.NewRequest(ctx, "GET", "repos/o/r/no-such-thing", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.client.Do(req, nil); err == nil {
			t.Fatal("an unknown operation was answered")
		}
		assertRefused(t, c, "no such operation", "no-such-thing")
	})

	t.Run("invalid path parameter", func(t *testing.T) {
		req, err := g.client.NewRequest(ctx, "PATCH", "repos/o/r/issues/comments/first", map[string]string{"body": "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.client.Do(req, nil); err == nil {
			t.Fatal("a comment id that is not a number was accepted")
		}
		assertRefused(t, c, "issues/update-comment", `parameter "comment_id"`)
	})

	t.Run("missing required field", func(t *testing.T) {
		_, _, err := g.client.Repositories.CreateDeploymentStatus(ctx, "o", "r", 42, github.DeploymentStatusRequest{})
		if err == nil {
			t.Fatal("a deployment status without a state was accepted")
		}
		assertRefused(t, c, "repos/create-deployment-status", `"/state"`, "not one of the allowed values")
	})
}

func assertRefused(t *testing.T, c *contractServer, want ...string) {
	t.Helper()
	rs := c.refusals()
	if len(rs) == 0 {
		t.Fatal("no request was refused")
	}
	last := rs[len(rs)-1]
	t.Logf("refused: %s", last)
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("refusal %q does not mention %q", last, w)
		}
	}
}
