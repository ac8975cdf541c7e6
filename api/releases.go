package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/pipeline"
	"github.com/slipwaycd/slipway/store"
)

// Releases is what the API asks of the pipeline engine.
type Releases interface {
	// Create starts a release order. A *pipeline.FieldError is a bad
	// request; pipeline.ErrNotFound (wrapped) an unknown application or
	// pipeline.
	Create(ctx context.Context, req pipeline.Request) (*pipeline.Execution, error)
	// Get returns an execution, or pipeline.ErrNotFound.
	Get(ctx context.Context, id int64) (*pipeline.Execution, error)
	// List returns executions, newest first.
	List(ctx context.Context, f pipeline.Filter) ([]*pipeline.Execution, error)
	// Cancel, Restart and Judge return pipeline.ErrConflict when the
	// execution's state does not allow the action. Judge with stage ""
	// judges the stage that is waiting.
	Cancel(ctx context.Context, id int64, user, reason string) error
	Restart(ctx context.Context, id int64, user string) error
	Judge(ctx context.Context, id int64, stage string, approve bool, user, comment string) error
}

// CreateReleaseRequest is the body of POST /api/v1/releases.
type CreateReleaseRequest struct {
	Application string            `json:"application"`
	Pipeline    string            `json:"pipeline"`
	Parameters  map[string]string `json:"parameters,omitempty"`
	// Artifacts are image references (repo:tag, repo@digest), each bound
	// to the expected artifact it matches.
	Artifacts []string `json:"artifacts,omitempty"`
}

