package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/manifests"
	"github.com/slipwaycd/slipway/reconciler"
)

// Stages that change a target never touch its cluster: they commit the
// change to the config repo and then ask the reconciler to sync the target
// and wait for it (invariant 1: Git is the only desired state).

// Trailer keys of the commits a stage makes.
const (
	trailerRelease = "Slipway-Release" // the execution's id
	trailerStep    = "Slipway-Step"    // <execution key>/<stage id>: unique to one stage of one execution
	trailerTarget  = "Slipway-Target"
	trailerUser    = "Slipway-User"
)

// edit changes a target's files in a worktree and says what it changed,
// one line per file. It must be a pure function of the worktree (Commit may
// call it again on a newer head).
type edit func(w *gitstore.Worktree, t *config.Target) ([]string, error)

// changeTarget commits an edit of the stage's target — unless an earlier
// attempt of this stage already did — then syncs the target and waits for
// it to run that revision, and to be healthy unless the stage skips that.
func (s *stageRun) changeTarget(ctx context.Context, what string, change edit) error {
	x := s.execution()
	cfg := s.e.o.Reconciler.Config()
	if cfg == nil {
		return errors.New("no valid config loaded")
	}
	_, t, ok := cfg.Target(x.Application, s.def.Target)
	if !ok {
		return fmt.Errorf("target %s/%s not found at revision %.12s", x.Application, s.def.Target, s.e.o.Reconciler.Revision())
	}
	ref := config.TargetRef{App: x.Application, Target: t.Name}
	s.output(func(o *StageOutputs) { o.Target = ref.String() })
	step := s.sideEffectKey()

	commit := ""
	if s.attempt > 1 {
		// A previous attempt may have committed before the server stopped.
		found, ok, err := s.e.o.Repo.FindCommitWithTrailer(ctx, trailerStep, step, 1000)
		if err != nil {
			return fmt.Errorf("looking for this stage's commit: %w", err)
		}
		if ok {
			commit = found
			s.logf("found this stage's commit %.12s from an earlier attempt", commit)
		}
	}
	if commit == "" {
		var changes []string
		msg := fmt.Sprintf("%s %s\n\nRelease order %d (%s/%s), stage %s, started by %s.",
			what, ref, x.ID, x.Application, x.Pipeline, s.id, orDefault(x.Trigger.User, "slipway"))
		trailers := []gitstore.Trailer{
			{Key: trailerRelease, Value: fmt.Sprint(x.ID)},
			{Key: trailerStep, Value: step},
			{Key: trailerTarget, Value: ref.String()},
		}
		if x.Trigger.User != "" {
			trailers = append(trailers, gitstore.Trailer{Key: trailerUser, Value: x.Trigger.User})
		}
		rev, err := s.e.o.Repo.Commit(ctx, msg, trailers, func(w *gitstore.Worktree) error {
			c, err := change(w, t)
			changes = c
			return err
		})
		switch {
		case errors.Is(err, gitstore.ErrNoChange):
			s.logf("Git already has it; nothing to commit")
		case err != nil:
			return fmt.Errorf("committing: %w", err)
		default:
			commit = rev
			s.output(func(o *StageOutputs) { o.Commit, o.Changes = rev, changes })
			s.e.status(rev, "pending", fmt.Sprintf("release order %d: stage %s syncing %s", x.ID, s.id, ref), x.ID)
			s.logf("committed %.12s: %s", rev, strings.Join(changes, "; "))
		}
	}
	return s.syncAndWait(ctx, ref, commit)
}

