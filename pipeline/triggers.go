package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// Create starts a release order by hand. Bad input (an unknown parameter,
// an artifact that matches nothing, a required artifact missing) is an
// error naming the field, and nothing is recorded.
func (e *Engine) Create(ctx context.Context, req Request) (*Execution, error) {
	switch {
	case req.Application == "":
		return nil, &FieldError{Field: "application", Msg: "required"}
	case req.Pipeline == "":
		return nil, &FieldError{Field: "pipeline", Msg: "required"}
	}
	cfg := e.o.Reconciler.Config()
	if cfg == nil {
		return nil, errors.New("no valid config loaded yet")
	}
	if _, ok := cfg.Applications[req.Application]; !ok {
		return nil, fmt.Errorf("application %q: %w", req.Application, ErrNotFound)
	}
	def, ok := cfg.Pipeline(req.Application, req.Pipeline)
	if !ok {
		return nil, fmt.Errorf("pipeline %s/%s: %w", req.Application, req.Pipeline, ErrNotFound)
	}
	if def.Disabled {
		return nil, &FieldError{Field: "pipeline", Msg: fmt.Sprintf("pipeline %s/%s is disabled", def.Application, def.Name)}
	}
	for _, t := range def.Triggers {
		if t.Type == config.TriggerManual && !t.Enabled {
			return nil, &FieldError{Field: "pipeline", Msg: fmt.Sprintf("pipeline %s/%s does not allow manual runs (its manual trigger is disabled)", def.Application, def.Name)}
		}
	}
	params, err := resolveParameters(def, req.Parameters)
	if err != nil {
		return nil, err
	}
	given, err := requestArtifacts(def, req.Artifacts)
	if err != nil {
		return nil, err
	}
	artifacts, missing := resolveArtifacts(def, given, e.prior(ctx, def))
	if missing != "" {
		return nil, &FieldError{Field: "artifacts", Msg: missing}
	}
	user := orDefault(req.User, "anonymous")
	return e.create(ctx, start{
		def: def, revision: e.o.Reconciler.Revision(),
		trigger:    Trigger{Type: config.TriggerManual, User: user, Summary: "release order by " + user},
		parameters: params, artifacts: artifacts,
	})
}

// start creates an execution for a trigger: defaults for parameters, the
// given artifacts plus prior/default ones. Where a trigger cannot supply
// what the pipeline needs, the execution is recorded as refused, with the
// reason, rather than dropped.
func (e *Engine) start(ctx context.Context, def *config.Pipeline, rev string, trig Trigger, params map[string]string, given []Artifact, dedup string) (*Execution, error) {
	s := start{def: def, revision: rev, trigger: trig, dedup: dedup}
	var err error
	s.parameters, err = resolveParameters(def, params)
	if err != nil {
		s.refused = err.Error()
	}
	var missing string
	s.artifacts, missing = resolveArtifacts(def, given, e.prior(ctx, def))
	if s.refused == "" {
		s.refused = missing
	}
	if def.Disabled && s.refused == "" {
		s.refused = "pipeline is disabled"
	}
	return e.create(ctx, s)
}

// prior finds the artifact bound by the latest succeeded execution of a
// pipeline, for expected artifacts with usePriorExecution.
func (e *Engine) prior(ctx context.Context, def *config.Pipeline) func(id string) (Artifact, bool) {
	var recent []*Execution
	loaded := false
	return func(id string) (Artifact, bool) {
		if !loaded {
			loaded = true
			recs, err := e.o.Store.ListExecutions(ctx, store.ExecutionFilter{
				Application: def.Application, Pipeline: def.Name,
				Statuses: []string{string(StatusSucceeded)}, Limit: 20,
			})
			if err != nil {
				e.log.Warn("reading prior executions", "err", err)
			}
			for _, rec := range recs {
				if x, err := decode(rec.Doc); err == nil {
					recent = append(recent, x)
				}
			}
		}
		for _, x := range recent {
			for _, a := range x.Artifacts {
				if a.ID == id {
					return a, true
				}
			}
		}
		return Artifact{}, false
	}
}