// CancelRequest is the (optional) body of POST /api/v1/releases/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// JudgeRequest is the (optional) body of POST /api/v1/releases/{id}/approve
// and /reject. An empty Stage judges the stage that is waiting.
type JudgeRequest struct {
	Stage   string `json:"stage,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// maxBody caps request bodies.
const maxBody = 1 << 20

// statuses are the values ?status= accepts.
var statuses = []pipeline.Status{
	pipeline.StatusQueued, pipeline.StatusRunning, pipeline.StatusWaiting, pipeline.StatusSucceeded,
	pipeline.StatusFailed, pipeline.StatusCanceled, pipeline.StatusRejected, pipeline.StatusRefused,
}

func (s *Server) releasesReady(w http.ResponseWriter) bool {
	if s.Releases == nil {
		writeError(w, http.StatusServiceUnavailable, "", "pipelines are not running on this server")
		return false
	}
	return true
}

// createRelease serves POST /api/v1/releases.
func (s *Server) createRelease(w http.ResponseWriter, r *http.Request) {
	var in CreateReleaseRequest
	if !decodeJSON(w, r, &in, false) {
		return
	}
	switch {
	case strings.TrimSpace(in.Application) == "":
		writeError(w, http.StatusBadRequest, "application", "application is required")
		return
	case strings.TrimSpace(in.Pipeline) == "":
		writeError(w, http.StatusBadRequest, "pipeline", "pipeline is required")
		return
	}
	setAudit(r, in.Application+"/"+in.Pipeline, "")
	if !s.allowApp(w, r, in.Application) || !s.releasesReady(w) {
		return
	}
	ex, err := s.Releases.Create(r.Context(), pipeline.Request{
		Application: in.Application,
		Pipeline:    in.Pipeline,
		Parameters:  in.Parameters,
		Artifacts:   in.Artifacts,
		User:        Actor(r.Context()),
	})
	if err != nil {
		writeEngineError(w, err)
		return
	}
	setAudit(r, "", fmt.Sprintf("release %d: %s", ex.ID, ex.Status))
	writeJSON(w, http.StatusCreated, forOutput(ex, false))
}

// listReleases serves GET /api/v1/releases[?app=&pipeline=&status=&limit=]:
// executions newest first, without their stages' logs. Executions of
// applications the token may not access are left out.
func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := pipeline.Filter{Application: q.Get("app"), Pipeline: q.Get("pipeline"), Status: pipeline.Status(q.Get("status"))}
	if f.Status != "" && !slices.Contains(statuses, f.Status) {
		writeError(w, http.StatusBadRequest, "status", fmt.Sprintf("status %q: want one of %s", f.Status, joinStatuses()))
		return
	}
	limit, ok := limitParam(w, r, 50)
	if !ok || !s.releasesReady(w) {
		return
	}
	f.Limit = limit
	tok, _ := TokenFrom(r.Context())

	// A token for some projects lists per application it may access, so
	// that the limit counts what it sees.
	filters := []pipeline.Filter{f}
	if !hasAllProjects(tok) {
		filters = nil
		for _, app := range s.visibleApps(tok) {
			if f.Application == "" || f.Application == app {
				g := f
				g.Application = app
				filters = append(filters, g)
			}
		}
	}
	out := []*pipeline.Execution{}
	for _, g := range filters {
		got, err := s.Releases.List(r.Context(), g)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		for _, ex := range got {
			if s.mayAccessExecution(r, ex) {
				out = append(out, forOutput(ex, true))
			}
		}
	}
	if len(filters) > 1 {
		slices.SortFunc(out, func(a, b *pipeline.Execution) int { return cmp.Compare(b.ID, a.ID) })
	}
	if len(out) > limit {
		out = out[:limit]
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleApps lists, sorted, the applications of the current config the
// token may access.
func (s *Server) visibleApps(tok store.Token) []string {
	if s.Config == nil {
		return nil
	}
	cfg := s.Config()
	if cfg == nil {
		return nil
	}
	var apps []string
	for name := range cfg.Applications {
		if mayAccess(tok, cfg.ProjectOf(name)) {
			apps = append(apps, name)
		}
	}
	slices.Sort(apps)
	return apps
}

// executionProject is the project an execution is checked against: its
// application's in the current config, or the one it recorded when the
// application is gone from the config.
func (s *Server) executionProject(ex *pipeline.Execution) string {
	if p, known := s.projectOf(ex.Application); known {
		return p
	}
	return ex.Project
}

func (s *Server) mayAccessExecution(r *http.Request, ex *pipeline.Execution) bool {
	tok, _ := TokenFrom(r.Context())
	return mayAccess(tok, s.executionProject(ex))
}

// execution reads the release order named by the path's {id} and checks
// the token may access it; otherwise it answers.
func (s *Server) execution(w http.ResponseWriter, r *http.Request) (*pipeline.Execution, bool) {
	raw := mux.Vars(r)["id"]
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "id", fmt.Sprintf("release order id %q: want a positive integer", raw))
		return nil, false
	}
	if !s.releasesReady(w) {
		return nil, false
	}
	ex, err := s.Releases.Get(r.Context(), id)
	if err != nil {
		writeEngineError(w, err)
		return nil, false
	}
	if !s.allowProject(w, r, ex.Application, s.executionProject(ex)) {
		return nil, false
	}
	setAudit(r, fmt.Sprintf("release %d (%s/%s)", ex.ID, ex.Application, ex.Pipeline), "")
	return ex, true
}

// getRelease serves GET /api/v1/releases/{id}: the whole execution, logs
// included.
func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) {
	ex, ok := s.execution(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, forOutput(ex, false))
}

// cancelRelease serves POST /api/v1/releases/{id}/cancel.
func (s *Server) cancelRelease(w http.ResponseWriter, r *http.Request) {
	var in CancelRequest
	if !decodeJSON(w, r, &in, true) {
		return
	}
	ex, ok := s.execution(w, r)
	if !ok {
		return
	}
	setAudit(r, "", in.Reason)
	s.act(w, r, ex.ID, s.Releases.Cancel(r.Context(), ex.ID, Actor(r.Context()), in.Reason))
}

// restartRelease serves POST /api/v1/releases/{id}/restart.
func (s *Server) restartRelease(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	if !decodeJSON(w, r, &in, true) {
		return
	}
	ex, ok := s.execution(w, r)
	if !ok {
		return
	}
	s.act(w, r, ex.ID, s.Releases.Restart(r.Context(), ex.ID, Actor(r.Context())))
}

// judgeRelease serves POST /api/v1/releases/{id}/approve and /reject.
func (s *Server) judgeRelease(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in JudgeRequest
		if !decodeJSON(w, r, &in, true) {
			return
		}
		ex, ok := s.execution(w, r)
		if !ok {
			return
		}
		detail := in.Comment
		if in.Stage != "" {
			detail = strings.TrimSpace("stage " + in.Stage + ": " + in.Comment)
		}
		setAudit(r, "", detail)
		s.act(w, r, ex.ID, s.Releases.Judge(r.Context(), ex.ID, in.Stage, approve, Actor(r.Context()), in.Comment))
	}
}

// act answers an action on a release order: 202 with the execution as it
// stands after the action, or the action's error.
func (s *Server) act(w http.ResponseWriter, r *http.Request, id int64, err error) {
	if err != nil {
		writeEngineError(w, err)
		return
	}
	ex, err := s.Releases.Get(r.Context(), id)
	if err != nil {
		writeEngineError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, forOutput(ex, false))
}

// writeEngineError maps the engine's errors to statuses.
func writeEngineError(w http.ResponseWriter, err error) {
	var fe *pipeline.FieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Field, fe.Error())
	case errors.Is(err, pipeline.ErrNotFound):
		writeError(w, http.StatusNotFound, "", err.Error())
	case errors.Is(err, pipeline.ErrConflict):
		writeError(w, http.StatusConflict, "", err.Error())
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	}
}

// forOutput copies an execution for a response, so the engine's own is
// never touched: nil maps and slices become empty ones, and a summary
// leaves out the stages' logs (log and outputs.jobLog).
func forOutput(ex *pipeline.Execution, summary bool) *pipeline.Execution {
	c := *ex
	if c.Parameters == nil {
		c.Parameters = map[string]string{}
	}
	if c.Artifacts == nil {
		c.Artifacts = []pipeline.Artifact{}
	}
	c.Stages = make([]*pipeline.StageState, 0, len(ex.Stages))
	for _, st := range ex.Stages {
		sc := *st
		if sc.DependsOn == nil {
			sc.DependsOn = []string{}
		}
		if summary {
			sc.Log = nil
			sc.Outputs.JobLog = ""
		}
		c.Stages = append(c.Stages, &sc)
	}
	return &c
}

func joinStatuses() string {
	s := make([]string, len(statuses))
	for i, v := range statuses {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// decodeJSON reads a request body of at most maxBody bytes into v,
// refusing unknown fields, wrong types and trailing data with a 400 that
// names the field (413 when too large). An empty body is fine when
// optional.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, "", "request body required: a JSON object")
		return false
	}
	if err == nil {
		// One object, and nothing after it.
		var extra json.RawMessage
		if err = dec.Decode(&extra); errors.Is(err, io.EOF) {
			return true
		}
		if err == nil {
			err = errors.New("trailing data after the JSON object")
		}
	}
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body larger than %d bytes", maxBody))
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			writeError(w, http.StatusBadRequest, "", fmt.Sprintf("request body: got JSON %s, want %s", typeErr.Value, jsonKind(typeErr.Type)))
		} else {
			writeError(w, http.StatusBadRequest, typeErr.Field, fmt.Sprintf("%s: got JSON %s, want %s", typeErr.Field, typeErr.Value, jsonKind(typeErr.Type)))
		}
	case errors.As(err, &syntax):
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("request body is not valid JSON (at byte %d): %v", syntax.Offset, err))
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, "", "request body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		}
		writeError(w, http.StatusBadRequest, field, fmt.Sprintf("unknown field %q", field))
	default:
		writeError(w, http.StatusBadRequest, "", "request body: "+err.Error())
	}
	return false
}

// jsonKind names the JSON a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another type"
}

// Pipeline is a pipeline as the API shows it (GET /api/v1/pipelines).
type Pipeline struct {
	Application       string             `json:"application"`
	Name              string             `json:"name"`
	Description       string             `json:"description,omitempty"`
	Disabled          bool               `json:"disabled"`
	Execution         ExecutionOptions   `json:"execution"`
	ExpectedArtifacts []ExpectedArtifact `json:"expectedArtifacts"`
	Triggers          []PipelineTrigger  `json:"triggers"`
	Parameters        []Parameter        `json:"parameters"`
	Stages            []PipelineStage    `json:"stages"`
}

// ExecutionOptions says how executions of a pipeline may overlap.
type ExecutionOptions struct {
	Concurrent          bool `json:"concurrent"`
	KeepWaiting         bool `json:"keepWaiting"`
	AllowRestartRunning bool `json:"allowRestartRunning"`
}

// ExpectedArtifact is an artifact a pipeline needs, and the rule a value
// must match.
type ExpectedArtifact struct {
	ID                string `json:"id"`
	Type              string `json:"type"`
	Repository        string `json:"repository"`
	KustomizeName     string `json:"kustomizeName,omitempty"`
	Tag               string `json:"tag,omitempty"`
	TagRegex          string `json:"tagRegex,omitempty"`
	Semver            string `json:"semver,omitempty"`
	Digest            string `json:"digest,omitempty"`
	UsePriorExecution bool   `json:"usePriorExecution"`
	Default           string `json:"default,omitempty"`
}

// PipelineTrigger is one way a pipeline starts; the fields of its type are
// set.
type PipelineTrigger struct {
	Type        config.TriggerType `json:"type"`
	Enabled     bool               `json:"enabled"`
	Artifacts   []string           `json:"artifacts,omitempty"`
	Repository  string             `json:"repository,omitempty"`
	Branch      string             `json:"branch,omitempty"`
	Paths       []string           `json:"paths,omitempty"`
	Schedule    string             `json:"schedule,omitempty"`
	TimeZone    string             `json:"timeZone,omitempty"`
	Application string             `json:"application,omitempty"`
	Pipeline    string             `json:"pipeline,omitempty"`
	Statuses    []string           `json:"statuses,omitempty"`
	// Source is a generic webhook's name.
	Source  string            `json:"source,omitempty"`
	Payload map[string]string `json:"payload,omitempty"`
}

// Parameter is a value a person gives an execution.
type Parameter struct {
	Name     string   `json:"name"`
	Label    string   `json:"label,omitempty"`
	Required bool     `json:"required"`
	Default  string   `json:"default,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// PipelineStage is one stage of a pipeline.
type PipelineStage struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Type      config.StageType `json:"type"`
	DependsOn []string         `json:"dependsOn"`
	Target    string           `json:"target,omitempty"`
}

