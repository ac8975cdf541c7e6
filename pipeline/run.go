package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/slipwaycd/slipway/config"
)

// run is one execution active in this process. Its driver goroutine owns
// the execution's progress; API calls (cancel, judge, restart) change it
// under mu and wake the driver.
type run struct {
	e *Engine

	mu sync.Mutex
	x  *Execution
	// started: the driver runs. finishing: the driver is saving the end.
	started, finishing bool
	// resumed: the execution was running when the server stopped.
	resumed bool
	// halted: no new stage starts (haltPipeline failure, rejection, cancel).
	halted bool
	// canceledBy is set by a cancel, so the end state is canceled
	// whatever the interrupted stages report.
	canceledBy string
	// restarting holds stages interrupted by a restart: they go back to
	// pending instead of failing.
	restarting map[string]bool

	stageCancel map[string]context.CancelFunc
	judgments   map[string]chan struct{} // closed when a waiting stage is judged
	results     chan result
	wake        chan struct{}
}

// result is a finished stage attempt.
type result struct {
	stage string
	err   error
}

// errRejected ends a manual judgment that was rejected.
var errRejected = errors.New("rejected")

// maxLogLines bounds a stage's log: the newest lines are kept.
const maxLogLines = 500

// judgmentDue reports whether a judgment stage is about to wait.
func (r *run) judgmentDue() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted || r.finishing {
		return false
	}
	for _, s := range r.x.Stages {
		if s.Type == config.StageManualJudgment && (s.Status == StagePending || s.Status == StageRunning) && s.Outputs.Judgment == nil {
			return true
		}
	}
	return false
}

func (r *run) isFinishing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finishing
}

func (r *run) snapshot() *Execution {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.x.clone()
}

// saveLocked stores the execution; r.mu is held. A failure is logged: the
// in-memory state stays authoritative, and the next change saves again.
func (r *run) saveLocked() {
	doc, err := encode(r.x)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.e.o.Store.UpdateExecution(ctx, r.x.ID, string(r.x.Status), doc)
		cancel()
	}
	if err != nil {
		r.e.log.Error("saving execution", "id", r.x.ID, "err", err)
	}
}

func (r *run) stage(id string) *StageState {
	for _, s := range r.x.Stages {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func (r *run) definition(id string) config.Stage {
	for _, s := range r.x.Definition.Stages {
		if s.ID == id {
			return s
		}
	}
	return config.Stage{ID: id}
}

func (r *run) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// drive runs the execution to its end, or until ctx (the engine) stops.
func (r *run) drive(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			r.e.log.Error("execution driver panicked", "id", r.x.ID, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	r.mu.Lock()
	r.results = make(chan result, len(r.x.Stages))
	r.wake = make(chan struct{}, 1)
	r.stageCancel = map[string]context.CancelFunc{}
	r.judgments = map[string]chan struct{}{}
	first := r.x.Status == StatusQueued
	if first {
		r.x.Status = StatusRunning
		r.x.StartedAt = r.e.o.Clock.Now().UTC()
	}
	r.mu.Unlock()
	if first {
		r.e.notify(r.snapshot(), "starting")
	}
	for {
		r.mu.Lock()
		st := plan(r.x.Stages, r.halted)
		now := r.e.o.Clock.Now().UTC()
		for _, id := range st.Skip {
			s := r.stage(id)
			s.Status, s.EndedAt = StageSkipped, now
		}
		for _, id := range st.Start {
			r.startStageLocked(ctx, id, now)
		}
		if st.Over {
			r.finishing = true
			r.x.Status, r.x.EndedAt = st.Final, now
			if r.canceledBy != "" {
				r.x.Status = StatusCanceled
			}
			if r.x.Status == StatusSucceeded {
				r.x.Reason = ""
			}
			r.saveLocked()
			r.mu.Unlock()
			r.e.finished(r)
			return
		}
		wasWaiting := r.x.Status == StatusWaiting
		if st.Waiting {
			r.x.Status = StatusWaiting
		} else {
			r.x.Status = StatusRunning
		}
		r.saveLocked()
		nowWaiting := r.x.Status == StatusWaiting
		r.mu.Unlock()
		if nowWaiting && !wasWaiting {
			r.e.notify(r.snapshot(), "judgment")
		}
		select {
		case res := <-r.results:
			if ctx.Err() != nil {
				return // shutting down: the stored state resumes next time
			}
			r.apply(res)
		case <-r.wake:
		case <-ctx.Done():
			return
		}
	}
}

// startStageLocked marks a stage running and starts its goroutine.
func (r *run) startStageLocked(ctx context.Context, id string, now time.Time) {
	s := r.stage(id)
	def := r.definition(id)
	s.Status, s.StartedAt, s.EndedAt, s.Error = StageRunning, now, time.Time{}, ""
	s.Attempts++
	timeout := def.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout(def)
	}
	sctx, cancel := context.WithCancel(ctx)
	if timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, timeout)
	}
	r.stageCancel[id] = cancel
	sr := &stageRun{e: r.e, r: r, id: id, def: def, attempt: s.Attempts, restarts: s.Restarts}
	go func() {
		err := sr.execute(sctx)
		if err == nil && sctx.Err() != nil && ctx.Err() == nil {
			err = sctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s", timeout)
		}
		cancel()
		r.results <- result{stage: id, err: err}
	}()
}

