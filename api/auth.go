package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/store"
)

// Roles, from least to most allowed. A token has exactly one.
const (
	// RoleViewer reads everything its projects hold.
	RoleViewer = "viewer"
	// RoleDeployer also creates, cancels, restarts and judges release
	// orders, syncs targets and refreshes Git.
	RoleDeployer = "deployer"
	// RoleAdmin also manages tokens, reads the audit log and resyncs.
	RoleAdmin = "admin"
)

// AllProjects in a token's Projects gives it every project, and the
// applications bound to none.
const AllProjects = "*"

// roleRank orders the roles; an unknown role ranks 0 and may do nothing.
var roleRank = map[string]int{RoleViewer: 1, RoleDeployer: 2, RoleAdmin: 3}

// Roles lists the roles, least allowed first.
func Roles() []string { return []string{RoleViewer, RoleDeployer, RoleAdmin} }

// TokenStore keeps API tokens (the store implements it).
type TokenStore interface {
	CreateToken(ctx context.Context, t store.Token) (secret string, saved store.Token, err error)
	CreateTokenWithSecret(ctx context.Context, t store.Token, secret string) (store.Token, error)
	TokenBySecret(ctx context.Context, secret string) (store.Token, error)
	Tokens(ctx context.Context) ([]store.Token, error)
	DeleteToken(ctx context.Context, name string) error
}

// AuditLog records and lists who did what through the API (the store
// implements it).
type AuditLog interface {
	Audit(ctx context.Context, r store.AuditRecord) error
	AuditLog(ctx context.Context, limit int) ([]store.AuditRecord, error)
}

type ctxKey int

const (
	tokenKey ctxKey = iota
	auditKey
)

// TokenFrom returns the token that authenticated the request.
func TokenFrom(ctx context.Context) (store.Token, bool) {
	t, ok := ctx.Value(tokenKey).(store.Token)
	return t, ok
}

// Actor names the caller for the audit log and for Request.User:
// "token:<name>", or "anonymous" before authentication.
func Actor(ctx context.Context) string {
	if t, ok := TokenFrom(ctx); ok {
		return "token:" + t.Name
	}
	return "anonymous"
}

// auditEntry collects, while a mutating request is served, what its audit
// record says.
type auditEntry struct {
	action, subject, detail string
}

// setAudit names the subject of the request being audited (when the
// request is audited) and adds a detail.
func setAudit(r *http.Request, subject, detail string) {
	if e, ok := r.Context().Value(auditKey).(*auditEntry); ok {
		if subject != "" {
			e.subject = subject
		}
		if detail != "" {
			e.detail = detail
		}
	}
}

// statusWriter remembers the status and the error message of a response.
type statusWriter struct {
	http.ResponseWriter
	code   int
	errMsg string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// route is one endpoint under /api/v1, with the least role it needs and,
// for the ones that change something, the action the audit log names.
type route struct {
	method, path string
	role         string // "" = any authenticated token
	action       string // "" = not audited (reads)
	handler      http.HandlerFunc
}

// guard authenticates the request, checks the route's role, puts the
// token into the context and, for mutating routes, writes the audit record
// once the handler is done.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.action != "" {
			entry := &auditEntry{action: rt.action, subject: defaultSubject(r)}
			sw := &statusWriter{ResponseWriter: w}
			w = sw
			r = r.WithContext(context.WithValue(r.Context(), auditKey, entry))
			defer func() { s.writeAudit(r, entry, sw) }()
		}
		tok, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), tokenKey, tok))
		switch {
		case roleRank[tok.Role] == 0:
			writeError(w, http.StatusForbidden, "", fmt.Sprintf("token %q has role %q, which is none of %s", tok.Name, tok.Role, strings.Join(Roles(), ", ")))
			return
		case roleRank[tok.Role] < roleRank[rt.role]:
			writeError(w, http.StatusForbidden, "", fmt.Sprintf("token %q has role %s; this needs role %s", tok.Name, tok.Role, rt.role))
			return
		}
		rt.handler(w, r)
	})
}

