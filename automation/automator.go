package automation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/manifests"
	"github.com/slipwaycd/slipway/store"
)

// Repo is where bumps are committed (gitstore.Repo).
type Repo interface {
	Commit(ctx context.Context, msg string, trailers []gitstore.Trailer, change gitstore.Change) (string, error)
	// CommitToBranch commits change on top of the main head to branch,
	// replacing what the branch held (write policy pullRequest).
	CommitToBranch(ctx context.Context, branch, msg string, trailers []gitstore.Trailer, change gitstore.Change) (string, error)
	Tree(rev string) (fs.FS, error)
}

// errMoved means the kustomization changed between deciding and committing:
// decide again so the commit message tells the truth.
var errMoved = errors.New("kustomization changed while committing")

// Quarantine says whether a rollback quarantined an image digest
// (store.Store).
type Quarantine interface {
	Quarantined(ctx context.Context, repository, digest string) (store.QuarantinedImage, bool, error)
}

// Automator commits image bumps for pushes.
type Automator struct {
	// Quarantine, when set, keeps digests that a rollback took out of
	// service from being promoted again; a newer image is promoted as usual.
	Quarantine Quarantine
	// Config returns the config at the newest revision (the reconciler's).
	Config func() *config.Repo
	Repo   Repo
	// Refresh makes the reconciler pick up the new commit at once.
	Refresh func(ctx context.Context) error
	// OpenPullRequest, when set, opens (or updates) the pull request of a
	// bump pushed to a branch (write policy pullRequest) and returns its URL.
	OpenPullRequest func(ctx context.Context, branch, title, body string) (string, error)
	Log             *slog.Logger
}

// Result is what one image automation did with a push.
type Result struct {
	Target     string `json:"target"` // app/target
	Automation string `json:"automation"`
	Bumped     bool   `json:"bumped"`
	Commit     string `json:"commit,omitempty"`
	Branch     string `json:"branch,omitempty"` // write policy pullRequest: the branch pushed to
	Reason     string `json:"reason"`
	Err        error  `json:"-"`
}

// Handle commits a bump to every target whose automation accepts the push,
// one commit per target, then refreshes the reconciler. A target whose
// automation writes pull requests gets its bump on its own branch instead,
// one commit ahead of the main branch; that changes nothing the reconciler
// reads, so it does not refresh for it. Each commit re-reads
// the kustomization at the branch head, so concurrent pushes and other
// writers never lose an update, and a redelivered push commits nothing.
func (a *Automator) Handle(ctx context.Context, p Push) ([]Result, error) {
	cfg := a.Config()
	if cfg == nil {
		return nil, errors.New("no valid config loaded yet")
	}
	var results []Result
	var errs []error
	committed := false
	quarantined := ""
	if a.Quarantine != nil && p.Digest != "" {
		q, bad, err := a.Quarantine.Quarantined(ctx, p.Repository, p.Digest)
		if err != nil {
			return nil, fmt.Errorf("checking the quarantine: %w", err)
		}
		if bad {
			quarantined = fmt.Sprintf("%s@%s is quarantined (rolled back from %s by %s: %s); push a newer image", p.Repository, p.Digest, q.Target, q.Actor, q.Reason)
		}
	}
	for _, ref := range cfg.TargetRefs() {
		app, t, _ := cfg.Target(ref.App, ref.Target)
		for _, img := range t.Images {
			if img.Repository != p.Repository {
				continue
			}
			if quarantined != "" {
				results = append(results, Result{Target: ref.String(), Automation: img.Name, Reason: quarantined})
				continue
			}
			res := a.bump(ctx, app, t, img, p)
			if res.Err != nil {
				errs = append(errs, res.Err)
			}
			committed = committed || res.Commit != "" && res.Branch == ""
			results = append(results, res)
		}
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Target < results[j].Target })
	if committed && a.Refresh != nil {
		if err := a.Refresh(ctx); err != nil {
			errs = append(errs, fmt.Errorf("refreshing after the bump: %w", err))
		}
	}
	return results, errors.Join(errs...)
}

