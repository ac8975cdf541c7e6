// Package review answers pull requests on the config repo: on every push
// to one it validates the config at the head, renders every affected
// target and dry-runs it against the live cluster, and keeps one comment
// on the pull request — edited in place on later pushes — with the
// validation errors and a per-object diff, plus a commit status
// slipway/plan. When the pull request is merged it waits for the targets
// it touched to sync and reports the outcome on the pull request.
package review

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// Marker starts the plan comment, so a later push finds and edits it.
const Marker = "<!-- slipway:plan -->"

// StatusContext is the commit status a plan sets.
const StatusContext = "slipway/plan"

// Repo is the config repo (gitstore.Repo).
type Repo interface {
	FetchBranch(ctx context.Context, branch string) (string, error)
	Fetch(ctx context.Context) (string, error)
	Tree(rev string) (fs.FS, error)
	ChangedPaths(ctx context.Context, from, to string) ([]string, error)
	Contains(ctx context.Context, rev, ancestor string) (bool, error)
	// Parent is a commit's first parent.
	Parent(rev string) (string, error)
	// MergeBase is a best common ancestor of two commits.
	MergeBase(a, b string) (string, error)
}

// Reconciler plans targets and reports their status (reconciler.Reconciler).
type Reconciler interface {
	Plan(ctx context.Context, tree fs.FS, rev string, cfg *config.Repo, ref config.TargetRef) (*reconciler.Plan, error)
	Refresh(ctx context.Context) error
	Revision() string
	StatusOf(key string) (reconciler.TargetStatus, bool)
}

// Reviewer plans pull requests of one config repo on one forge.
type Reviewer struct {
	Forge      forge.Forge
	Repo       Repo
	Reconciler Reconciler
	// RepoName is the config repo on the forge, "owner/name"; events of
	// other repositories are ignored.
	RepoName string
	// Branch is the branch the config repo deploys from (main).
	Branch string
	// OutcomeTimeout bounds the wait after a merge; default 10m.
	OutcomeTimeout time.Duration
	Log            *slog.Logger
	// Poll is how often the outcome wait looks at the targets; default 1s.
	Poll time.Duration
	// Pending, when set, keeps merged pull requests whose outcome is not
	// reported yet across restarts (store.Store).
	Pending Pending
}

// Pending records merged pull requests awaiting their outcome.
type Pending interface {
	AddPendingOutcome(ctx context.Context, repo string, number int) error
	DonePendingOutcome(ctx context.Context, repo string, number int) error
	PendingOutcomes(ctx context.Context) ([]store.PendingOutcome, error)
}

// Resume reports the outcomes a previous process did not get to, in the
// background. Call it once the config repo has been read.
func (r *Reviewer) Resume(ctx context.Context) error {
	if r.Pending == nil {
		return nil
	}
	list, err := r.Pending.PendingOutcomes(ctx)
	if err != nil {
		return err
	}
	for _, p := range list {
		if strings.EqualFold(p.Repo, r.RepoName) {
			r.log().Info("resuming the outcome of a merged pull request", "pr", p.Number)
			go r.reportOutcome(context.WithoutCancel(ctx), p.Number)
		}
	}
	return nil
}

// Handle acts on a pull request event: opened, reopened and synchronize
// are planned; a merge starts the wait for its outcome (in the
// background). It returns a one-line summary for the event log.
func (r *Reviewer) Handle(ctx context.Context, ev webhooks.PullRequestEvent) (string, error) {
	if !strings.EqualFold(ev.Repo, r.RepoName) {
		return fmt.Sprintf("pull request %s#%d: not the config repo", ev.Repo, ev.Number), nil
	}
	if ev.BaseRef != r.branch() {
		return fmt.Sprintf("pull request #%d: base %s is not %s", ev.Number, ev.BaseRef, r.branch()), nil
	}
	switch ev.Action {
	case webhooks.ActionOpened, webhooks.ActionReopened, webhooks.ActionSynchronize:
		p, err := r.Plan(ctx, ev.Number, ev.HeadRef)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("pull request #%d: %s", ev.Number, p.Summary()), nil
	case webhooks.ActionClosed:
		if !ev.Merged {
			return fmt.Sprintf("pull request #%d closed without merging", ev.Number), nil
		}
		// Recorded first, so a restart before the outcome is known still
		// reports it (Resume).
		if r.Pending != nil {
			if err := r.Pending.AddPendingOutcome(ctx, r.RepoName, ev.Number); err != nil {
				return "", err
			}
		}
		go r.reportOutcome(context.WithoutCancel(ctx), ev.Number)
		return fmt.Sprintf("pull request #%d merged: waiting for its targets", ev.Number), nil
	}
	return fmt.Sprintf("pull request #%d: %s ignored", ev.Number, ev.Action), nil
}

func (r *Reviewer) branch() string {
	if r.Branch == "" {
		return "main"
	}
	return r.Branch
}

// PlanResult is what a plan found.
type PlanResult struct {
	Head    string
	Invalid config.ErrorList
	Targets []TargetPlan
	// Removed lists targets the head no longer has.
	Removed []string
}

// TargetPlan is one affected target's plan.
type TargetPlan struct {
	Target   string
	Account  string
	Manual   bool // sync mode manual: merging does not deploy it
	Plan     *reconciler.Plan
	Err      string
	Warnings []string
}

// Failed reports whether the plan should fail the pull request's check.
func (p *PlanResult) Failed() bool {
	if len(p.Invalid) > 0 {
		return true
	}
	return slices.ContainsFunc(p.Targets, func(t TargetPlan) bool { return t.Err != "" })
}

