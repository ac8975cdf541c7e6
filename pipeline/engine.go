package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/store"
)

// Store keeps executions (store.Store).
type Store interface {
	CreateExecutionFunc(ctx context.Context, rec store.ExecutionRecord, doc func(id int64) ([]byte, error)) (int64, bool, error)
	UpdateExecution(ctx context.Context, id int64, status string, doc []byte) error
	Execution(ctx context.Context, id int64) (store.ExecutionRecord, error)
	ListExecutions(ctx context.Context, f store.ExecutionFilter) ([]store.ExecutionRecord, error)
}

// Repo is the config repo stages commit to (gitstore.Repo).
type Repo interface {
	Commit(ctx context.Context, msg string, trailers []gitstore.Trailer, change gitstore.Change) (string, error)
	FindCommitWithTrailer(ctx context.Context, key, value string, depth int) (string, bool, error)
	Tree(rev string) (fs.FS, error)
	Log(ctx context.Context, p string, n int) ([]gitstore.CommitInfo, error)
	Contains(ctx context.Context, rev, ancestor string) (bool, error)
	// Info describes a commit of the local cache.
	Info(rev string) (gitstore.CommitInfo, error)
}

// Reconciler is what stages ask of the reconciler after they commit.
type Reconciler interface {
	Config() *config.Repo
	Revision() string
	Refresh(ctx context.Context) error
	Sync(ref config.TargetRef) error
	StatusOf(key string) (reconciler.TargetStatus, bool)
}

// Clock is the engine's time, injected so tests can drive cron and waits.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configure an Engine.
type Options struct {
	Store      Store
	Repo       Repo
	Reconciler Reconciler
	// Connect reaches an account's cluster, for runJob stages.
	Connect reconciler.Connect
	// HTTP sends webhook stages and notifications; default a client with
	// a 30 s timeout.
	HTTP   *http.Client
	Clock  Clock
	Logger *slog.Logger
	// FieldManager applies runJob's Jobs; default "slipway".
	FieldManager string
	// Poll is how often a stage re-checks what it waits for; default 250ms.
	Poll time.Duration
	// Quarantine, when set, keeps image digests a rollback took out of
	// service from starting docker-triggered pipelines.
	Quarantine Quarantine
	// Status, when set, reports on the config repo commits an execution
	// makes: pending when a stage commits, success or failure when the
	// execution ends. It is called in the background; url links to the
	// release order.
	Status func(ctx context.Context, sha string, state StatusState, description, url string)
	// ExternalURL is where people reach this server's API, for links.
	ExternalURL string
}

// SetStatus sets Options.Status; call it before Run.
func (e *Engine) SetStatus(f func(ctx context.Context, sha string, state StatusState, description, url string)) {
	e.o.Status = f
}

// StatusState is a commit status state: pending, success, failure, error.
type StatusState string

// releaseURL links to a release order in the API.
func (e *Engine) releaseURL(id int64) string {
	if e.o.ExternalURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/api/v1/releases/%d", strings.TrimRight(e.o.ExternalURL, "/"), id)
}

// status reports on a commit in the background.
func (e *Engine) status(sha string, state StatusState, description string, id int64) {
	if e.o.Status == nil || sha == "" {
		return
	}
	go e.o.Status(context.Background(), sha, state, description, e.releaseURL(id))
}

// Quarantine says whether a rollback quarantined an image digest (store.Store).
type Quarantine interface {
	Quarantined(ctx context.Context, repository, digest string) (store.QuarantinedImage, bool, error)
}

// Engine runs executions. Its methods are safe for concurrent use; the API,
// the inbox and the cron scheduler all call it.
type Engine struct {
	o   Options
	log *slog.Logger

	mu   sync.Mutex
	runs map[int64]*run // executions active in this process: queued, running, waiting
	ctx  context.Context
	wg   sync.WaitGroup

	ready chan struct{} // closed once Run has resumed what was active
}

// New returns an engine; Run starts it.
func New(o Options) *Engine {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FieldManager == "" {
		o.FieldManager = "slipway"
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	return &Engine{o: o, log: o.Logger.With("component", "pipeline"), runs: map[int64]*run{}, ready: make(chan struct{})}
}

// Run resumes the executions a previous process left active, runs cron
// triggers, and returns when ctx ends. Executions still running then stay
// as they are in the store, and the next Run resumes them.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	if err := e.resume(ctx); err != nil {
		return fmt.Errorf("resuming executions: %w", err)
	}
	close(e.ready)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.cron(ctx)
	}()
	<-ctx.Done()
	e.wg.Wait()
	return nil
}