func (a *Automator) bump(ctx context.Context, app *config.Application, t *config.Target, img config.ImageAutomation, p Push) Result {
	ref := app.Name + "/" + t.Name
	res := Result{Target: ref, Automation: img.Name}
	branch := ""
	if img.Write == config.WritePullRequest {
		branch = BranchFor(app.Name, t.Name)
	}
	file := path.Join(t.Path, "kustomization.yaml")
	// decide reads the kustomization and says what to write.
	decide := func(data []byte) (Decision, error) {
		images, err := manifests.ReadKustomizationImages(data)
		if err != nil {
			return Decision{}, fmt.Errorf("%s: %w", file, err)
		}
		var current *manifests.Image
		for i := range images {
			if images[i].Name == img.KustomizeName {
				current = &images[i]
			}
		}
		return Decide(img, current, p), nil
	}
	// Decide from the last fetched head first, so the commit message can say
	// what changes; the change below decides again on the head it commits to.
	var decision Decision
	if tree, err := a.Repo.Tree(""); err == nil {
		if data, err := fs.ReadFile(tree, file); err == nil {
			decision, _ = decide(data)
		}
	}
	change := func(w *gitstore.Worktree) error {
		data, err := w.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%s: image automation %s needs a kustomization: %w", ref, img.Name, err)
		}
		d, err := decide(data)
		if err != nil {
			return err
		}
		if d != decision {
			decision = d
			return errMoved
		}
		if !d.Bump {
			return nil
		}
		out, _, err := manifests.SetImage(data, d.Image)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return w.WriteFile(file, out)
	}
	trailers := []gitstore.Trailer{
		{Key: "Slipway-Target", Value: ref},
		{Key: "Slipway-Image", Value: fmt.Sprintf("%s:%s@%s", img.Repository, p.Tag, p.Digest)},
	}
	if p.Source != "" {
		trailers = append(trailers, gitstore.Trailer{Key: "Slipway-Event", Value: p.Source})
	}
	var rev string
	var err error
	for range 5 {
		msg := fmt.Sprintf("Bump %s image %s to %s\n\n%s: %s", ref, img.Repository, p.Tag, img.Name, decision.Reason)
		if p.Source != "" {
			msg += "\nReported by " + p.Source + "."
		}
		if branch != "" {
			rev, err = a.Repo.CommitToBranch(ctx, branch, msg, trailers, change)
		} else {
			rev, err = a.Repo.Commit(ctx, msg, trailers, change)
		}
		if !errors.Is(err, errMoved) {
			break
		}
	}
	res.Reason = decision.Reason
	switch {
	case errors.Is(err, gitstore.ErrNoChange):
		// Nothing to write: the policy refused the tag or Git already has it
		// (on main, or on the branch when rev names the branch's commit).
		if branch != "" && rev != "" {
			res.Branch = branch
			res.Reason += "; branch " + branch + " already has it"
		}
	case err != nil:
		res.Err = fmt.Errorf("%s: committing the bump: %w", ref, err)
		res.Reason = res.Err.Error()
	case branch != "":
		res.Bumped, res.Commit, res.Branch = true, rev, branch
		res.Reason += "; pushed branch " + branch
		if a.OpenPullRequest == nil {
			res.Reason += "; a pull request opens once a forge is configured"
		} else {
			title := fmt.Sprintf("Bump %s image %s to %s", ref, img.Repository, p.Tag)
			body := fmt.Sprintf("Slipway pushed `%s:%s@%s` (%s) for `%s`.\n\n%s\n\nMerging deploys it; newer tags update this pull request.", img.Repository, p.Tag, p.Digest, img.Name, ref, decision.Reason)
			if url, err := a.OpenPullRequest(ctx, branch, title, body); err != nil {
				res.Err = fmt.Errorf("%s: opening the pull request: %w", ref, err)
				res.Reason += "; opening the pull request failed: " + err.Error()
			} else {
				res.Reason += "; pull request " + url
			}
		}
		if a.Log != nil {
			a.Log.Info("image bump pushed to branch", "target", ref, "image", img.Repository, "change", decision.Reason, "branch", branch, "commit", rev)
		}
	default:
		res.Bumped, res.Commit = true, rev
		if a.Log != nil {
			a.Log.Info("image bumped", "target", ref, "image", img.Repository, "change", decision.Reason, "commit", rev)
		}
	}
	return res
}

// BranchFor is the branch that bumps of an application's target are pushed
// to under write policy pullRequest: one per target, so a burst of pushes
// updates one branch (and one pull request).
func BranchFor(app, target string) string {
	return "slipway/images/" + app + "-" + target
}
