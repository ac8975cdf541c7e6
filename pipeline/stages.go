package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/webhooks"
)

// stageRun is one attempt of one stage. Its methods record the stage's log
// and outputs in the execution (saved at once), so what a stage did survives
// a crash and a resumed attempt can see it.
type stageRun struct {
	e       *Engine
	r       *run
	id      string
	def     config.Stage
	attempt int
	// restarts keys the stage's side effects; see StageState.Restarts.
	restarts int
}

// stageFunc finds what runs a stage type.
func stageFunc(t config.StageType) (func(*stageRun, context.Context) error, bool) {
	switch t {
	case config.StageDeployManifest:
		return (*stageRun).deployManifest, true
	case config.StageDeleteManifest:
		return (*stageRun).deleteManifest, true
	case config.StageScaleManifest:
		return (*stageRun).scaleManifest, true
	case config.StagePatchManifest:
		return (*stageRun).patchManifest, true
	case config.StageUndoRollout:
		return (*stageRun).undoRollout, true
	case config.StageManualJudgment:
		return (*stageRun).manualJudgment, true
	case config.StageWait:
		return (*stageRun).wait, true
	case config.StageCheckPreconditions:
		return (*stageRun).checkPreconditions, true
	case config.StageWebhook:
		return (*stageRun).webhook, true
	case config.StageRunJob:
		return (*stageRun).runJob, true
	case config.StagePipeline:
		return (*stageRun).pipeline, true
	}
	return nil, false
}

// execute runs the stage, turning a panic in it into a failure.
func (s *stageRun) execute(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("stage panicked: %v", p)
		}
	}()
	f, ok := stageFunc(s.def.Type)
	if !ok {
		return fmt.Errorf("unknown stage type %q", s.def.Type)
	}
	if s.attempt > 1 {
		s.logf("attempt %d", s.attempt)
	}
	return f(s, ctx)
}

// sideEffectKey names what this stage does outside the execution — a
// commit, a Job, a child execution — uniquely per execution, stage and
// restart, so a resumed attempt finds it instead of doing it again.
func (s *stageRun) sideEffectKey() string {
	x := s.r.x // Key and ID never change
	k := fmt.Sprintf("%s/%s", x.Key, s.id)
	if s.restarts > 0 {
		k += fmt.Sprintf("/%d", s.restarts)
	}
	return k
}

// logf appends a line to the stage's log and saves it.
func (s *stageRun) logf(format string, args ...any) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	st := s.r.stage(s.id)
	st.Log = append(st.Log, LogLine{Time: s.e.o.Clock.Now().UTC(), Msg: fmt.Sprintf(format, args...)})
	if len(st.Log) > maxLogLines {
		st.Log = slices.Delete(st.Log, 0, len(st.Log)-maxLogLines)
	}
	s.r.saveLocked()
}

// output changes the stage's outputs and saves them.
func (s *stageRun) output(f func(o *StageOutputs)) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	f(&s.r.stage(s.id).Outputs)
	s.r.saveLocked()
}

// outputs reads the stage's outputs as saved so far (a resumed attempt
// sees what the previous one recorded).
func (s *stageRun) outputs() StageOutputs {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.r.stage(s.id).Outputs
}

// execution returns a copy of the execution for reading.
func (s *stageRun) execution() *Execution { return s.r.snapshot() }

// sleep waits d or until ctx ends.
func (s *stageRun) sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.e.o.Clock.After(d):
		return nil
	}
}