// waitReady blocks until Run has resumed stored executions, so that new
// ones are admitted behind them.
func (e *Engine) waitReady(ctx context.Context) error {
	select {
	case <-e.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resume loads every active execution and admits them again. Stages that
// were running start again: each stage type is written to be safe to run
// twice (a deploy finds its own commit, a wait keeps its deadline, a
// judgment already given is kept).
func (e *Engine) resume(ctx context.Context) error {
	var before int64
	var loaded []*run
	for {
		recs, err := e.o.Store.ListExecutions(ctx, store.ExecutionFilter{
			Statuses: []string{string(StatusQueued), string(StatusRunning), string(StatusWaiting)},
			Limit:    1000, BeforeID: before,
		})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			x, err := decode(rec.Doc)
			if err != nil {
				e.log.Error("stored execution is unreadable; leaving it", "id", rec.ID, "err", err)
				continue
			}
			for _, s := range x.Stages {
				if s.Status == StageRunning || s.Status == StageWaiting {
					s.Status = StagePending
				}
			}
			loaded = append(loaded, &run{e: e, x: x})
			before = rec.ID
		}
		if len(recs) < 1000 {
			break
		}
	}
	slices.SortFunc(loaded, func(a, b *run) int { return int(a.x.ID - b.x.ID) })
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range loaded {
		if r.x.Status != StatusQueued {
			r.resumed = true
		}
		e.runs[r.x.ID] = r
		e.log.Info("resuming execution", "id", r.x.ID, "pipeline", r.x.Application+"/"+r.x.Pipeline, "status", r.x.Status)
	}
	for _, r := range loaded {
		e.admitLocked(r.x.Application, r.x.Pipeline)
	}
	return nil
}

// stored is an execution as saved: the public fields plus the pipeline
// definition it runs, which the API does not show.
type stored struct {
	*Execution
	Definition config.Pipeline `json:"definition"`
}

func encode(x *Execution) ([]byte, error) {
	return json.Marshal(stored{Execution: x, Definition: x.Definition})
}

func decode(doc []byte) (*Execution, error) {
	s := stored{Execution: &Execution{}}
	if err := json.Unmarshal(doc, &s); err != nil {
		return nil, err
	}
	s.Execution.Definition = s.Definition
	return s.Execution, nil
}

// start describes a new execution before it is stored.
type start struct {
	def        *config.Pipeline
	revision   string
	trigger    Trigger
	parameters map[string]string
	artifacts  []Artifact
	// refused, when set, records the execution as refused with this reason.
	refused string
	// dedup makes creation idempotent: a second start with the same key
	// returns the first execution (a redelivered webhook, a cron tick seen
	// twice, a child started again after a crash).
	dedup string
}

// create stores a new execution and admits it.
func (e *Engine) create(ctx context.Context, s start) (*Execution, error) {
	if err := e.waitReady(ctx); err != nil {
		return nil, err
	}
	cfg := e.o.Reconciler.Config()
	now := e.o.Clock.Now().UTC()
	x := &Execution{
		Application: s.def.Application,
		Pipeline:    s.def.Name,
		Status:      StatusQueued,
		Trigger:     s.trigger,
		Parameters:  s.parameters,
		Artifacts:   s.artifacts,
		Revision:    s.revision,
		Definition:  *s.def,
		CreatedAt:   now,
		Key:         newKey(),
	}
	if cfg != nil {
		x.Project = cfg.ProjectOf(x.Application)
	}
	if x.Parameters == nil {
		x.Parameters = map[string]string{}
	}
	if x.Artifacts == nil {
		x.Artifacts = []Artifact{}
	}
	for _, st := range s.def.Stages {
		name := st.Name
		if name == "" {
			name = st.ID
		}
		deps := st.DependsOn
		if deps == nil {
			deps = []string{}
		}
		x.Stages = append(x.Stages, &StageState{ID: st.ID, Name: name, Type: st.Type, DependsOn: deps, Status: StagePending})
	}
	if s.refused != "" {
		x.Status, x.Reason, x.EndedAt = StatusRefused, s.refused, now
		for _, st := range x.Stages {
			st.Status = StageSkipped
		}
	}
	id, created, err := e.o.Store.CreateExecutionFunc(ctx, store.ExecutionRecord{
		Application: x.Application, Pipeline: x.Pipeline, Status: string(x.Status),
		DedupKey: s.dedup, CreatedAt: now, UpdatedAt: now,
	}, func(id int64) ([]byte, error) {
		x.ID = id
		return encode(x)
	})
	if err != nil {
		return nil, fmt.Errorf("storing the execution: %w", err)
	}
	if !created {
		return e.Get(ctx, id)
	}
	x.ID = id
	log := e.log.With("id", id, "pipeline", x.Application+"/"+x.Pipeline, "trigger", x.Trigger.Type)
	if x.Status == StatusRefused {
		log.Warn("execution refused", "reason", x.Reason)
		return x.clone(), nil
	}
	log.Info("execution created", "summary", x.Trigger.Summary)
	r := &run{e: e, x: x}
	e.mu.Lock()
	e.runs[id] = r
	e.admitLocked(x.Application, x.Pipeline)
	out := r.snapshot()
	e.mu.Unlock()
	return out, nil
}

// admitLocked applies a pipeline's concurrency rules: it starts what may
// run and cancels waiting executions that a newer one superseded. e.mu is held.
func (e *Engine) admitLocked(app, pipeline string) {
	if e.ctx == nil || e.ctx.Err() != nil {
		return
	}
	var active, queued []*run
	for _, r := range e.runs {
		if r.x.Application != app || r.x.Pipeline != pipeline {
			continue
		}
		if r.started {
			active = append(active, r)
		} else if !r.finishing {
			queued = append(queued, r)
		}
	}
	slices.SortFunc(queued, func(a, b *run) int { return int(a.x.ID - b.x.ID) })
	// A resumed execution was running before the restart: it goes first,
	// whatever the rules say about the ones queued behind it.
	for i := 0; i < len(queued); {
		if queued[i].resumed {
			e.startLocked(queued[i])
			active = append(active, queued[i])
			queued = slices.Delete(queued, i, i+1)
			continue
		}
		i++
	}
	if len(queued) == 0 {
		return
	}
	opts := queued[len(queued)-1].x.Definition.Execution
	if opts.Concurrent {
		for _, r := range queued {
			e.startLocked(r)
		}
		return
	}
	if !opts.KeepWaiting {
		newest := queued[len(queued)-1]
		for _, r := range queued[:len(queued)-1] {
			e.cancelQueuedLocked(r, "slipway", fmt.Sprintf("superseded by release order %d while waiting", newest.x.ID))
		}
		queued = queued[len(queued)-1:]
	}
	if len(active) == 0 {
		e.startLocked(queued[0])
	}
}

// startLocked starts a queued execution's driver. e.mu is held.
func (e *Engine) startLocked(r *run) {
	r.started = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		r.drive(e.ctx)
	}()
}

