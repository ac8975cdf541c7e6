package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"
)

var spec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// loadSpec loads, validates and routes the embedded OpenAPI document once.
func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	spec.once.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(openAPI)
		if err != nil {
			spec.err = fmt.Errorf("loading openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			spec.err = fmt.Errorf("openapi.yaml is not valid: %w", err)
			return
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			spec.err = fmt.Errorf("routing openapi.yaml: %w", err)
			return
		}
		spec.doc, spec.router = doc, r
	})
	if spec.err != nil {
		t.Fatal(spec.err)
	}
	return spec.doc, spec.router
}

// validateAgainstSpec checks an answer against the document: its status
// must be declared for the operation, and its headers and body must match.
// A 2xx answer's request must match the document too. It reports false,
// without checking, for a request to no operation of the document (405s,
// unknown endpoints).
func validateAgainstSpec(t *testing.T, method, path, secret, body string, w *httptest.ResponseRecorder) (bool, error) {
	t.Helper()
	_, router := loadSpec(t)
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return false, nil
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if w.Code >= 200 && w.Code < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			return true, fmt.Errorf("request %s %s is answered %d but does not match the document: %w", method, path, w.Code, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 w.Code,
		Header:                 w.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return true, fmt.Errorf("answer %d to %s %s does not match the document: %w\n%s", w.Code, method, path, err, w.Body)
	}
	return true, nil
}

