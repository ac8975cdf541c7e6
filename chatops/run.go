package chatops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/manifests"
	"github.com/slipwaycd/slipway/pipeline"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/review"
	"github.com/slipwaycd/slipway/rollback"
	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// Releases runs pipelines (pipeline.Engine).
type Releases interface {
	Create(ctx context.Context, req pipeline.Request) (*pipeline.Execution, error)
	Get(ctx context.Context, id int64) (*pipeline.Execution, error)
	Judge(ctx context.Context, id int64, stage string, approve bool, user, comment string) error
	CommitFor(ctx context.Context, id int64, target string) (string, error)
}

// Reconciler is what commands read and ask of the reconciler.
type Reconciler interface {
	Config() *config.Repo
	Revision() string
	Refresh(ctx context.Context) error
	Sync(ref config.TargetRef) error
	Status() []reconciler.TargetStatus
	StatusOf(key string) (reconciler.TargetStatus, bool)
	Plan(ctx context.Context, tree fs.FS, rev string, cfg *config.Repo, ref config.TargetRef) (*reconciler.Plan, error)
}

// Repo is the config repo (gitstore.Repo).
type Repo interface {
	rollback.Repo
	Contains(ctx context.Context, rev, ancestor string) (bool, error)
}

// Store audits commands and quarantines rolled-back digests (store.Store).
type Store interface {
	Audit(ctx context.Context, r store.AuditRecord) error
	Quarantine(ctx context.Context, q store.QuarantinedImage) error
}

// Runner runs chat-ops commands from comments on the config repo: it
// acknowledges, authorizes, acts through the same paths as the API, audits,
// and edits the outcome into its reply.
type Runner struct {
	Forge      forge.Forge
	RepoName   string // the config repo on the forge, owner/name
	Releases   Releases
	Reconciler Reconciler
	Repo       Repo
	Store      Store
	Log        *slog.Logger
	// Follow bounds how long a reply is kept up to date with an outcome
	// (a release order, a rollback becoming healthy); default 10m.
	Follow time.Duration
	// Poll is how often an outcome is looked at; default 1s.
	Poll time.Duration
}

// changes are the verbs that change something, which need write
// permission and the project's allow list.
var changes = []Verb{VerbDeploy, VerbRollback, VerbScale, VerbApprove, VerbReject}

// Handle acts on one comment and returns a summary for the event log.
func (r *Runner) Handle(ctx context.Context, ev webhooks.CommentEvent) (string, error) {
	if ev.Action != "created" {
		return "comment " + ev.Action + ": ignored", nil
	}
	if !strings.EqualFold(ev.Repo, r.RepoName) {
		return fmt.Sprintf("comment on %s: not the config repo", ev.Repo), nil
	}
	res := Parse(ev.Body)
	switch {
	case res.Command == nil && res.Reply == "":
		return "comment: no command", nil
	case res.Command == nil:
		_, err := r.Forge.Comment(ctx, ev.Repo, ev.Number, fmt.Sprintf("@%s %s", ev.Author, res.Reply))
		r.audit(ctx, ev, "chatops.usage", firstLine(ev.Body), "usage error")
		return "comment: usage reply", err
	}
	cmd := res.Command
	actor := r.Forge.Name() + ":" + ev.Author
	// Acknowledge at once: a reaction where the forge has them, and the
	// reply the outcome will be edited into.
	if err := r.Forge.React(ctx, ev.Repo, ev.Number, ev.CommentID, forge.ReactionEyes); err != nil && !errors.Is(err, forge.ErrUnsupported) {
		r.log().Warn("reacting to a command", "err", err)
	}
	reply, err := r.Forge.Comment(ctx, ev.Repo, ev.Number, fmt.Sprintf("@%s `%s`: working on it…", ev.Author, cmd.Raw))
	if err != nil {
		return "", fmt.Errorf("acknowledging %q: %w", cmd.Raw, err)
	}
	edit := func(body string) {
		if err := r.Forge.EditComment(ctx, ev.Repo, ev.Number, reply.ID, fmt.Sprintf("@%s `%s`\n\n%s", ev.Author, cmd.Raw, body)); err != nil {
			r.log().Warn("editing a chat-ops reply", "err", err)
		}
	}

	if why := r.authorize(ctx, ev, cmd); why != "" {
		edit("🚫 Refused: " + why)
		r.react(ctx, ev, forge.ReactionConfused)
		r.audit(ctx, ev, "chatops."+string(cmd.Verb), cmd.Raw, "denied: "+why)
		return fmt.Sprintf("%s by %s: denied: %s", cmd.Verb, actor, why), nil
	}
	out, follow, err := r.run(ctx, cmd, actor)
	if err != nil {
		edit("❌ " + err.Error())
		r.react(ctx, ev, forge.ReactionConfused)
		r.audit(ctx, ev, "chatops."+string(cmd.Verb), cmd.Raw, "error: "+err.Error())
		return fmt.Sprintf("%s by %s: %v", cmd.Verb, actor, err), nil
	}
	edit(out)
	r.audit(ctx, ev, "chatops."+string(cmd.Verb), cmd.Raw, "ok")
	if follow != nil {
		// Keep the reply up to date until the outcome is known, without
		// holding up the inbox.
		go func() {
			ctx := context.WithoutCancel(ctx)
			final, ok := follow(ctx)
			edit(out + "\n\n" + final)
			if ok {
				r.react(ctx, ev, forge.ReactionRocket)
			} else {
				r.react(ctx, ev, forge.ReactionConfused)
			}
		}()
	}
	return fmt.Sprintf("%s by %s: ok", cmd.Verb, actor), nil
}

