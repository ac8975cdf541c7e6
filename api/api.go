// Package api serves Slipway's REST API (JSON over HTTP, gorilla/mux): the
// read model of targets, their sync history and the accounts, the few
// actions that only enqueue work (sync a target, refresh Git), the
// pipelines and their executions (release orders), and the API tokens.
//
// Every route but the OpenAPI document (openapi.yaml, served at
// /api/v1/openapi.yaml) needs a bearer token; see auth.go for the roles.
package api

import (
	"context"
	_ "embed" // the OpenAPI document
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/store"
)

// Reconciler is what the API reads and asks of the reconciler.
type Reconciler interface {
	Status() []reconciler.TargetStatus
	StatusOf(key string) (reconciler.TargetStatus, bool)
	Sync(ref config.TargetRef) error
	Refresh(ctx context.Context) error
	Resync()
	Revision() string
}

// History reads sync history.
type History interface {
	SyncHistory(ctx context.Context, app, target string, limit int) ([]store.SyncRecord, error)
}

// Accounts validates the configured accounts against their clusters.
type Accounts interface {
	Accounts(ctx context.Context) ([]reconciler.AccountStatus, error)
}

// Events lists recent webhook deliveries.
type Events interface {
	RecentDeliveries(ctx context.Context, limit int) ([]store.Delivery, error)
}

// Server is the API's http.Handler.
type Server struct {
	Reconciler Reconciler
	History    History
	Accounts   Accounts
	Events     Events
	// Releases runs pipelines: release orders are created, read and acted
	// on through it.
	Releases Releases
	// Tokens authenticates every request under /api/v1 (but the OpenAPI
	// document); without it every such request is refused.
	Tokens TokenStore
	// Audit records every mutating request; nil records nothing.
	Audit AuditLog
	// Quarantine lists and lifts the quarantine of rolled-back image
	// digests; nil lists none.
	Quarantine QuarantineStore
	// Config returns the config repo's current revision: pipelines are read
	// from it, and the projects applications are bound to.
	Config func() *config.Repo
	// Log reports what cannot be answered to a client (a failed audit
	// write); nil means slog.Default().
	Log *slog.Logger
}

// v1 prefixes every route.
const v1 = "/api/v1"

// routes lists every endpoint under /api/v1 but the OpenAPI document, with
// the least role it needs and the audit action of those that change
// something.
func (s *Server) routes() []route {
	get, post, del := http.MethodGet, http.MethodPost, http.MethodDelete
	return []route{
		{get, "/targets", RoleViewer, "", s.listTargets},
		{get, "/targets/{app}/{target}", RoleViewer, "", s.getTarget},
		{get, "/targets/{app}/{target}/history", RoleViewer, "", s.targetHistory},
		{post, "/targets/{app}/{target}/sync", RoleDeployer, "target.sync", s.syncTarget},
		{get, "/accounts", RoleViewer, "", s.listAccounts},
		{get, "/events", RoleViewer, "", s.listEvents},
		{post, "/refresh", RoleDeployer, "refresh", s.refresh},
		{post, "/resync", RoleAdmin, "resync", s.resync},

		{get, "/pipelines", RoleViewer, "", s.listPipelines},
		{get, "/applications/{app}/pipelines/{pipeline}", RoleViewer, "", s.getPipeline},
		{get, "/releases", RoleViewer, "", s.listReleases},
		{post, "/releases", RoleDeployer, "release.create", s.createRelease},
		{get, "/releases/{id}", RoleViewer, "", s.getRelease},
		{post, "/releases/{id}/cancel", RoleDeployer, "release.cancel", s.cancelRelease},
		{post, "/releases/{id}/restart", RoleDeployer, "release.restart", s.restartRelease},
		{post, "/releases/{id}/approve", RoleDeployer, "release.approve", s.judgeRelease(true)},
		{post, "/releases/{id}/reject", RoleDeployer, "release.reject", s.judgeRelease(false)},

		{get, "/tokens", RoleAdmin, "", s.listTokens},
		{post, "/tokens", RoleAdmin, "token.create", s.createToken},
		{del, "/tokens/{name}", RoleAdmin, "token.delete", s.deleteToken},
		{get, "/audit", RoleAdmin, "", s.listAudit},
		{get, "/quarantine", RoleViewer, "", s.listQuarantine},
		{post, "/quarantine/release", RoleAdmin, "quarantine.release", s.releaseQuarantine},
		{get, "/whoami", "", "", s.whoami},
	}
}