// errNoConfig is returned while no valid config has been read.
var errNoConfig = errors.New("no valid config loaded yet")

// Started is what one event started.
type Started struct {
	Pipeline string // app/pipeline
	ID       int64
	Status   Status
	Reason   string
}

// String formats the outcome for the event log.
func (s Started) String() string {
	if s.ID == 0 {
		return fmt.Sprintf("%s: not started: %s", s.Pipeline, s.Reason)
	}
	if s.Reason != "" {
		return fmt.Sprintf("%s: release order %d %s (%s)", s.Pipeline, s.ID, s.Status, s.Reason)
	}
	return fmt.Sprintf("%s: release order %d %s", s.Pipeline, s.ID, s.Status)
}

// forEachTrigger calls f for every enabled trigger of type typ in every
// enabled pipeline, in a stable order.
func (e *Engine) forEachTrigger(typ config.TriggerType, f func(def *config.Pipeline, t config.Trigger, i int)) {
	cfg := e.o.Reconciler.Config()
	if cfg == nil {
		return
	}
	apps := make([]string, 0, len(cfg.Applications))
	for name := range cfg.Applications {
		apps = append(apps, name)
	}
	slices.Sort(apps)
	for _, app := range apps {
		for _, def := range cfg.Applications[app].Pipelines {
			if def.Disabled {
				continue
			}
			for i, t := range def.Triggers {
				if t.Type == typ && t.Enabled {
					f(def, t, i)
				}
			}
		}
	}
}

// OnImagePushed starts every pipeline with a docker trigger whose
// artifacts the pushed image matches. A redelivered push starts nothing new.
func (e *Engine) OnImagePushed(ctx context.Context, ev webhooks.ImagePushed) ([]Started, error) {
	if e.o.Reconciler.Config() == nil {
		// Not read yet: fail, so the inbox keeps the event and retries it.
		return nil, errNoConfig
	}
	repo := ev.Repository
	if ev.Registry != "" {
		repo = ev.Registry + "/" + ev.Repository
	}
	img := image{Repository: repo, Tag: ev.Tag, Digest: ev.Digest}
	rev := e.o.Reconciler.Revision()
	quarantined := ""
	if e.o.Quarantine != nil && img.Digest != "" {
		q, bad, err := e.o.Quarantine.Quarantined(ctx, img.Repository, img.Digest)
		if err != nil {
			return nil, fmt.Errorf("checking the quarantine: %w", err)
		}
		if bad {
			quarantined = fmt.Sprintf("%s is quarantined (rolled back from %s by %s)", img.Reference(), q.Target, q.Actor)
		}
	}
	var out []Started
	var errs []error
	e.forEachTrigger(config.TriggerDocker, func(def *config.Pipeline, t config.Trigger, i int) {
		var given []Artifact
		for _, id := range t.Artifacts {
			for _, ea := range def.ExpectedArtifacts {
				if ea.ID == id {
					if ok, _ := matches(ea, img); ok {
						given = append(given, bind(ea, img, "trigger"))
					}
				}
			}
		}
		if len(given) == 0 {
			return
		}
		if quarantined != "" {
			out = append(out, Started{Pipeline: def.Application + "/" + def.Name, Reason: quarantined})
			return
		}
		x, err := e.start(ctx, def, rev, Trigger{
			Type: config.TriggerDocker, User: orDefault(ev.Pusher, "registry"),
			Summary:    "push of " + img.Reference(),
			DeliveryID: ev.Provider + "/" + ev.Receiver + "/" + ev.DeliveryID,
		}, nil, given, fmt.Sprintf("docker:%s/%s/%s:%s/%s#%d:%s", ev.Provider, ev.Receiver, ev.DeliveryID, def.Application, def.Name, i, img.Reference()))
		out, errs = collect(out, errs, def, x, err)
	})
	return out, errors.Join(errs...)
}