// pipelineOut converts a config pipeline for a response.
func pipelineOut(p *config.Pipeline) Pipeline {
	out := Pipeline{
		Application: p.Application,
		Name:        p.Name,
		Description: p.Description,
		Disabled:    p.Disabled,
		Execution: ExecutionOptions{
			Concurrent:          p.Execution.Concurrent,
			KeepWaiting:         p.Execution.KeepWaiting,
			AllowRestartRunning: p.Execution.AllowRestartRunning,
		},
		ExpectedArtifacts: []ExpectedArtifact{},
		Triggers:          []PipelineTrigger{},
		Parameters:        []Parameter{},
		Stages:            []PipelineStage{},
	}
	for _, a := range p.ExpectedArtifacts {
		out.ExpectedArtifacts = append(out.ExpectedArtifacts, ExpectedArtifact{
			ID: a.ID, Type: a.Type, Repository: a.Repository, KustomizeName: a.KustomizeName,
			Tag: a.Tag, TagRegex: a.TagRegex, Semver: a.Semver, Digest: a.Digest,
			UsePriorExecution: a.UsePriorExecution, Default: a.Default,
		})
	}
	for _, t := range p.Triggers {
		out.Triggers = append(out.Triggers, PipelineTrigger{
			Type: t.Type, Enabled: t.Enabled, Artifacts: t.Artifacts,
			Repository: t.Repository, Branch: t.Branch, Paths: t.Paths,
			Schedule: t.Schedule, TimeZone: t.TimeZone,
			Application: t.Application, Pipeline: t.Pipeline, Statuses: t.Statuses,
			Source: t.WebhookSource, Payload: t.Payload,
		})
	}
	for _, pa := range p.Parameters {
		out.Parameters = append(out.Parameters, Parameter{
			Name: pa.Name, Label: pa.Label, Required: pa.Required, Default: pa.Default, Options: pa.Options,
		})
	}
	for _, st := range p.Stages {
		deps := st.DependsOn
		if deps == nil {
			deps = []string{}
		}
		out.Stages = append(out.Stages, PipelineStage{ID: st.ID, Name: st.Name, Type: st.Type, DependsOn: deps, Target: st.Target})
	}
	return out
}