// manualJudgment waits until someone approves or rejects. A judgment given
// before a restart of the server is kept.
func (s *stageRun) manualJudgment(ctx context.Context) error {
	s.r.mu.Lock()
	st := s.r.stage(s.id)
	j := st.Outputs.Judgment
	var ch chan struct{}
	if j == nil {
		st.Status = StageWaiting
		ch = make(chan struct{})
		s.r.judgments[s.id] = ch
		s.r.saveLocked()
	}
	s.r.mu.Unlock()
	if j == nil {
		s.r.poke() // the execution now waits
		if s.def.Instructions != "" {
			s.logf("waiting for a judgment: %s", s.def.Instructions)
		} else {
			s.logf("waiting for a judgment")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.r.mu.Lock()
			delete(s.r.judgments, s.id)
			s.r.mu.Unlock()
			return ctx.Err()
		}
		s.r.mu.Lock()
		st.Status = StageRunning
		j = st.Outputs.Judgment
		s.r.mu.Unlock()
	}
	if !j.Approved {
		return errRejected
	}
	return nil
}

// wait waits for the stage's duration, counted from its first attempt so
// that a restart of the server does not start the wait over.
func (s *stageRun) wait(ctx context.Context) error {
	until := s.outputs().WaitUntil
	if until.IsZero() {
		until = s.e.o.Clock.Now().UTC().Add(s.def.Duration)
		s.output(func(o *StageOutputs) { o.WaitUntil = until })
		s.logf("waiting %s, until %s", s.def.Duration, until.Format(time.RFC3339))
	}
	if d := until.Sub(s.e.o.Clock.Now()); d > 0 {
		return s.sleep(ctx, d)
	}
	return nil
}

// exprEnv is what checkPreconditions expressions read:
//
//	parameters.NAME            the execution's parameter values
//	artifacts.ID.reference     and .repository, .tag, .digest
//	stages.ID.status           and .commit, .health, .revision, .httpStatus
//	trigger.type, trigger.user
func exprEnv(x *Execution) map[string]any {
	params := map[string]any{}
	for k, v := range x.Parameters {
		params[k] = v
	}
	arts := map[string]any{}
	for _, a := range x.Artifacts {
		arts[a.ID] = map[string]any{"reference": a.Reference, "repository": a.Repository, "tag": a.Tag, "digest": a.Digest}
	}
	stages := map[string]any{}
	for _, st := range x.Stages {
		stages[st.ID] = map[string]any{
			"status": string(st.Status), "commit": st.Outputs.Commit, "health": st.Outputs.Health,
			"revision": st.Outputs.Revision, "httpStatus": st.Outputs.HTTPStatus,
		}
	}
	return map[string]any{
		"parameters": params,
		"artifacts":  arts,
		"stages":     stages,
		"trigger":    map[string]any{"type": string(x.Trigger.Type), "user": x.Trigger.User},
	}
}

// checkPreconditions fails unless every expression is true.
func (s *stageRun) checkPreconditions(_ context.Context) error {
	env := exprEnv(s.execution())
	var failed []string
	for i, src := range s.def.Expressions {
		prog, err := expr.Compile(src, expr.Env(env), expr.AsBool())
		if err != nil {
			return fmt.Errorf("expression %d (%s): %w", i+1, src, err)
		}
		out, err := expr.Run(prog, env)
		if err != nil {
			return fmt.Errorf("expression %d (%s): %w", i+1, src, err)
		}
		ok, _ := out.(bool)
		s.logf("%s → %t", src, ok)
		if !ok {
			failed = append(failed, src)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("precondition not met: %s", strings.Join(failed, "; "))
	}
	return nil
}

// maxResponse bounds what a webhook stage keeps of a response.
const maxResponse = 16 << 10

// webhook calls an HTTP endpoint and, with a status URL, polls it until
// the job behind it reports success or failure.
func (s *stageRun) webhook(ctx context.Context) error {
	method := s.def.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, s.def.URL, strings.NewReader(s.def.Body))
	if err != nil {
		return err
	}
	for k, v := range s.def.Headers {
		req.Header.Set(k, v)
	}
	x := s.execution()
	req.Header.Set("X-Slipway-Release", fmt.Sprint(x.ID))
	if s.def.Body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	status, body, err := s.fetch(req)
	if err != nil {
		return err
	}
	s.output(func(o *StageOutputs) { o.HTTPStatus, o.Response = status, body })
	s.logf("%s %s → %d", method, s.def.URL, status)
	ok := status >= 200 && status < 300
	if len(s.def.SuccessStatuses) > 0 {
		ok = slices.Contains(s.def.SuccessStatuses, status)
	}
	if !ok {
		return fmt.Errorf("%s %s answered %d", method, s.def.URL, status)
	}
	if s.def.StatusURL == "" {
		return nil
	}
	last := ""
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.def.StatusURL, nil)
		if err != nil {
			return err
		}
		status, body, err := s.fetch(req)
		switch {
		case err != nil:
			s.logf("status: %v", err)
		case status >= 300:
			s.logf("status: %s answered %d", s.def.StatusURL, status)
		default:
			v, found := webhooks.PayloadValue(json.RawMessage(body), s.def.StatusField)
			if found && v != last {
				s.logf("%s = %s", s.def.StatusField, v)
				last = v
			}
			switch {
			case found && slices.Contains(s.def.SuccessValues, v):
				s.output(func(o *StageOutputs) { o.Response = body })
				return nil
			case found && slices.Contains(s.def.FailureValues, v):
				s.output(func(o *StageOutputs) { o.Response = body })
				return fmt.Errorf("%s is %s", s.def.StatusField, v)
			}
		}
		if err := s.sleep(ctx, max(s.e.o.Poll, time.Second)); err != nil {
			return err
		}
	}
}