// Summary is the plan in one line, as the commit status says it.
func (p *PlanResult) Summary() string {
	if len(p.Invalid) > 0 {
		return fmt.Sprintf("%d config error(s)", len(p.Invalid))
	}
	changed, failed := 0, 0
	for _, t := range p.Targets {
		switch {
		case t.Err != "":
			failed++
		case t.Plan != nil && t.Plan.Changed():
			changed++
		}
	}
	s := fmt.Sprintf("%d target(s) affected, %d would change", len(p.Targets), changed)
	if failed > 0 {
		s += fmt.Sprintf(", %d cannot be planned", failed)
	}
	if len(p.Removed) > 0 {
		s += fmt.Sprintf(", %d removed", len(p.Removed))
	}
	return s
}

// Plan plans the head of a pull request and posts (or edits) its comment
// and status.
func (r *Reviewer) Plan(ctx context.Context, number int, headRef string) (*PlanResult, error) {
	head, err := r.Repo.FetchBranch(ctx, headRef)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", headRef, err)
	}
	status := func(st forge.State, desc string) {
		if err := r.Forge.SetStatus(ctx, r.RepoName, forge.Status{SHA: head, Context: StatusContext, State: st, Description: desc}); err != nil {
			r.log().Warn("setting the plan status", "pr", number, "err", err)
		}
	}
	status(forge.StatePending, "planning")
	p, err := r.plan(ctx, head)
	if err != nil {
		status(forge.StateError, err.Error())
		return nil, err
	}
	if err := r.upsertComment(ctx, number, render(p, r.Forge.MaxCommentSize())); err != nil {
		return nil, err
	}
	if p.Failed() {
		status(forge.StateFailure, p.Summary())
	} else {
		status(forge.StateSuccess, p.Summary())
	}
	return p, nil
}

// plan validates and plans the config repo at head.
func (r *Reviewer) plan(ctx context.Context, head string) (*PlanResult, error) {
	p := &PlanResult{Head: head}
	tree, err := r.Repo.Tree(head)
	if err != nil {
		return nil, err
	}
	base, err := r.Repo.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(tree)
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			p.Invalid = list
			return p, nil
		}
		return nil, err
	}
	// Only what the pull request changes: from where it branched off, not
	// from the base branch's head (which may have moved on since).
	from := base
	if mb, err := r.Repo.MergeBase(base, head); err == nil {
		from = mb
	}
	changed, err := r.Repo.ChangedPaths(ctx, from, head)
	if err != nil {
		return nil, err
	}
	var baseCfg *config.Repo
	if baseTree, err := r.Repo.Tree(base); err == nil {
		baseCfg, _ = config.Load(baseTree)
	}
	for _, ref := range affected(baseCfg, cfg, changed) {
		app, t, _ := cfg.Target(ref.App, ref.Target)
		tp := TargetPlan{Target: ref.String(), Account: t.Account, Manual: t.Sync.Mode == config.SyncManual}
		if tp.Manual {
			tp.Warnings = append(tp.Warnings, "sync mode is manual: merging does not deploy it until someone syncs it")
		}
		if acct := cfg.Accounts[t.Account]; acct != nil && acct.Environment == "production" {
			tp.Warnings = append(tp.Warnings, "deploys to a production account")
		}
		_ = app
		plan, err := r.Reconciler.Plan(ctx, tree, head, cfg, ref)
		if err != nil {
			tp.Err = err.Error()
		} else {
			tp.Plan = plan
			for _, o := range plan.Objects {
				if o.Action == reconciler.Skipped {
					tp.Warnings = append(tp.Warnings, o.Object+" left Git but is not pruned (prune is off, or it is no longer labelled as this target's)")
				}
			}
		}
		p.Targets = append(p.Targets, tp)
	}
	if baseCfg != nil {
		for _, ref := range baseCfg.TargetRefs() {
			if _, _, ok := cfg.Target(ref.App, ref.Target); !ok {
				p.Removed = append(p.Removed, ref.String())
			}
		}
	}
	return p, nil
}

// affected lists the targets of cfg that a change of the paths touches:
// those whose manifest directory or application file changed, those that
// are new, and all of them when accounts or projects changed.
func affected(base, cfg *config.Repo, changed []string) []config.TargetRef {
	global := slices.ContainsFunc(changed, func(p string) bool {
		return strings.HasPrefix(p, "accounts/") || strings.HasPrefix(p, "projects/")
	})
	var out []config.TargetRef
	for _, ref := range cfg.TargetRefs() {
		app, t, _ := cfg.Target(ref.App, ref.Target)
		hit := global
		if base != nil {
			if _, _, ok := base.Target(ref.App, ref.Target); !ok {
				hit = true
			}
		}
		for _, p := range changed {
			if hit {
				break
			}
			hit = p == app.Dir+"/application.yaml" || strings.HasPrefix(p, t.Path+"/")
		}
		if hit {
			out = append(out, ref)
		}
	}
	return out
}

// upsertComment edits the plan comment of the pull request, or posts it.
func (r *Reviewer) upsertComment(ctx context.Context, number int, body string) error {
	comments, err := r.Forge.Comments(ctx, r.RepoName, number)
	if err != nil {
		return fmt.Errorf("reading the comments of #%d: %w", number, err)
	}
	for _, c := range comments {
		if strings.HasPrefix(c.Body, Marker) {
			if c.Body == body {
				return nil
			}
			return r.Forge.EditComment(ctx, r.RepoName, number, c.ID, body)
		}
	}
	_, err = r.Forge.Comment(ctx, r.RepoName, number, body)
	return err
}

func (r *Reviewer) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}
