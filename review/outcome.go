package review

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/reconciler"
)

// SyncContext is the commit status the outcome of a merge sets.
const SyncContext = "slipway/sync"

// Outcome is how one target fared after a merge.
type Outcome struct {
	Target   string
	Revision string
	Phase    reconciler.Phase
	Health   reconciler.Health
	Message  string
}

// ok reports whether the target synced and became healthy.
func (o Outcome) ok() bool {
	return o.Phase == reconciler.PhaseSynced && o.Health == reconciler.Healthy
}

// reportOutcome waits until the targets a merged pull request touched are
// synced at the merge (or later) and healthy, failed, or out of time, then
// comments the outcome on the pull request and sets slipway/sync on the
// merged commit.
func (r *Reviewer) reportOutcome(ctx context.Context, number int) {
	log := r.log().With("pr", number)
	if err := r.Reconciler.Refresh(ctx); err != nil {
		log.Warn("refreshing after a merge", "err", err)
	}
	merged := r.Reconciler.Revision()
	refs, err := r.mergedTargets(ctx, merged)
	if err != nil {
		log.Warn("finding the targets of a merge", "err", err)
		r.done(ctx, number)
		return
	}
	_ = r.Forge.SetStatus(ctx, r.RepoName, forge.Status{SHA: merged, Context: SyncContext, State: forge.StatePending,
		Description: fmt.Sprintf("syncing %d target(s)", len(refs))})
	outcomes := r.waitOutcomes(ctx, refs, merged)
	body, state, desc := renderOutcome(merged, outcomes)
	if _, err := r.Forge.Comment(ctx, r.RepoName, number, body); err != nil {
		log.Warn("commenting the outcome of a merge", "err", err)
	}
	if err := r.Forge.SetStatus(ctx, r.RepoName, forge.Status{SHA: merged, Context: SyncContext, State: state, Description: desc}); err != nil {
		log.Warn("setting the outcome status", "err", err)
	}
	log.Info("merge outcome reported", "revision", merged, "state", state, "targets", len(refs))
	r.done(ctx, number)
}

// done forgets a pull request whose outcome is reported (or cannot be).
func (r *Reviewer) done(ctx context.Context, number int) {
	if r.Pending == nil {
		return
	}
	if err := r.Pending.DonePendingOutcome(ctx, r.RepoName, number); err != nil {
		r.log().Warn("forgetting a reported outcome", "pr", number, "err", err)
	}
}

// mergedTargets lists the targets the commit at rev changed, compared to
// its first parent: a merge commit's first parent is the branch before it.
func (r *Reviewer) mergedTargets(ctx context.Context, rev string) ([]config.TargetRef, error) {
	tree, err := r.Repo.Tree(rev)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(tree)
	if err != nil {
		return nil, err
	}
	parent, err := r.Repo.Parent(rev)
	if err != nil {
		return nil, err
	}
	changed, err := r.Repo.ChangedPaths(ctx, parent, rev)
	if err != nil {
		return nil, err
	}
	var base *config.Repo
	if pt, err := r.Repo.Tree(parent); err == nil {
		base, _ = config.Load(pt)
	}
	var refs []config.TargetRef
	for _, ref := range affected(base, cfg, changed) {
		if _, t, _ := cfg.Target(ref.App, ref.Target); t.Sync.Mode != config.SyncManual {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// waitOutcomes polls the targets until each has an outcome or time runs out.
func (r *Reviewer) waitOutcomes(ctx context.Context, refs []config.TargetRef, rev string) []Outcome {
	timeout := r.OutcomeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	poll := r.Poll
	if poll <= 0 {
		poll = time.Second
	}
	deadline := time.Now().Add(timeout)
	outcomes := make([]Outcome, len(refs))
	done := make([]bool, len(refs))
	for {
		pending := 0
		for i, ref := range refs {
			if done[i] {
				continue
			}
			st, ok := r.Reconciler.StatusOf(ref.String())
			o := Outcome{Target: ref.String(), Phase: st.Phase, Health: st.Health, Revision: st.SyncedRevision, Message: st.HealthMessage}
			if st.LastError != "" {
				o.Message = st.LastError
			}
			at, _ := st.Toward(rev, func(r2, ancestor string) (bool, error) { return r.Repo.Contains(ctx, r2, ancestor) })
			switch {
			case ok && at == reconciler.SyncFailed:
				done[i] = true
			case ok && at == reconciler.Reached && (st.Health == reconciler.Healthy || st.Health == reconciler.Degraded):
				done[i] = true
			default:
				pending++
			}
			outcomes[i] = o
		}
		if pending == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return outcomes
		}
		time.Sleep(poll)
	}
}

// renderOutcome writes the outcome comment and the status it sets.
func renderOutcome(rev string, outcomes []Outcome) (string, forge.State, string) {
	var b strings.Builder
	failed := 0
	for _, o := range outcomes {
		if !o.ok() {
			failed++
		}
	}
	state, desc := forge.StateSuccess, fmt.Sprintf("%d target(s) synced and healthy", len(outcomes))
	if failed > 0 {
		state, desc = forge.StateFailure, fmt.Sprintf("%d of %d target(s) not healthy", failed, len(outcomes))
	}
	if len(outcomes) == 0 {
		desc = "no target to sync"
	}
	fmt.Fprintf(&b, "### Slipway: merged as `%.12s`\n\n", rev)
	if len(outcomes) == 0 {
		b.WriteString("No automatically synced target is affected.\n")
		return b.String(), state, desc
	}
	b.WriteString("| target | phase | health | revision | |\n|---|---|---|---|---|\n")
	for _, o := range outcomes {
		mark := "✅"
		if !o.ok() {
			mark = "❌"
		}
		msg := strings.ReplaceAll(o.Message, "|", "\\|")
		fmt.Fprintf(&b, "| `%s` | %s | %s | `%.12s` | %s %s |\n", o.Target, o.Phase, o.Health, o.Revision, mark, msg)
	}
	return b.String(), state, desc
}