// defaultSubject is the thing a request is about, from its path.
func defaultSubject(r *http.Request) string {
	v := mux.Vars(r)
	switch {
	case v["app"] != "" && v["target"] != "":
		return v["app"] + "/" + v["target"]
	case v["id"] != "":
		return "release " + v["id"]
	case v["name"] != "":
		return "token " + v["name"]
	}
	return ""
}

func (s *Server) writeAudit(r *http.Request, e *auditEntry, sw *statusWriter) {
	if s.Audit == nil {
		return
	}
	outcome := "ok"
	switch {
	case sw.code == http.StatusUnauthorized || sw.code == http.StatusForbidden:
		outcome = "denied: " + sw.errMsg
	case sw.code >= 400:
		outcome = "error: " + sw.errMsg
	}
	rec := store.AuditRecord{Actor: Actor(r.Context()), Action: e.action, Subject: e.subject, Outcome: outcome, Detail: e.detail}
	// The client going away must not lose the record.
	if err := s.Audit.Audit(context.WithoutCancel(r.Context()), rec); err != nil {
		s.logger().Error("writing the audit log", "err", err, "actor", rec.Actor, "action", rec.Action, "subject", rec.Subject, "outcome", rec.Outcome)
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// authenticate finds the request's bearer token, or answers 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (store.Token, bool) {
	unauthorized := func(challenge, msg string) (store.Token, bool) {
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, "", msg)
		return store.Token{}, false
	}
	h := r.Header.Get("Authorization")
	if strings.TrimSpace(h) == "" {
		return unauthorized(`Bearer realm="slipway"`, "missing API token: send Authorization: Bearer <token>")
	}
	scheme, secret, _ := strings.Cut(strings.TrimSpace(h), " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return unauthorized(`Bearer realm="slipway", error="invalid_request"`, "malformed Authorization header: want Bearer <token>")
	}
	if s.Tokens == nil {
		// Fail closed: without a token store nobody is let in.
		writeError(w, http.StatusServiceUnavailable, "", "API tokens are not configured on this server")
		return store.Token{}, false
	}
	tok, err := s.Tokens.TokenBySecret(r.Context(), secret)
	if errors.Is(err, store.ErrNotFound) {
		return unauthorized(`Bearer realm="slipway", error="invalid_token"`, "unknown API token")
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "checking the API token: "+err.Error())
		return store.Token{}, false
	}
	return tok, true
}

// hasAllProjects reports whether the token reaches every project.
func hasAllProjects(t store.Token) bool { return slices.Contains(t.Projects, AllProjects) }

// mayAccess reports whether the token reaches an application bound to
// project ("" = bound to none, reachable only with all projects).
func mayAccess(t store.Token, project string) bool {
	if hasAllProjects(t) {
		return true
	}
	return project != "" && slices.Contains(t.Projects, project)
}

// covers reports whether a token reaches every project in projects, so it
// may hand them to (or take them from) another token.
func covers(t store.Token, projects []string) bool {
	if hasAllProjects(t) {
		return true
	}
	for _, p := range projects {
		if p == AllProjects || !slices.Contains(t.Projects, p) {
			return false
		}
	}
	return true
}

// projectOf is the project app is bound to in the current config; known is
// false when the app is not in it (or there is no config).
func (s *Server) projectOf(app string) (project string, known bool) {
	if s.Config == nil {
		return "", false
	}
	cfg := s.Config()
	if cfg == nil {
		return "", false
	}
	if _, ok := cfg.Applications[app]; !ok {
		return "", false
	}
	return cfg.ProjectOf(app), true
}

// configLoaded reports whether the server has a config to check apps in.
func (s *Server) configLoaded() bool {
	return s.Config != nil && s.Config() != nil
}

// mayAccessApp reports whether the request's token reaches app.
func (s *Server) mayAccessApp(r *http.Request, app string) bool {
	tok, _ := TokenFrom(r.Context())
	project, _ := s.projectOf(app)
	return mayAccess(tok, project)
}

// allowApp checks that the request's token reaches app: 404 when the
// config has no such application, 403 when the token lacks its project.
func (s *Server) allowApp(w http.ResponseWriter, r *http.Request, app string) bool {
	project, known := s.projectOf(app)
	if !known && s.configLoaded() {
		writeError(w, http.StatusNotFound, "application", "application "+app+" not found")
		return false
	}
	return s.allowProject(w, r, app, project)
}