// apply records a finished stage attempt and its consequences.
func (r *run) apply(res result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stage(res.stage)
	def := r.definition(res.stage)
	delete(r.stageCancel, res.stage)
	delete(r.judgments, res.stage)
	s.EndedAt = r.e.o.Clock.Now().UTC()
	if r.restarting[res.stage] {
		delete(r.restarting, res.stage)
		s.Status, s.EndedAt, s.Error = StagePending, time.Time{}, ""
		return
	}
	switch {
	case res.err == nil:
		s.Status = StageSucceeded
	case errors.Is(res.err, errRejected):
		s.Status = StageRejected
		r.halted = true
		j := s.Outputs.Judgment
		r.x.Reason = fmt.Sprintf("stage %s rejected", s.ID)
		if j != nil {
			r.x.Reason += " by " + j.User
			if j.Comment != "" {
				r.x.Reason += ": " + j.Comment
			}
		}
	case r.halted && errors.Is(res.err, context.Canceled):
		s.Status = StageCanceled
	default:
		s.Error = res.err.Error()
		switch failurePolicy(def) {
		case config.Ignore:
			s.Status = StageFailedContinue
		case config.HaltBranch:
			s.Status = StageFailed
			if r.x.Reason == "" {
				r.x.Reason = fmt.Sprintf("stage %s failed: %s", s.ID, s.Error)
			}
		default:
			s.Status = StageFailed
			if r.x.Reason == "" {
				r.x.Reason = fmt.Sprintf("stage %s failed: %s", s.ID, s.Error)
			}
			if !r.halted {
				r.halted = true
				for id, cancel := range r.stageCancel {
					r.stage(id).Error = "canceled: stage " + s.ID + " failed"
					cancel()
				}
			}
		}
	}
}

// cancel interrupts a running execution.
func (r *run) cancel(user, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finishing {
		return fmt.Errorf("release order %d is ending: %w", r.x.ID, ErrConflict)
	}
	r.canceledBy = user
	r.halted = true
	r.x.Reason = reason
	for _, cancel := range r.stageCancel {
		cancel()
	}
	r.saveLocked()
	r.poke()
	return nil
}

// judge records a judgment at a waiting manualJudgment stage.
func (r *run) judge(stage string, j Judgment) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s *StageState
	for _, c := range r.x.Stages {
		// A judgment stage that is running but not yet waiting (it was just
		// started, or resumed after a restart) takes the judgment too: it
		// reads it before it would wait.
		judging := c.Status == StageWaiting || c.Status == StageRunning && c.Type == config.StageManualJudgment && c.Outputs.Judgment == nil
		if judging && (stage == "" || c.ID == stage) {
			s = c
			break
		}
	}
	if s == nil {
		if stage == "" {
			return fmt.Errorf("release order %d has no stage waiting for a judgment: %w", r.x.ID, ErrConflict)
		}
		if r.stage(stage) == nil {
			return fmt.Errorf("release order %d has no stage %q: %w", r.x.ID, stage, ErrNotFound)
		}
		return fmt.Errorf("stage %s of release order %d is not waiting for a judgment: %w", stage, r.x.ID, ErrConflict)
	}
	s.Outputs.Judgment = &j
	verb := "approved"
	if !j.Approved {
		verb = "rejected"
	}
	line := fmt.Sprintf("%s by %s", verb, j.User)
	if j.Comment != "" {
		line += ": " + j.Comment
	}
	s.Log = append(s.Log, LogLine{Time: j.At, Msg: line})
	r.saveLocked() // saved before the caller hears yes
	if ch := r.judgments[s.ID]; ch != nil {
		close(ch)
		delete(r.judgments, s.ID)
	}
	return nil
}

// restart interrupts the running stages of a running execution and runs
// them again.
func (r *run) restart(user string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.x.Definition.Execution.AllowRestartRunning {
		return fmt.Errorf("pipeline %s/%s does not allow restarting a running execution (execution.allowRestartRunning): %w", r.x.Application, r.x.Pipeline, ErrConflict)
	}
	if r.halted || r.finishing {
		return fmt.Errorf("release order %d is stopping: %w", r.x.ID, ErrConflict)
	}
	if r.restarting == nil {
		r.restarting = map[string]bool{}
	}
	for id, cancel := range r.stageCancel {
		s := r.stage(id)
		s.Log = append(s.Log, LogLine{Time: r.e.o.Clock.Now().UTC(), Msg: "restarted by " + user})
		s.Outputs = StageOutputs{}
		s.Restarts++
		r.restarting[id] = true
		cancel()
	}
	r.saveLocked()
	return nil
}

// defaultTimeout bounds a stage that sets no timeout. A manual judgment
// waits for people, so it has none.
func defaultTimeout(s config.Stage) time.Duration {
	switch s.Type {
	case config.StageManualJudgment:
		return 0
	case config.StageWait:
		return s.Duration + time.Minute
	case config.StageCheckPreconditions:
		return time.Minute
	case config.StageWebhook:
		return 10 * time.Minute
	case config.StageRunJob:
		return 30 * time.Minute
	case config.StagePipeline:
		return 2 * time.Hour
	}
	return 15 * time.Minute
}