func (r *Runner) react(ctx context.Context, ev webhooks.CommentEvent, reaction string) {
	if err := r.Forge.React(ctx, ev.Repo, ev.Number, ev.CommentID, reaction); err != nil && !errors.Is(err, forge.ErrUnsupported) {
		r.log().Warn("reacting to a command", "err", err)
	}
}

// authorize says why the commenter may not run the command, or "".
func (r *Runner) authorize(ctx context.Context, ev webhooks.CommentEvent, cmd *Command) string {
	need := forge.PermissionRead
	if slices.Contains(changes, cmd.Verb) {
		need = forge.PermissionWrite
	}
	perm, err := r.Forge.Permission(ctx, ev.Repo, ev.Author)
	if err != nil {
		return fmt.Sprintf("could not read %s's permission on %s: %v", ev.Author, ev.Repo, err)
	}
	if !perm.AtLeast(need) {
		return fmt.Sprintf("`%s` needs %s permission on %s; %s has %s", cmd.Verb, need, ev.Repo, ev.Author, perm)
	}
	if need != forge.PermissionWrite {
		return ""
	}
	cfg := r.Reconciler.Config()
	if cfg == nil {
		return "no valid config is loaded"
	}
	app, envs, why := r.scope(ctx, cfg, cmd)
	if why != "" {
		return why
	}
	project := cfg.ProjectOf(app)
	if project == "" {
		return ""
	}
	policy := cfg.Projects[project].ChatOps
	if len(envs) == 0 {
		envs = []string{""}
	}
	for _, env := range envs {
		if ok, why := policy.Allows(ev.Author, env); !ok {
			return fmt.Sprintf("project %s: %s", project, why)
		}
	}
	return ""
}

// scope finds the application a command acts on and the environments of
// the accounts it may change.
func (r *Runner) scope(ctx context.Context, cfg *config.Repo, cmd *Command) (string, []string, string) {
	envOf := func(app, target string) string {
		if _, t, ok := cfg.Target(app, target); ok {
			if a := cfg.Accounts[t.Account]; a != nil {
				return a.Environment
			}
		}
		return ""
	}
	pipelineEnvs := func(def config.Pipeline) []string {
		var envs []string
		for _, s := range def.Stages {
			if s.Target != "" {
				if e := envOf(def.Application, s.Target); !slices.Contains(envs, e) {
					envs = append(envs, e)
				}
			}
		}
		return envs
	}
	switch cmd.Verb {
	case VerbDeploy:
		def, ok := cfg.Pipeline(cmd.App, cmd.Pipeline)
		if !ok {
			return "", nil, fmt.Sprintf("pipeline %s/%s not found", cmd.App, cmd.Pipeline)
		}
		return cmd.App, pipelineEnvs(*def), ""
	case VerbRollback, VerbScale:
		if _, _, ok := cfg.Target(cmd.App, cmd.Target); !ok {
			return "", nil, fmt.Sprintf("target %s/%s not found", cmd.App, cmd.Target)
		}
		return cmd.App, []string{envOf(cmd.App, cmd.Target)}, ""
	case VerbApprove, VerbReject:
		x, err := r.Releases.Get(ctx, cmd.Release)
		if err != nil {
			return "", nil, fmt.Sprintf("release order %d: %v", cmd.Release, err)
		}
		return x.Application, pipelineEnvs(x.Definition), ""
	}
	return cmd.App, nil, ""
}

// follower waits for a command's outcome and says it in markdown.
type follower func(ctx context.Context) (string, bool)

