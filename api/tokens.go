package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipwaycd/slipway/store"
)

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	// Name is a DNS-1123 label, unique among tokens.
	Name string `json:"name"`
	// Role is viewer, deployer or admin.
	Role string `json:"role"`
	// Projects the token may access; "*" for all (and the applications
	// bound to none).
	Projects []string `json:"projects"`
}

// CreatedToken is the answer to POST /api/v1/tokens. The secret is shown
// this once; the server keeps only what identifies it.
type CreatedToken struct {
	Token  store.Token `json:"token"`
	Secret string      `json:"secret"`
}

func (s *Server) tokensReady(w http.ResponseWriter) bool {
	if s.Tokens == nil {
		writeError(w, http.StatusServiceUnavailable, "", "API tokens are not configured on this server")
		return false
	}
	return true
}

// listTokens serves GET /api/v1/tokens.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if !s.tokensReady(w) {
		return
	}
	list, err := s.Tokens.Tokens(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	out := []store.Token{}
	for _, t := range list {
		out = append(out, withProjects(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// createToken serves POST /api/v1/tokens. A token may hand out only the
// projects it has itself.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in CreateTokenRequest
	if !decodeJSON(w, r, &in, false) {
		return
	}
	setAudit(r, "token "+in.Name, fmt.Sprintf("role %s, projects %s", in.Role, strings.Join(in.Projects, ",")))
	if field, msg := validateToken(in); field != "" {
		writeError(w, http.StatusBadRequest, field, msg)
		return
	}
	caller, _ := TokenFrom(r.Context())
	if !covers(caller, in.Projects) {
		writeError(w, http.StatusForbidden, "projects", fmt.Sprintf("token %q may only give projects it has (%s)", caller.Name, strings.Join(caller.Projects, ",")))
		return
	}
	if !s.tokensReady(w) {
		return
	}
	secret, saved, err := s.Tokens.CreateToken(r.Context(), store.Token{
		Name: in.Name, Role: in.Role, Projects: in.Projects, CreatedBy: Actor(r.Context()),
	})
	switch {
	case errors.Is(err, store.ErrTokenExists):
		writeError(w, http.StatusConflict, "name", fmt.Sprintf("a token named %s exists", in.Name))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, CreatedToken{Token: withProjects(saved), Secret: secret})
}

// validateToken checks a token request; it returns the field at fault.
func validateToken(in CreateTokenRequest) (field, msg string) {
	if errs := validation.IsDNS1123Label(in.Name); len(errs) > 0 {
		if in.Name == "" {
			return "name", "name is required"
		}
		return "name", fmt.Sprintf("name %q: %s", in.Name, strings.Join(errs, "; "))
	}
	if _, ok := roleRank[in.Role]; !ok {
		return "role", fmt.Sprintf("role %q: want one of %s", in.Role, strings.Join(Roles(), ", "))
	}
	if len(in.Projects) == 0 {
		return "projects", fmt.Sprintf("projects is required: the projects the token may access, or %q for all", AllProjects)
	}
	for i, p := range in.Projects {
		if p == AllProjects {
			continue
		}
		if errs := validation.IsDNS1123Label(p); len(errs) > 0 {
			return fmt.Sprintf("projects[%d]", i), fmt.Sprintf("project %q: %s", p, strings.Join(errs, "; "))
		}
		if slices.Contains(in.Projects[:i], p) {
			return fmt.Sprintf("projects[%d]", i), fmt.Sprintf("project %q is listed twice", p)
		}
	}
	return "", ""
}

// deleteToken serves DELETE /api/v1/tokens/{name}. A token may delete only
// tokens whose projects it has itself.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	if !s.tokensReady(w) {
		return
	}
	list, err := s.Tokens.Tokens(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	i := slices.IndexFunc(list, func(t store.Token) bool { return t.Name == name })
	if i < 0 {
		writeError(w, http.StatusNotFound, "name", "token "+name+" not found")
		return
	}
	caller, _ := TokenFrom(r.Context())
	if !covers(caller, list[i].Projects) {
		writeError(w, http.StatusForbidden, "", fmt.Sprintf("token %q may not delete token %s: it has projects %s", caller.Name, name, strings.Join(list[i].Projects, ",")))
		return
	}
	switch err := s.Tokens.DeleteToken(r.Context(), name); {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "name", "token "+name+" not found")
	case err != nil:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// whoami serves GET /api/v1/whoami: the calling token.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	tok, _ := TokenFrom(r.Context())
	writeJSON(w, http.StatusOK, withProjects(tok))
}

// listAudit serves GET /api/v1/audit[?limit=N]: the newest records first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(w, r, 100)
	if !ok {
		return
	}
	out := []store.AuditRecord{}
	if s.Audit != nil {
		got, err := s.Audit.AuditLog(r.Context(), limit)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		out = append(out, got...)
	}
	writeJSON(w, http.StatusOK, out)
}

// withProjects makes a token's nil projects an empty list for JSON.
func withProjects(t store.Token) store.Token {
	if t.Projects == nil {
		t.Projects = []string{}
	}
	return t
}