// OnGitPushed starts pipelines with a git trigger on the pushed branch
// (and paths, when the trigger names some). repoIsConfig says whether the
// push was to the config repo, which triggers with no repository follow.
func (e *Engine) OnGitPushed(ctx context.Context, ev webhooks.GitPushed, repoIsConfig bool) ([]Started, error) {
	if e.o.Reconciler.Config() == nil {
		// Not read yet: fail, so the inbox keeps the event and retries it.
		return nil, errNoConfig
	}
	if ev.Branch == "" || strings.Trim(ev.After, "0") == "" {
		return nil, nil // a tag, or a deleted branch
	}
	rev := e.o.Reconciler.Revision()
	// A push of a commit a release order made does not start pipelines on
	// the config repo: a pipeline whose stages commit paths its own git
	// trigger watches would otherwise start itself for ever.
	madeBy := ""
	if repoIsConfig {
		if info, err := e.o.Repo.Info(ev.After); err == nil {
			for _, tr := range info.Trailers {
				if strings.EqualFold(tr.Key, trailerRelease) {
					madeBy = tr.Value
				}
			}
		}
	}
	var out []Started
	var errs []error
	e.forEachTrigger(config.TriggerGit, func(def *config.Pipeline, t config.Trigger, i int) {
		if t.Repository == "" && !repoIsConfig || t.Repository != "" && !strings.EqualFold(t.Repository, ev.Repo) {
			return
		}
		branch := orDefault(t.Branch, "main")
		if ev.Branch != branch || !pathsMatch(t.Paths, ev.Paths) {
			return
		}
		if t.Repository == "" && madeBy != "" {
			out = append(out, Started{Pipeline: def.Application + "/" + def.Name, Reason: fmt.Sprintf("%.12s was committed by release order %s", ev.After, madeBy)})
			return
		}
		x, err := e.start(ctx, def, rev, Trigger{
			Type: config.TriggerGit, User: orDefault(ev.Pusher, "git"),
			Summary:    fmt.Sprintf("push to %s %s at %.12s", ev.Repo, ev.Branch, ev.After),
			DeliveryID: ev.Provider + "/" + ev.Receiver + "/" + ev.DeliveryID,
		}, nil, nil, fmt.Sprintf("git:%s:%s:%s/%s#%d", ev.Repo, ev.After, def.Application, def.Name, i))
		out, errs = collect(out, errs, def, x, err)
	})
	return out, errors.Join(errs...)
}

// pathsMatch says whether any changed path matches any glob; no globs
// match everything. A push whose provider listed no paths matches too:
// an empty list means "unknown", and missing a release is worse than an
// extra one.
func pathsMatch(globs, paths []string) bool {
	if len(globs) == 0 || len(paths) == 0 {
		return true
	}
	for _, g := range globs {
		for _, p := range paths {
			if globMatch(g, p) {
				return true
			}
		}
	}
	return false
}

// globMatch is path.Match where a "**" element matches any number of
// path elements.
func globMatch(glob, p string) bool {
	if !strings.Contains(glob, "**") {
		ok, _ := path.Match(glob, p)
		return ok
	}
	ge, pe := strings.Split(glob, "/"), strings.Split(p, "/")
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(ge) {
			if ge[i] == "**" {
				for k := j; k <= len(pe); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			}
			if j >= len(pe) {
				return false
			}
			if ok, _ := path.Match(ge[i], pe[j]); !ok {
				return false
			}
			i, j = i+1, j+1
		}
		return j == len(pe)
	}
	return match(0, 0)
}