// run executes an authorized command.
func (r *Runner) run(ctx context.Context, cmd *Command, actor string) (string, follower, error) {
	switch cmd.Verb {
	case VerbDeploy:
		x, err := r.Releases.Create(ctx, pipeline.Request{Application: cmd.App, Pipeline: cmd.Pipeline, Parameters: cmd.Params, User: actor})
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("🚀 Release order **%d** of `%s/%s` created.", x.ID, cmd.App, cmd.Pipeline), r.followRelease(x.ID), nil
	case VerbApprove, VerbReject:
		approve := cmd.Verb == VerbApprove
		if err := r.Releases.Judge(ctx, cmd.Release, "", approve, actor, cmd.Comment); err != nil {
			return "", nil, err
		}
		verb := "Approved"
		if !approve {
			verb = "Rejected"
		}
		return fmt.Sprintf("✅ %s release order **%d**.", verb, cmd.Release), r.followRelease(cmd.Release), nil
	case VerbRollback:
		ref := config.TargetRef{App: cmd.App, Target: cmd.Target}
		res, err := rollback.Rollback(ctx, r.Repo, r.Store, r.Releases, r.Reconciler.Config(), rollback.Request{Target: ref, To: cmd.To, User: actor})
		if err != nil {
			return "", nil, err
		}
		if err := r.Reconciler.Refresh(ctx); err != nil {
			return "", nil, err
		}
		if err := r.Reconciler.Sync(ref); err != nil {
			return "", nil, err
		}
		var b strings.Builder
		if res.Commit == "" {
			fmt.Fprintf(&b, "Git already has `%s` as of `%.12s`; nothing to commit.", ref, res.Restored)
		} else {
			fmt.Fprintf(&b, "⏪ Rolled `%s` back to the state of `%.12s` in commit `%.12s`. Image automation stays on.", ref, res.Restored, res.Commit)
		}
		if len(res.Quarantined) > 0 {
			fmt.Fprintf(&b, "\n\nQuarantined (not promoted again until a newer image arrives): `%s`", strings.Join(res.Quarantined, "`, `"))
		}
		return b.String(), r.followTarget(ref, res.Commit), nil
	case VerbScale:
		ref := config.TargetRef{App: cmd.App, Target: cmd.Target}
		commit, err := r.scale(ctx, ref, cmd.Workload, cmd.Replicas, actor)
		if err != nil {
			return "", nil, err
		}
		if commit == "" {
			return fmt.Sprintf("Git already has %s at %d replicas.", cmd.Workload, cmd.Replicas), r.followTarget(ref, ""), nil
		}
		return fmt.Sprintf("↔️ Scaled `%s` in `%s` to %d replicas in commit `%.12s`.", cmd.Workload, ref, cmd.Replicas, commit), r.followTarget(ref, commit), nil
	case VerbStatus:
		return r.status(cmd.App), nil, nil
	case VerbPlan:
		out, err := r.plan(ctx, cmd.App, cmd.Target)
		return out, nil, err
	}
	return "", nil, fmt.Errorf("unknown command %q", cmd.Verb)
}

// scale sets a workload's replicas in the target's kustomization.
func (r *Runner) scale(ctx context.Context, ref config.TargetRef, workload string, replicas int, actor string) (string, error) {
	_, t, ok := r.Reconciler.Config().Target(ref.App, ref.Target)
	if !ok {
		return "", fmt.Errorf("target %s not found", ref)
	}
	name := workload
	if _, n, ok := strings.Cut(workload, "/"); ok {
		name = n // deployment/web
	}
	msg := fmt.Sprintf("Scale %s in %s to %d\n\nRequested by %s.", name, ref, replicas, actor)
	rev, err := r.Repo.Commit(ctx, msg, []gitstore.Trailer{{Key: "Slipway-Target", Value: ref.String()}, {Key: "Slipway-User", Value: actor}},
		func(w *gitstore.Worktree) error {
			for _, f := range manifests.KustomizationNames {
				p := path.Join(t.Path, f)
				b, err := w.ReadFile(p)
				if err != nil {
					continue
				}
				out, changed, err := manifests.SetReplicas(b, name, replicas)
				if err != nil || !changed {
					return err
				}
				return w.WriteFile(p, out)
			}
			return fmt.Errorf("scaling needs a kustomization.yaml in %s", t.Path)
		})
	if errors.Is(err, gitstore.ErrNoChange) {
		return "", r.Reconciler.Sync(ref)
	}
	if err != nil {
		return "", err
	}
	if err := r.Reconciler.Refresh(ctx); err != nil {
		return rev, err
	}
	return rev, r.Reconciler.Sync(ref)
}