// Handler returns the routes under /api/v1.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc(v1+"/openapi.yaml", serveOpenAPI).Methods(http.MethodGet)
	for _, rt := range s.routes() {
		r.Handle(v1+rt.path, s.guard(rt)).Methods(rt.method)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "", "no such endpoint")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "", "method not allowed")
	})
	return r
}

// TargetList is the body of GET /api/v1/targets.
type TargetList struct {
	Revision string                    `json:"revision"`
	Targets  []reconciler.TargetStatus `json:"targets"`
}

// listTargets serves GET /api/v1/targets[?app=A][&summary=true]; a summary
// leaves out each target's objects and last change set.
func (s *Server) listTargets(w http.ResponseWriter, r *http.Request) {
	all := s.Reconciler.Status()
	app := r.URL.Query().Get("app")
	summary := r.URL.Query().Get("summary") == "true"
	out := TargetList{Revision: s.Reconciler.Revision(), Targets: []reconciler.TargetStatus{}}
	for _, t := range all {
		if (app == "" || t.Application == app) && s.mayAccessApp(r, t.Application) {
			if summary {
				t.Objects, t.Changes = nil, nil
			}
			out.Targets = append(out.Targets, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTarget(w http.ResponseWriter, r *http.Request) {
	ref, ok := targetRef(w, r)
	if !ok {
		return
	}
	st, found := s.Reconciler.StatusOf(ref.String())
	if !found {
		writeError(w, http.StatusNotFound, "target", "target "+ref.String()+" not found")
		return
	}
	if !s.allowTarget(w, r, ref) {
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) targetHistory(w http.ResponseWriter, r *http.Request) {
	ref, ok := targetRef(w, r)
	if !ok || !s.allowTarget(w, r, ref) {
		return
	}
	limit, ok := limitParam(w, r, 20)
	if !ok {
		return
	}
	if s.History == nil {
		writeJSON(w, http.StatusOK, []store.SyncRecord{})
		return
	}
	recs, err := s.History.SyncHistory(r.Context(), ref.App, ref.Target, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	if recs == nil {
		recs = []store.SyncRecord{}
	}
	writeJSON(w, http.StatusOK, recs)
}

func (s *Server) syncTarget(w http.ResponseWriter, r *http.Request) {
	ref, ok := targetRef(w, r)
	if !ok || !s.allowTarget(w, r, ref) {
		return
	}
	if err := s.Reconciler.Sync(ref); err != nil {
		writeError(w, http.StatusNotFound, "target", err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"target": ref.String(), "status": "queued"})
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	if err := s.Reconciler.Refresh(r.Context()); err != nil {
		writeError(w, http.StatusBadGateway, "", err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"revision": s.Reconciler.Revision()})
}

// listEvents serves GET /api/v1/events[?limit=N]: recent webhook deliveries
// with their outcome, newest first.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(w, r, 50)
	if !ok {
		return
	}
	out := []store.Delivery{}
	if s.Events != nil {
		got, err := s.Events.RecentDeliveries(r.Context(), limit)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		out = append(out, got...)
	}
	writeJSON(w, http.StatusOK, out)
}

// limitParam reads ?limit=, 1 to 1000.
func limitParam(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		writeError(w, http.StatusBadRequest, "limit", "limit must be an integer from 1 to 1000")
		return 0, false
	}
	return n, true
}

func (s *Server) resync(w http.ResponseWriter, _ *http.Request) {
	s.Reconciler.Resync()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	if s.Accounts == nil {
		writeJSON(w, http.StatusOK, []reconciler.AccountStatus{})
		return
	}
	out, err := s.Accounts.Accounts(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func targetRef(w http.ResponseWriter, r *http.Request) (config.TargetRef, bool) {
	v := mux.Vars(r)
	ref, err := config.ParseTargetRef(v["app"] + "/" + v["target"])
	if err != nil {
		writeError(w, http.StatusBadRequest, "path", err.Error())
		return config.TargetRef{}, false
	}
	return ref, true
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, code int, field, msg string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.errMsg = msg
	}
	writeJSON(w, code, Error{Error: msg, Field: field})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

// openAPI is the API's OpenAPI 3 description.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3 document (YAML).
func OpenAPI() []byte { return slices.Clone(openAPI) }

// serveOpenAPI serves GET /api/v1/openapi.yaml, without authentication.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
}