// syncAndWait asks the reconciler to sync a target and waits until it runs
// a revision containing commit (or the current one when commit is ""),
// then until it is healthy unless the stage skips that.
func (s *stageRun) syncAndWait(ctx context.Context, ref config.TargetRef, commit string) error {
	if err := s.e.o.Reconciler.Refresh(ctx); err != nil {
		return fmt.Errorf("refreshing the config repo: %w", err)
	}
	want := commit
	if want == "" {
		want = s.e.o.Reconciler.Revision()
	}
	if err := s.e.o.Reconciler.Sync(ref); err != nil {
		return err
	}
	s.logf("syncing %s to %.12s", ref, want)
	synced := false
	lastHealth := ""
	for {
		st, ok := s.e.o.Reconciler.StatusOf(ref.String())
		if ok {
			if !synced {
				switch at, err := st.Toward(want, func(rev, ancestor string) (bool, error) { return s.e.o.Repo.Contains(ctx, rev, ancestor) }); {
				case err != nil:
					return err
				case at == reconciler.SyncFailed:
					return fmt.Errorf("sync of %s failed: %s", ref, st.LastError)
				case at == reconciler.Reached:
					synced = true
					s.output(func(o *StageOutputs) { o.Revision = st.SyncedRevision })
					s.logf("synced at %.12s", st.SyncedRevision)
					if s.def.SkipWaitHealthy {
						s.output(func(o *StageOutputs) { o.Health = string(st.Health) })
						return nil
					}
				}
			}
			if synced {
				h := string(st.Health)
				if h != lastHealth {
					lastHealth = h
					s.output(func(o *StageOutputs) { o.Health = h })
					if st.HealthMessage != "" {
						s.logf("health %s: %s", h, st.HealthMessage)
					} else {
						s.logf("health %s", h)
					}
				}
				switch st.Health {
				case reconciler.Healthy:
					return nil
				case reconciler.Degraded:
					return fmt.Errorf("%s is Degraded: %s", ref, st.HealthMessage)
				}
			}
		}
		if err := s.sleep(ctx, s.e.o.Poll); err != nil {
			return err
		}
	}
}

// kustomizationIn finds a target's kustomization file in a worktree.
func kustomizationIn(w *gitstore.Worktree, dir string) (string, bool) {
	for _, name := range manifests.KustomizationNames {
		p := path.Join(dir, name)
		if w.Exists(p) {
			return p, true
		}
	}
	return "", false
}

// editKustomization applies f to a target's kustomization.
func editKustomization(w *gitstore.Worktree, t *config.Target, why string, f func([]byte) ([]byte, bool, error)) (string, bool, error) {
	p, ok := kustomizationIn(w, t.Path)
	if !ok {
		return "", false, fmt.Errorf("%s needs a kustomization.yaml in %s", why, t.Path)
	}
	data, err := w.ReadFile(p)
	if err != nil {
		return "", false, err
	}
	out, changed, err := f(data)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", p, err)
	}
	if changed {
		if err := w.WriteFile(p, out); err != nil {
			return "", false, err
		}
	}
	return p, changed, nil
}

// deployManifest binds the stage's artifacts into the target's
// kustomization and writes its raw manifest, if any, into the target.
func (s *stageRun) deployManifest(ctx context.Context) error {
	x := s.execution()
	var images []manifests.Image
	var described []string
	for _, id := range s.def.Artifacts {
		var bound *Artifact
		for i := range x.Artifacts {
			if x.Artifacts[i].ID == id {
				bound = &x.Artifacts[i]
			}
		}
		if bound == nil {
			return fmt.Errorf("artifact %s is not bound in this execution", id)
		}
		img := manifests.Image{Name: bound.Repository, NewTag: bound.Tag, Digest: bound.Digest}
		for _, ea := range x.Definition.ExpectedArtifacts {
			if ea.ID == id && ea.KustomizeName != "" && ea.KustomizeName != ea.Repository {
				img.Name, img.NewName = ea.KustomizeName, bound.Repository
			}
		}
		images = append(images, img)
		described = append(described, bound.Reference)
	}
	what := "Deploy"
	if len(described) > 0 {
		what = "Deploy " + strings.Join(described, ", ") + " to"
	}
	return s.changeTarget(ctx, what, func(w *gitstore.Worktree, t *config.Target) ([]string, error) {
		var changes []string
		for _, img := range images {
			p, changed, err := editKustomization(w, t, "binding an artifact", func(b []byte) ([]byte, bool, error) {
				return manifests.SetImage(b, img)
			})
			if err != nil {
				return nil, err
			}
			if changed {
				changes = append(changes, fmt.Sprintf("%s: image %s", p, describeImage(img)))
			}
		}
		if s.def.Manifest != "" {
			p := path.Join(t.Path, s.def.File)
			old, err := w.ReadFile(p)
			if err != nil || string(old) != s.def.Manifest {
				if err := w.WriteFile(p, []byte(s.def.Manifest)); err != nil {
					return nil, err
				}
				changes = append(changes, p+": written")
			}
			if _, ok := kustomizationIn(w, t.Path); ok {
				k, changed, err := editKustomization(w, t, "", func(b []byte) ([]byte, bool, error) {
					return manifests.AddResource(b, s.def.File)
				})
				if err != nil {
					return nil, err
				}
				if changed {
					changes = append(changes, fmt.Sprintf("%s: resource %s added", k, s.def.File))
				}
			}
		}
		return changes, nil
	})
}