// OnWebhook starts pipelines with a webhook trigger for the source whose
// payload constraints all hold. String values of the payload's top-level
// "parameters" object become parameters.
func (e *Engine) OnWebhook(ctx context.Context, ev webhooks.WebhookReceived) ([]Started, error) {
	if e.o.Reconciler.Config() == nil {
		// Not read yet: fail, so the inbox keeps the event and retries it.
		return nil, errNoConfig
	}
	rev := e.o.Reconciler.Revision()
	var params map[string]string
	var body struct {
		Parameters map[string]any `json:"parameters"`
		Artifacts  []string       `json:"artifacts"`
	}
	if json.Unmarshal(ev.Payload, &body) == nil && len(body.Parameters) > 0 {
		params = map[string]string{}
		for k, v := range body.Parameters {
			params[k] = fmt.Sprint(v)
		}
	}
	var out []Started
	var errs []error
	e.forEachTrigger(config.TriggerWebhook, func(def *config.Pipeline, t config.Trigger, i int) {
		if t.WebhookSource != ev.Source {
			return
		}
		for p, pattern := range t.Payload {
			v, ok := webhooks.PayloadValue(ev.Payload, p)
			re, err := regexp.Compile("^(?:" + pattern + ")$")
			if !ok || err != nil || !re.MatchString(v) {
				return
			}
		}
		var given []Artifact
		for _, ref := range body.Artifacts {
			if img, err := parseImage(ref); err == nil {
				for _, ea := range def.ExpectedArtifacts {
					if ok, _ := matches(ea, img); ok && (len(t.Artifacts) == 0 || slices.Contains(t.Artifacts, ea.ID)) {
						given = append(given, bind(ea, img, "trigger"))
						break
					}
				}
			}
		}
		x, err := e.start(ctx, def, rev, Trigger{
			Type: config.TriggerWebhook, User: "webhook:" + ev.Source,
			Summary:    "webhook " + ev.Source,
			DeliveryID: ev.Provider + "/" + ev.Receiver + "/" + ev.DeliveryID,
		}, params, given, fmt.Sprintf("webhook:%s/%s:%s/%s#%d", ev.Receiver, ev.DeliveryID, def.Application, def.Name, i))
		out, errs = collect(out, errs, def, x, err)
	})
	return out, errors.Join(errs...)
}

// triggerDownstream starts the pipelines whose pipeline trigger follows
// the execution that just ended.
func (e *Engine) triggerDownstream(up *Execution) {
	ctx := e.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	rev := e.o.Reconciler.Revision()
	e.forEachTrigger(config.TriggerPipeline, func(def *config.Pipeline, t config.Trigger, i int) {
		app := orDefault(t.Application, def.Application)
		if app != up.Application || t.Pipeline != up.Pipeline {
			return
		}
		statuses := t.Statuses
		if len(statuses) == 0 {
			statuses = []string{string(StatusSucceeded)}
		}
		if !slices.Contains(statuses, string(up.Status)) {
			return
		}
		// The upstream's artifacts are offered to the downstream's expected
		// artifacts, the way a build pipeline hands its image on.
		var given []Artifact
		for _, a := range up.Artifacts {
			img := image{Repository: a.Repository, Tag: a.Tag, Digest: a.Digest}
			for _, ea := range def.ExpectedArtifacts {
				if ok, _ := matches(ea, img); ok {
					given = append(given, bind(ea, img, "trigger"))
					break
				}
			}
		}
		x, err := e.start(ctx, def, rev, Trigger{
			Type: config.TriggerPipeline, User: up.Trigger.User, Parent: up.ID,
			Summary: fmt.Sprintf("%s/%s release order %d %s", up.Application, up.Pipeline, up.ID, up.Status),
		}, nil, given, fmt.Sprintf("pipeline:%d:%s/%s#%d", up.ID, def.Application, def.Name, i))
		if err != nil {
			e.log.Error("starting downstream pipeline", "pipeline", def.Application+"/"+def.Name, "upstream", up.ID, "err", err)
			return
		}
		e.log.Info("downstream pipeline started", "pipeline", def.Application+"/"+def.Name, "id", x.ID, "upstream", up.ID)
	})
}

func collect(out []Started, errs []error, def *config.Pipeline, x *Execution, err error) ([]Started, []error) {
	name := def.Application + "/" + def.Name
	if err != nil {
		return out, append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return append(out, Started{Pipeline: name, ID: x.ID, Status: x.Status, Reason: x.Reason}), errs
}