// listPipelines serves GET /api/v1/pipelines[?app=A]: the pipelines of the
// current config the token may access, by application then name.
func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	out := []Pipeline{}
	var cfg *config.Repo
	if s.Config != nil {
		cfg = s.Config()
	}
	if cfg != nil {
		tok, _ := TokenFrom(r.Context())
		for _, name := range s.visibleApps(tok) {
			if app != "" && name != app {
				continue
			}
			for _, p := range cfg.Applications[name].Pipelines {
				out = append(out, pipelineOut(p))
			}
		}
	}
	slices.SortFunc(out, func(a, b Pipeline) int {
		return cmp.Or(cmp.Compare(a.Application, b.Application), cmp.Compare(a.Name, b.Name))
	})
	writeJSON(w, http.StatusOK, out)
}

// getPipeline serves GET /api/v1/applications/{app}/pipelines/{pipeline}.
func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	app, name := v["app"], v["pipeline"]
	var cfg *config.Repo
	if s.Config != nil {
		cfg = s.Config()
	}
	if cfg == nil {
		writeError(w, http.StatusServiceUnavailable, "", "the config repo is not loaded yet")
		return
	}
	if !s.allowApp(w, r, app) {
		return
	}
	p, ok := cfg.Pipeline(app, name)
	if !ok {
		writeError(w, http.StatusNotFound, "pipeline", "pipeline "+app+"/"+name+" not found")
		return
	}
	writeJSON(w, http.StatusOK, pipelineOut(p))
}