func describeImage(img manifests.Image) string {
	s := img.Name
	if img.NewName != "" {
		s += " → " + img.NewName
	}
	if img.NewTag != "" {
		s += ":" + img.NewTag
	}
	if img.Digest != "" {
		s += "@" + img.Digest
	}
	return s
}

func kindOf(def config.Stage) string {
	if def.Kind == "" {
		return "Deployment"
	}
	return def.Kind
}

// scaleManifest sets a workload's replicas in the target's kustomization.
func (s *stageRun) scaleManifest(ctx context.Context) error {
	what := fmt.Sprintf("Scale %s/%s to %d in", kindOf(s.def), s.def.ObjectName, s.def.Replicas)
	return s.changeTarget(ctx, what, func(w *gitstore.Worktree, t *config.Target) ([]string, error) {
		p, changed, err := editKustomization(w, t, "scaleManifest", func(b []byte) ([]byte, bool, error) {
			return manifests.SetReplicas(b, s.def.ObjectName, s.def.Replicas)
		})
		if err != nil || !changed {
			return nil, err
		}
		return []string{fmt.Sprintf("%s: replicas of %s = %d", p, s.def.ObjectName, s.def.Replicas)}, nil
	})
}

// patchManifest adds (or replaces) a patch of one object in the target's
// kustomization.
func (s *stageRun) patchManifest(ctx context.Context) error {
	kind := kindOf(s.def)
	patch, err := patchFor(kind, s.def.ObjectName, s.def.Patch)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("Patch %s/%s in", kind, s.def.ObjectName)
	return s.changeTarget(ctx, what, func(w *gitstore.Worktree, t *config.Target) ([]string, error) {
		p, changed, err := editKustomization(w, t, "patchManifest", func(b []byte) ([]byte, bool, error) {
			return manifests.SetPatch(b, kind, s.def.ObjectName, patch)
		})
		if err != nil || !changed {
			return nil, err
		}
		return []string{fmt.Sprintf("%s: patch of %s/%s", p, kind, s.def.ObjectName)}, nil
	})
}

// patchFor completes a strategic-merge patch with the kind and
// metadata.name kustomize needs to read it as one: a bare mapping such as
// "spec: {replicas: 3}", as the config docs allow, is neither a strategic-
// merge nor a JSON patch to kustomize, and would break the target's build.
// A JSON 6902 patch (a list) is returned as it is.
func patchFor(kind, name, patch string) (string, error) {
	rn, err := kyaml.Parse(patch)
	if err != nil {
		return "", fmt.Errorf("patch: %w", err)
	}
	if rn.YNode().Kind != kyaml.MappingNode {
		return patch, nil
	}
	str := func(v string) *kyaml.Node {
		return &kyaml.Node{Kind: kyaml.ScalarNode, Tag: kyaml.NodeTagString, Value: v}
	}
	var head []*kyaml.Node
	if rn.Field("kind") == nil {
		head = append(head, str("kind"), str(kind))
	}
	meta := rn.Field("metadata")
	switch {
	case meta == nil:
		head = append(head, str("metadata"), &kyaml.Node{Kind: kyaml.MappingNode, Content: []*kyaml.Node{str("name"), str(name)}})
	case meta.Value.YNode().Kind != kyaml.MappingNode:
		return "", errors.New("patch: metadata is not a mapping")
	case meta.Value.Field("name") == nil:
		if err := meta.Value.PipeE(kyaml.SetField("name", kyaml.NewStringRNode(name))); err != nil {
			return "", fmt.Errorf("patch: metadata.name: %w", err)
		}
	default:
		if len(head) == 0 {
			return patch, nil // complete already: keep it as written
		}
	}
	rn.YNode().Content = append(head, rn.YNode().Content...)
	return rn.String()
}