// cancelQueuedLocked ends an execution that never started. e.mu is held.
func (e *Engine) cancelQueuedLocked(r *run, user, reason string) {
	r.mu.Lock()
	now := e.o.Clock.Now().UTC()
	r.x.Status, r.x.Reason, r.x.EndedAt = StatusCanceled, reason, now
	for _, s := range r.x.Stages {
		if !s.Status.Done() {
			s.Status = StageCanceled
		}
	}
	r.saveLocked()
	r.mu.Unlock()
	delete(e.runs, r.x.ID)
	e.log.Info("queued execution canceled", "id", r.x.ID, "by", user, "reason", reason)
	e.notify(r.x.clone(), "canceled")
}

// finished is called by a driver when its execution ended.
func (e *Engine) finished(r *run) {
	x := r.snapshot()
	e.mu.Lock()
	delete(e.runs, x.ID)
	e.admitLocked(x.Application, x.Pipeline)
	e.mu.Unlock()
	e.log.Info("execution ended", "id", x.ID, "pipeline", x.Application+"/"+x.Pipeline, "status", x.Status, "reason", x.Reason)
	state := StatusState("failure")
	if x.Status == StatusSucceeded {
		state = "success"
	}
	for _, s := range x.Stages {
		e.status(s.Outputs.Commit, state, fmt.Sprintf("release order %d %s", x.ID, x.Status), x.ID)
	}
	e.notify(x, string(x.Status))
	e.triggerDownstream(x)
}