func (s *stageRun) fetch(req *http.Request) (int, string, error) {
	resp, err := s.e.o.HTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return resp.StatusCode, string(bytes.ToValidUTF8(b, nil)), nil
}

// pipeline runs another pipeline as a child execution and, unless told
// not to, waits for it. The child is created once per parent stage: a
// resumed attempt finds it by its de-duplication key.
func (s *stageRun) pipeline(ctx context.Context) error {
	x := s.execution()
	app := s.def.Application
	if app == "" {
		app = x.Application
	}
	cfg := s.e.o.Reconciler.Config()
	if cfg == nil {
		return errors.New("no valid config loaded")
	}
	def, ok := cfg.Pipeline(app, s.def.Pipeline)
	if !ok {
		return fmt.Errorf("pipeline %s/%s not found at revision %.12s", app, s.def.Pipeline, s.e.o.Reconciler.Revision())
	}
	child, err := s.e.start(ctx, def, s.e.o.Reconciler.Revision(), Trigger{
		Type: config.TriggerPipeline, User: x.Trigger.User, Parent: x.ID,
		Summary: fmt.Sprintf("stage %s of release order %d", s.id, x.ID),
	}, s.def.Parameters, nil, s.sideEffectKey())
	if err != nil {
		return err
	}
	s.output(func(o *StageOutputs) { o.Child = child.ID })
	s.logf("started release order %d (%s/%s)", child.ID, app, def.Name)
	if child.Status == StatusRefused {
		return fmt.Errorf("release order %d refused: %s", child.ID, child.Reason)
	}
	if s.def.SkipWait {
		return nil
	}
	for {
		c, err := s.e.Get(ctx, child.ID)
		if err != nil {
			return err
		}
		if c.Status.Final() {
			s.logf("release order %d %s", c.ID, c.Status)
			if c.Status != StatusSucceeded {
				return fmt.Errorf("release order %d %s: %s", c.ID, c.Status, c.Reason)
			}
			return nil
		}
		if err := s.sleep(ctx, max(s.e.o.Poll, 500*time.Millisecond)); err != nil {
			// The parent was canceled (or timed out), not the server
			// stopped: the child goes with it.
			if s.e.ctx.Err() == nil {
				if cerr := s.e.Cancel(context.WithoutCancel(ctx), child.ID, "slipway", fmt.Sprintf("parent release order %d stopped", x.ID)); cerr != nil && !errors.Is(cerr, ErrConflict) {
					s.logf("canceling release order %d: %v", child.ID, cerr)
				}
			}
			return err
		}
	}
}