// deleteManifest removes one object from the target's files; the
// reconciler then prunes it from the cluster.
func (s *stageRun) deleteManifest(ctx context.Context) error {
	kind := kindOf(s.def)
	what := fmt.Sprintf("Delete %s/%s from", kind, s.def.ObjectName)
	return s.changeTarget(ctx, what, func(w *gitstore.Worktree, t *config.Target) ([]string, error) {
		files := map[string][]byte{}
		for _, name := range w.Files(t.Path) {
			if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") || strings.HasPrefix(name, "kustomization.") {
				continue
			}
			if b, err := w.ReadFile(path.Join(t.Path, name)); err == nil {
				files[name] = b
			}
		}
		name, ok := manifests.FindObject(files, kind, s.def.ObjectName)
		if !ok {
			return nil, nil // already gone from Git
		}
		p := path.Join(t.Path, name)
		out, removed, empty, err := manifests.RemoveObject(files[name], kind, s.def.ObjectName)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !removed {
			return nil, nil
		}
		if !empty {
			return []string{p + ": " + kind + "/" + s.def.ObjectName + " removed"}, w.WriteFile(p, out)
		}
		if err := w.Remove(p); err != nil {
			return nil, err
		}
		changes := []string{p + ": deleted"}
		if _, ok := kustomizationIn(w, t.Path); ok {
			k, changed, err := editKustomization(w, t, "", func(b []byte) ([]byte, bool, error) {
				return manifests.RemoveResource(b, name)
			})
			if err != nil {
				return nil, err
			}
			if changed {
				changes = append(changes, k+": resource "+name+" removed")
			}
		}
		return changes, nil
	})
}

// undoRollout puts the target's directory back as it was the given number
// of changes ago: a new commit, so history keeps both the release and its
// undoing.
func (s *stageRun) undoRollout(ctx context.Context) error {
	back := max(s.def.Revisions, 1)
	x := s.execution()
	cfg := s.e.o.Reconciler.Config()
	if cfg == nil {
		return errors.New("no valid config loaded")
	}
	_, t, ok := cfg.Target(x.Application, s.def.Target)
	if !ok {
		return fmt.Errorf("target %s/%s not found", x.Application, s.def.Target)
	}
	// A resumed attempt finds its commit by trailer and never uses what is
	// read here; a first attempt reads the history as it is now.
	log, err := s.e.o.Repo.Log(ctx, t.Path, back+1)
	if err != nil {
		return err
	}
	if len(log) <= back {
		return fmt.Errorf("%s has %d change(s) in Git; cannot go back %d", t.Path, len(log), back)
	}
	old := log[back].Hash
	tree, err := s.e.o.Repo.Tree(old)
	if err != nil {
		return err
	}
	s.logf("restoring %s as of %.12s (%d change(s) back)", t.Path, old, back)
	what := fmt.Sprintf("Undo rollout (back %d, to %.12s) of", back, old)
	return s.changeTarget(ctx, what, func(w *gitstore.Worktree, t *config.Target) ([]string, error) {
		if err := w.RestoreDir(t.Path, tree); err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("%s: restored from %.12s", t.Path, old)}, nil
	})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