// checkAgainstSpec fails the test when an answer does not match the
// document (every handler test's answers go through it).
func checkAgainstSpec(t *testing.T, method, path, secret, body string, w *httptest.ResponseRecorder) {
	t.Helper()
	if _, err := validateAgainstSpec(t, method, path, secret, body, w); err != nil {
		t.Error(err)
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	loadSpec(t)
}

// TestOpenAPICoversRoutes walks the router: every route and method is in
// the document, every operation of the document is routed, and the role
// each operation's summary names is the route's.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc, _ := loadSpec(t)
	s := &Server{}
	router, ok := s.Handler().(*mux.Router)
	if !ok {
		t.Fatalf("Handler is a %T, want a *mux.Router", s.Handler())
	}
	routed := map[string]bool{}
	err := router.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := r.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := r.GetMethods()
		if err != nil {
			return fmt.Errorf("route %s has no methods: %w", tmpl, err)
		}
		for _, m := range methods {
			routed[m+" "+tmpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for m, op := range item.Operations() {
			documented[strings.ToUpper(m)+" "+path] = op
		}
	}
	if len(routed) < 20 {
		t.Fatalf("walked only %d routes: %v", len(routed), routed)
	}
	for k := range routed {
		if documented[k] == nil {
			t.Errorf("%s is routed but not in openapi.yaml", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("%s is in openapi.yaml but not routed", k)
		}
	}

	for _, rt := range s.routes() {
		op := documented[rt.method+" "+v1+rt.path]
		if op == nil {
			continue // reported above
		}
		role := rt.role
		if role == "" {
			role = "any role"
		}
		if !strings.Contains(op.Summary, "("+role+")") {
			t.Errorf("%s %s needs %s, but its summary %q does not say (%s)", rt.method, rt.path, role, op.Summary, role)
		}
		if op.Security != nil {
			t.Errorf("%s %s overrides the document's bearer security", rt.method, rt.path)
		}
		if op.Responses.Status(http.StatusUnauthorized) == nil || op.Responses.Status(http.StatusForbidden) == nil {
			t.Errorf("%s %s does not declare 401 and 403", rt.method, rt.path)
		}
		if rt.method == http.MethodPost && op.RequestBody != nil {
			schema := op.RequestBody.Value.Content.Get("application/json").Schema.Value
			if schema.AdditionalProperties.Has == nil || *schema.AdditionalProperties.Has {
				t.Errorf("%s %s: the request body schema allows additional properties", rt.method, rt.path)
			}
		}
	}
	if op := documented["GET "+v1+"/openapi.yaml"]; op == nil || op.Security == nil || len(*op.Security) != 0 {
		t.Error("GET /api/v1/openapi.yaml must declare no security")
	}
}

// TestResponsesMatchSpec checks the main answers against the document
// explicitly (the handler tests check all of theirs in passing).
func TestResponsesMatchSpec(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name, method, path, secret, body string
		code                             int
	}{
		{"create release", http.MethodPost, "/api/v1/releases", ciSecret, `{"application":"flaskapp","pipeline":"deployTesting","parameters":{"replicas":"1"}}`, http.StatusCreated},
		{"list releases", http.MethodGet, "/api/v1/releases?status=waiting&limit=10", viewerSecret, "", http.StatusOK},
		{"get release", http.MethodGet, "/api/v1/releases/1", viewerSecret, "", http.StatusOK},
		{"approve", http.MethodPost, "/api/v1/releases/1/approve", ciSecret, `{"stage":"judge","comment":"ok"}`, http.StatusAccepted},
		{"bad request", http.MethodPost, "/api/v1/releases", ciSecret, `{"application":"flaskapp","pipeline":"deployTesting","x":1}`, http.StatusBadRequest},
		{"bad id", http.MethodGet, "/api/v1/releases/x", viewerSecret, "", http.StatusBadRequest},
		{"unauthenticated", http.MethodGet, "/api/v1/releases", "", "", http.StatusUnauthorized},
		{"forbidden", http.MethodPost, "/api/v1/releases", viewerSecret, `{"application":"flaskapp","pipeline":"deployTesting"}`, http.StatusForbidden},
		{"not found", http.MethodGet, "/api/v1/releases/99", viewerSecret, "", http.StatusNotFound},
		{"conflict", http.MethodPost, "/api/v1/releases/2/cancel", adminSecret, "", http.StatusConflict},
		{"create token", http.MethodPost, "/api/v1/tokens", adminSecret, `{"name":"robot","role":"viewer","projects":["*"]}`, http.StatusCreated},
		{"list tokens", http.MethodGet, "/api/v1/tokens", adminSecret, "", http.StatusOK},
		{"delete token", http.MethodDelete, "/api/v1/tokens/robot", adminSecret, "", http.StatusNoContent},
		{"audit", http.MethodGet, "/api/v1/audit", adminSecret, "", http.StatusOK},
		{"whoami", http.MethodGet, "/api/v1/whoami", ciSecret, "", http.StatusOK},
		{"pipelines", http.MethodGet, "/api/v1/pipelines?app=flaskapp", ciSecret, "", http.StatusOK},
		{"pipeline", http.MethodGet, "/api/v1/applications/flaskapp/pipelines/deployTesting", ciSecret, "", http.StatusOK},
		{"targets", http.MethodGet, "/api/v1/targets", ciSecret, "", http.StatusOK},
		{"sync", http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", ciSecret, "", http.StatusAccepted},
		{"openapi", http.MethodGet, "/api/v1/openapi.yaml", "", "", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.secret != "" {
				req.Header.Set("Authorization", "Bearer "+tc.secret)
			}
			w := httptest.NewRecorder()
			ts.h.ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, w.Code, tc.code, w.Body)
			}
			found, err := validateAgainstSpec(t, tc.method, tc.path, tc.secret, tc.body, w)
			if !found {
				t.Fatalf("%s %s is not in openapi.yaml", tc.method, tc.path)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSpecValidationBites makes sure the check above can fail: answers
// that break the document are caught.
func TestSpecValidationBites(t *testing.T) {
	ts := newTestServer(t)
	body := `{"application":"flaskapp","pipeline":"deployTesting"}`
	w := ts.do(t, http.MethodPost, "/api/v1/releases", ciSecret, body)
	var ex map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &ex); err != nil {
		t.Fatal(err)
	}

	broken := func(mutate func(map[string]any)) *httptest.ResponseRecorder {
		m := map[string]any{}
		b, _ := json.Marshal(ex)
		_ = json.Unmarshal(b, &m)
		mutate(m)
		out := httptest.NewRecorder()
		out.Header().Set("Content-Type", "application/json")
		out.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(out).Encode(m)
		return out
	}
	for name, mutate := range map[string]func(map[string]any){
		"no id":        func(m map[string]any) { delete(m, "id") },
		"bad status":   func(m map[string]any) { m["status"] = "sleeping" },
		"null stages":  func(m map[string]any) { m["stages"] = nil },
		"string id":    func(m map[string]any) { m["id"] = "4" },
		"stage no dep": func(m map[string]any) { delete(m["stages"].([]any)[0].(map[string]any), "dependsOn") },
	} {
		if _, err := validateAgainstSpec(t, http.MethodPost, "/api/v1/releases", ciSecret, body, broken(mutate)); err == nil {
			t.Errorf("%s: a broken answer passed", name)
		}
	}

	undeclared := httptest.NewRecorder()
	undeclared.Header().Set("Content-Type", "application/json")
	undeclared.WriteHeader(http.StatusTeapot)
	_, _ = io.Copy(undeclared, bytes.NewReader([]byte(`{"error":"tea"}`)))
	if _, err := validateAgainstSpec(t, http.MethodGet, "/api/v1/releases", viewerSecret, "", undeclared); err == nil {
		t.Error("an undeclared status passed")
	}

	if _, err := validateAgainstSpec(t, http.MethodPost, "/api/v1/releases", ciSecret, `{"application":"a","pipeline":"p","bogus":1}`, w); err == nil {
		t.Error("a request with an unknown field, answered 201, passed")
	}
}