// Get returns an execution, live when it is active here.
func (e *Engine) Get(ctx context.Context, id int64) (*Execution, error) {
	if err := e.waitReady(ctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	r := e.runs[id]
	e.mu.Unlock()
	if r != nil {
		return r.snapshot(), nil
	}
	rec, err := e.o.Store.Execution(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("release order %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decode(rec.Doc)
}

// List returns executions, newest first.
func (e *Engine) List(ctx context.Context, f Filter) ([]*Execution, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	sf := store.ExecutionFilter{Application: f.Application, Pipeline: f.Pipeline, Limit: min(limit, 1000)}
	if f.Status != "" {
		sf.Statuses = []string{string(f.Status)}
	}
	recs, err := e.o.Store.ListExecutions(ctx, sf)
	if err != nil {
		return nil, err
	}
	out := make([]*Execution, 0, len(recs))
	for _, rec := range recs {
		if r := e.active(rec.ID); r != nil {
			out = append(out, r.snapshot()) // live state for active ones
			continue
		}
		x, err := decode(rec.Doc)
		if err != nil {
			return nil, fmt.Errorf("release order %d: %w", rec.ID, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// Cancel stops an execution: running stages are interrupted (a commit
// already made stays: Git is the record), pending ones never start.
func (e *Engine) Cancel(ctx context.Context, id int64, user, reason string) error {
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	if reason == "" {
		reason = "canceled by " + user
	} else {
		reason = fmt.Sprintf("canceled by %s: %s", user, reason)
	}
	e.mu.Lock()
	r := e.runs[id]
	if r != nil && !r.started {
		e.cancelQueuedLocked(r, user, reason)
		e.admitLocked(r.x.Application, r.x.Pipeline)
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	if r == nil {
		x, err := e.Get(ctx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("release order %d already ended %s: %w", id, x.Status, ErrConflict)
	}
	return r.cancel(user, reason)
}

// Judge records a decision at a waiting manualJudgment stage; stage ""
// means the one waiting. The decision is saved before Judge returns.
func (e *Engine) Judge(ctx context.Context, id int64, stage string, approve bool, user, comment string) error {
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	r := e.runs[id]
	e.mu.Unlock()
	if r == nil {
		x, err := e.Get(ctx, id)
		if err != nil {
			return err
		}
		return fmt.Errorf("release order %d is %s, not waiting for a judgment: %w", id, x.Status, ErrConflict)
	}
	j := Judgment{Approved: approve, User: user, Comment: comment, At: e.o.Clock.Now().UTC()}
	err := r.judge(stage, j)
	// Right after a restart of the server a judgment stage is pending
	// again for a moment before it waits; give it that moment.
	for deadline := time.Now().Add(2 * time.Second); errors.Is(err, ErrConflict) && r.judgmentDue() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		err = r.judge(stage, j)
	}
	return err
}

// Restart runs an execution again from where it stopped: stages that
// succeeded keep their results, the others run again. A running execution
// restarts its running stages, when its pipeline allows that.
func (e *Engine) Restart(ctx context.Context, id int64, user string) error {
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	r := e.active(id)
	for r != nil && r.isFinishing() {
		// The driver is saving the end: restart from the stored state.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		r = e.active(id)
	}
	if r != nil {
		if !r.started {
			return fmt.Errorf("release order %d has not started yet: %w", id, ErrConflict)
		}
		return r.restart(user)
	}
	x, err := e.Get(ctx, id)
	if err != nil {
		return err
	}
	switch x.Status {
	case StatusFailed, StatusCanceled, StatusRejected:
	default:
		return fmt.Errorf("release order %d %s; only a failed, canceled or rejected one restarts: %w", id, x.Status, ErrConflict)
	}
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	for _, s := range x.Stages {
		if s.Status != StageSucceeded {
			s.Status, s.Error, s.EndedAt = StagePending, "", time.Time{}
			s.Outputs = StageOutputs{}
			s.Restarts++
			s.Log = append(s.Log, LogLine{Time: e.o.Clock.Now().UTC(), Msg: "restarted by " + user})
		}
	}
	x.Status, x.Reason, x.EndedAt = StatusQueued, "", time.Time{}
	nr := &run{e: e, x: x}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runs[id] != nil {
		return fmt.Errorf("release order %d is already restarting: %w", id, ErrConflict)
	}
	nr.mu.Lock()
	nr.saveLocked()
	nr.mu.Unlock()
	e.runs[id] = nr
	e.log.Info("execution restarted", "id", id, "by", user)
	e.admitLocked(x.Application, x.Pipeline)
	return nil
}

// active returns the execution's run when it is active in this process.
func (e *Engine) active(id int64) *run {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[id]
}

// newKey returns the random part of an execution's commit trailers.
func newKey() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// clone copies an execution deeply enough for a reader to hold it while
// the driver changes the original.
func (x *Execution) clone() *Execution {
	b, err := encode(x)
	if err != nil {
		panic(err) // an Execution always marshals
	}
	out, err := decode(b)
	if err != nil {
		panic(err)
	}
	return out
}

// CommitFor returns the last config repo commit a release order made for a
// target (app/target): what a rollback "to release N" restores.
func (e *Engine) CommitFor(ctx context.Context, id int64, target string) (string, error) {
	x, err := e.Get(ctx, id)
	if err != nil {
		return "", err
	}
	commit := ""
	for _, s := range x.Stages {
		if s.Outputs.Target == target && s.Outputs.Commit != "" {
			commit = s.Outputs.Commit
		}
	}
	if commit == "" {
		return "", fmt.Errorf("release order %d made no commit for %s: %w", id, target, ErrNotFound)
	}
	return commit, nil
}