// allowTarget is allowApp for a target's routes: an application the
// config does not have is a target not found.
func (s *Server) allowTarget(w http.ResponseWriter, r *http.Request, ref config.TargetRef) bool {
	project, known := s.projectOf(ref.App)
	if !known && s.configLoaded() {
		writeError(w, http.StatusNotFound, "target", "target "+ref.String()+" not found")
		return false
	}
	return s.allowProject(w, r, ref.App, project)
}

// allowProject checks that the request's token reaches project, the
// project of app; otherwise it answers 403 saying what is needed.
func (s *Server) allowProject(w http.ResponseWriter, r *http.Request, app, project string) bool {
	tok, _ := TokenFrom(r.Context())
	if mayAccess(tok, project) {
		return true
	}
	if project == "" {
		writeError(w, http.StatusForbidden, "", fmt.Sprintf("application %s is bound to no project: only a token for all projects (%q) may access it", app, AllProjects))
	} else {
		writeError(w, http.StatusForbidden, "", fmt.Sprintf("token %q may not access application %s: it needs project %s", tok.Name, app, project))
	}
	return false
}

// AdminTokenName is the name of the token EnsureAdminToken keeps.
const AdminTokenName = "admin"

// EnsureAdminToken makes sure an admin token for all projects exists and
// that its secret is in the file at path, so that whoever can read the
// server's data directory can use the API without setup.
//
// If the file exists, its trimmed content is the secret: the token named
// admin is created with it if missing. If the file does not exist, a new
// token is created and its secret written to the file with mode 0600 (a
// token named admin left from a lost file is replaced). An empty file, or
// a token named admin with another secret, is an error: the server does not
// start rather than guess.
func EnsureAdminToken(ctx context.Context, tokens TokenStore, path string) (secret string, created bool, err error) {
	want := store.Token{Name: AdminTokenName, Role: RoleAdmin, Projects: []string{AllProjects}, CreatedBy: "slipway"}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return "", false, fmt.Errorf("admin token file %s is empty: put the admin token in it, or delete it to have a new one made", path)
		}
		tok, err := tokens.TokenBySecret(ctx, secret)
		if err == nil {
			if tok.Name != AdminTokenName || tok.Role != RoleAdmin || !hasAllProjects(tok) {
				return "", false, fmt.Errorf("admin token file %s holds the secret of token %q (role %s, projects %s), not of an admin token for all projects",
					path, tok.Name, tok.Role, strings.Join(tok.Projects, ","))
			}
			return secret, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", false, fmt.Errorf("looking up the admin token: %w", err)
		}
		if _, err := tokens.CreateTokenWithSecret(ctx, want, secret); err != nil {
			if errors.Is(err, store.ErrTokenExists) {
				return "", false, fmt.Errorf("a token named %s exists with another secret than the one in %s: delete the token (slipway token delete %s) or put its secret in the file",
					AdminTokenName, path, AdminTokenName)
			}
			return "", false, fmt.Errorf("creating the admin token: %w", err)
		}
		return secret, true, nil
	case errors.Is(err, os.ErrNotExist):
	default:
		return "", false, fmt.Errorf("reading the admin token: %w", err)
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	secret, _, err = tokens.CreateToken(ctx, want)
	if errors.Is(err, store.ErrTokenExists) {
		// The file that held its secret is gone, and whoever could remove
		// it can read the database too: replace the token.
		if err := tokens.DeleteToken(ctx, AdminTokenName); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", false, fmt.Errorf("replacing the admin token: %w", err)
		}
		secret, _, err = tokens.CreateToken(ctx, want)
	}
	if err != nil {
		return "", false, fmt.Errorf("creating the admin token: %w", err)
	}
	if err := writeSecretFile(path, secret); err != nil {
		// Without the file nobody knows the secret: take the token back.
		_ = tokens.DeleteToken(ctx, AdminTokenName)
		return "", false, err
	}
	return secret, true, nil
}

// writeSecretFile writes a new file readable by its owner only.
func writeSecretFile(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing the admin token: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing the admin token: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing the admin token: %w", err)
	}
	return nil
}