// followRelease waits for a release order to end.
func (r *Runner) followRelease(id int64) follower {
	return func(ctx context.Context) (string, bool) {
		deadline := time.Now().Add(r.follow())
		for time.Now().Before(deadline) {
			x, err := r.Releases.Get(ctx, id)
			if err == nil && (x.Status.Final() || x.Status == pipeline.StatusWaiting) {
				var b strings.Builder
				fmt.Fprintf(&b, "Release order **%d**: **%s**", x.ID, x.Status)
				if x.Reason != "" {
					fmt.Fprintf(&b, " — %s", x.Reason)
				}
				b.WriteString("\n\n| stage | status | commit | health |\n|---|---|---|---|\n")
				for _, s := range x.Stages {
					fmt.Fprintf(&b, "| %s | %s | `%.12s` | %s |\n", s.ID, s.Status, s.Outputs.Commit, s.Outputs.Health)
				}
				if x.Status == pipeline.StatusWaiting {
					fmt.Fprintf(&b, "\nWaiting for a judgment: comment `/slipway approve %d` or `/slipway reject %d`.", x.ID, x.ID)
				}
				return b.String(), x.Status == pipeline.StatusSucceeded || x.Status == pipeline.StatusWaiting
			}
			time.Sleep(r.poll())
		}
		return fmt.Sprintf("Release order %d has not ended after %s; `slipway release show %d` follows it.", id, r.follow(), id), false
	}
}

// followTarget waits until a target is synced at commit (or the current
// revision) and healthy or degraded.
func (r *Runner) followTarget(ref config.TargetRef, commit string) follower {
	return func(ctx context.Context) (string, bool) {
		if err := r.Reconciler.Refresh(ctx); err != nil {
			r.log().Warn("refreshing", "err", err)
		}
		want := commit
		if want == "" {
			want = r.Reconciler.Revision()
		}
		deadline := time.Now().Add(r.follow())
		for time.Now().Before(deadline) {
			st, ok := r.Reconciler.StatusOf(ref.String())
			at, _ := st.Toward(want, func(rev, ancestor string) (bool, error) { return r.Repo.Contains(ctx, rev, ancestor) })
			switch {
			case ok && at == reconciler.Reached && (st.Health == reconciler.Healthy || st.Health == reconciler.Degraded):
				return fmt.Sprintf("`%s` is synced at `%.12s` and **%s**.", ref, st.SyncedRevision, st.Health), st.Health == reconciler.Healthy
			case ok && at == reconciler.SyncFailed:
				return fmt.Sprintf("Sync of `%s` failed: %s", ref, st.LastError), false
			}
			time.Sleep(r.poll())
		}
		return fmt.Sprintf("`%s` is not healthy after %s.", ref, r.follow()), false
	}
}

// status lists targets (of one application, or all) as a table.
func (r *Runner) status(app string) string {
	var b strings.Builder
	b.WriteString("| target | phase | health | revision |\n|---|---|---|---|\n")
	n := 0
	for _, st := range r.Reconciler.Status() {
		if app != "" && st.Application != app {
			continue
		}
		n++
		fmt.Fprintf(&b, "| `%s/%s` | %s | %s | `%.12s` |\n", st.Application, st.Target, st.Phase, st.Health, st.SyncedRevision)
	}
	if n == 0 {
		return "No target matches."
	}
	return b.String()
}

// plan dry-runs targets at the current revision against their clusters.
func (r *Runner) plan(ctx context.Context, app, target string) (string, error) {
	cfg := r.Reconciler.Config()
	if cfg == nil {
		return "", errors.New("no valid config is loaded")
	}
	rev := r.Reconciler.Revision()
	tree, err := r.Repo.Tree(rev)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Plan at `%.12s` against the live clusters:\n", rev)
	n := 0
	for _, ref := range cfg.TargetRefs() {
		if app != "" && ref.App != app || target != "" && ref.Target != target {
			continue
		}
		n++
		plan, err := r.Reconciler.Plan(ctx, tree, rev, cfg, ref)
		if err != nil {
			fmt.Fprintf(&b, "\n`%s`: cannot be planned: %v\n", ref, err)
			continue
		}
		fmt.Fprintf(&b, "\n`%s`:\n", ref)
		review.WriteDiff(&b, plan)
	}
	if n == 0 {
		return "", fmt.Errorf("no target matches %s", strings.Trim(app+"/"+target, "/"))
	}
	return b.String(), nil
}

func (r *Runner) audit(ctx context.Context, ev webhooks.CommentEvent, action, subject, outcome string) {
	err := r.Store.Audit(ctx, store.AuditRecord{
		Actor: r.Forge.Name() + ":" + ev.Author, Action: action, Subject: subject, Outcome: outcome,
		Detail: fmt.Sprintf("%s#%d comment %d", ev.Repo, ev.Number, ev.CommentID),
	})
	if err != nil {
		r.log().Error("auditing a chat-ops command", "err", err)
	}
}

func (r *Runner) follow() time.Duration {
	if r.Follow <= 0 {
		return 10 * time.Minute
	}
	return r.Follow
}

func (r *Runner) poll() time.Duration {
	if r.Poll <= 0 {
		return time.Second
	}
	return r.Poll
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) > 200 {
		line = line[:200]
	}
	return line
}
