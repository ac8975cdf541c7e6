package reconciler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/store"
)

// Phase says whether a target's cluster matches Git.
type Phase string

// Phases of a target.
const (
	PhaseUnknown   Phase = "Unknown"
	PhaseSynced    Phase = "Synced"
	PhaseOutOfSync Phase = "OutOfSync" // manual targets wait for a person
	PhaseSyncing   Phase = "Syncing"
	PhaseFailed    Phase = "Failed"
	PhaseRemoved   Phase = "Removed" // left Git
)

// TargetStatus is what the API, the CLI and the console show for a target.
type TargetStatus struct {
	Application     string            `json:"application"`
	Target          string            `json:"target"`
	Account         string            `json:"account,omitempty"`
	Namespace       string            `json:"namespace,omitempty"`
	Policy          config.SyncPolicy `json:"policy"`
	Phase           Phase             `json:"phase"`
	DesiredRevision string            `json:"desiredRevision,omitempty"`
	SyncedRevision  string            `json:"syncedRevision,omitempty"`
	SyncedAt        time.Time         `json:"syncedAt,omitzero"`
	Health          Health            `json:"health"`
	HealthMessage   string            `json:"healthMessage,omitempty"`
	LastError       string            `json:"lastError,omitempty"`
	Changes         []Change          `json:"changes,omitempty"` // of the last sync that did something
	Drift           []string          `json:"drift,omitempty"`
	Ingress         []string          `json:"ingress,omitempty"`
	Objects         []ObjectStatus    `json:"objects,omitempty"`
}

// Standing is where a target is with respect to a revision it should reach.
type Standing int

const (
	// Behind: still at an older revision, or syncing.
	Behind Standing = iota
	// Reached: synced at a revision that contains it.
	Reached
	// SyncFailed: a sync of a revision that contains it failed.
	SyncFailed
)

// Toward says where the target stands with respect to want, a commit of
// the config repo; contains reports whether rev has ancestor in its
// history (gitstore's Repo.Contains). Whoever committed something and
// waits for it to be deployed asks this.
func (s TargetStatus) Toward(want string, contains func(rev, ancestor string) (bool, error)) (Standing, error) {
	has := func(rev string) (bool, error) {
		if rev == "" || rev == want {
			return rev != "", nil
		}
		return contains(rev, want)
	}
	switch s.Phase {
	case PhaseSynced:
		ok, err := has(s.SyncedRevision)
		if ok {
			return Reached, err
		}
		return Behind, err
	case PhaseFailed:
		ok, err := has(s.DesiredRevision)
		if ok {
			return SyncFailed, err
		}
		return Behind, err
	}
	return Behind, nil
}

// ObjectStatus is one object of a target, live.
type ObjectStatus struct {
	Object  string   `json:"object"`
	Health  Health   `json:"health"`
	Message string   `json:"message,omitempty"`
	Drift   []string `json:"drift,omitempty"`
	Ingress []string `json:"ingress,omitempty"`
}

// Status returns every known target's status, sorted by name.
func (r *Reconciler) Status() []TargetStatus {
	r.mu.Lock()
	keys := make([]string, 0, len(r.targets))
	for k := range r.targets {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	out := make([]TargetStatus, 0, len(keys))
	for _, k := range sortedKeysOf(keys) {
		if s, ok := r.StatusOf(k); ok {
			out = append(out, s)
		}
	}
	return out
}

// StatusOf returns one target's status ("app/target").
func (r *Reconciler) StatusOf(key string) (TargetStatus, bool) {
	r.mu.Lock()
	st, ok := r.targets[key]
	r.mu.Unlock()
	if !ok {
		return TargetStatus{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.status
	s.Changes = append([]Change(nil), s.Changes...)
	s.Drift = append([]string(nil), s.Drift...)
	s.Objects = append([]ObjectStatus(nil), s.Objects...)
	return s, true
}

// Config is the config at the newest valid revision, nil before the first.
func (r *Reconciler) Config() *config.Repo {
	if s := r.snap.Load(); s != nil {
		return s.config
	}
	return nil
}

// Revision is the config repo revision the reconciler works from.
func (r *Reconciler) Revision() string {
	if s := r.snap.Load(); s != nil {
		return s.rev
	}
	return ""
}

// reconcile brings one target to the newest revision. It re-reads everything
// it needs: the work item is only a name.
func (r *Reconciler) reconcile(ctx context.Context, key string) error {
	snap := r.snap.Load()
	if snap == nil {
		return fmt.Errorf("no revision fetched yet")
	}
	st := r.state(key)
	ref, err := config.ParseTargetRef(key)
	if err != nil {
		return fmt.Errorf("%w: %v", errTerminal, err)
	}
	if snap.err != nil {
		r.fail(st, snap.rev, "config", fmt.Errorf("config repo at %s is invalid:\n%w", short(snap.rev), snap.err))
		return errTerminal
	}
	app, t, ok := snap.config.Target(ref.App, ref.Target)
	if !ok {
		return r.removed(ctx, st, snap.rev)
	}
	acct := snap.config.Accounts[t.Account]

	st.mu.Lock()
	st.status.Account, st.status.Namespace, st.status.Policy = t.Account, t.Namespace, t.Sync
	st.status.DesiredRevision = snap.rev
	forced := st.forced
	st.mu.Unlock()

	cl, err := r.cluster(ctx, acct)
	if err != nil {
		r.fail(st, snap.rev, "connect", err)
		return err
	}
	st.mu.Lock()
	d := st.rendered
	if st.renderedRev != snap.rev {
		d = nil
	}
	st.mu.Unlock()
	if d == nil {
		d, err = render(snap.tree, snap.rev, app, t, cl, acct)
		if err != nil {
			r.fail(st, snap.rev, "render", fmt.Errorf("rendering %s: %w", t.Path, err))
			return errTerminal
		}
	}

	st.mu.Lock()
	st.deps = d.deps
	st.rendered, st.renderedRev = d, snap.rev
	inv := st.inv
	// Only self-heal acts on drift; with drift: report, a resync leaves the
	// live change alone (a new revision still applies Git in full).
	drift := st.driftSeen && t.Sync.Drift == config.DriftSelfHeal
	st.mu.Unlock()
	if inv == nil {
		loaded, _, err := cl.inventories.load(ctx, t.Namespace, app.Name, t.Name)
		if err != nil {
			r.fail(st, snap.rev, "inventory", err)
			return err
		}
		inv = loaded
	}

	// Nothing to do when Git's rendering is what was applied and nothing drifted.
	if inv.Hash == d.hash && !drift && !forced {
		st.mu.Lock()
		if st.desired == nil {
			st.desired = indexObjects(d)
		}
		st.inv = inv
		st.status.Phase, st.status.LastError = PhaseSynced, ""
		st.status.SyncedRevision = snap.rev
		st.mu.Unlock()
		r.queueHealth(key, st) // health and drift from the watch cache: no API calls
		return nil
	}
	if t.Sync.Mode == config.SyncManual && !forced {
		st.mu.Lock()
		st.inv = inv
		st.status.Phase = PhaseOutOfSync
		st.mu.Unlock()
		return nil
	}

	syncCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	st.mu.Lock()
	st.cancel, st.syncRev = cancel, snap.rev
	st.status.Phase = PhaseSyncing
	st.mu.Unlock()
	if s, ok := r.opts.History.(SyncStarter); ok {
		s.SyncStarted(app.Name, t.Name, snap.rev)
	}
	defer func() {
		st.mu.Lock()
		st.cancel, st.syncRev = nil, ""
		st.mu.Unlock()
	}()

	trigger := "revision"
	switch {
	case forced:
		trigger = "manual"
	case drift && inv.Hash == d.hash:
		trigger = "drift"
	}
	started := time.Now()
	res, err := applyTarget(syncCtx, cl, app, t, snap.rev, d, inv)
	r.opts.Metrics.sync(time.Since(started), err == nil)
	if err != nil {
		cl.namespaces.Delete(t.Namespace) // in case it was deleted under us
		if syncCtx.Err() != nil && ctx.Err() == nil {
			r.log.Info("sync superseded by a newer revision", "target", key, "revision", short(snap.rev))
		} else {
			r.fail(st, snap.rev, trigger, err)
			r.record(ctx, key, snap.rev, trigger, started, "failed", "", err.Error(), nil)
		}
		return err
	}
	st.mu.Lock()
	st.inv = res.inv
	st.desired = indexObjects(d)
	st.forced, st.driftSeen = false, false
	st.status.Phase = PhaseSynced
	st.status.SyncedRevision, st.status.SyncedAt = snap.rev, time.Now().UTC()
	st.status.LastError = ""
	st.status.Changes = res.changes
	st.mu.Unlock()
	r.queueHealth(key, st)
	s, _ := r.StatusOf(key)
	r.log.Info("synced", "target", key, "revision", short(snap.rev), "trigger", trigger,
		"changes", summarize(res.changes), "health", s.Health, "took", res.duration.Round(time.Millisecond))
	r.record(ctx, key, snap.rev, trigger, started, "succeeded", s.Health, "", res.changes)
	return nil
}

// removed handles a target that left Git: with prune on, what it applied is
// deleted with it.
func (r *Reconciler) removed(ctx context.Context, st *targetState, rev string) error {
	st.mu.Lock()
	status := st.status
	st.mu.Unlock()
	if status.Phase == PhaseRemoved {
		return nil
	}
	var changes []Change
	if status.Policy.Prune && status.Account != "" {
		r.mu.Lock()
		cl := r.clusters[status.Account]
		r.mu.Unlock()
		if cl != nil {
			inv, _, err := cl.inventories.load(ctx, status.Namespace, status.Application, status.Target)
			if err != nil {
				return err
			}
			for _, e := range inv.Entries {
				action, err := cl.prune(ctx, e.ObjectRef, status.Application, status.Target)
				if err != nil {
					return err
				}
				changes = append(changes, Change{Object: e.ObjectRef.String(), Action: action})
			}
			if err := cl.inventories.save(ctx, status.Namespace, status.Application, status.Target, &Inventory{Revision: rev}); err != nil {
				return err
			}
		}
	}
	st.mu.Lock()
	st.status.Phase, st.status.DesiredRevision, st.status.Changes = PhaseRemoved, rev, changes
	st.desired, st.inv = nil, nil
	st.mu.Unlock()
	return nil
}

func (r *Reconciler) fail(st *targetState, rev, trigger string, err error) {
	st.mu.Lock()
	st.status.Phase = PhaseFailed
	st.status.DesiredRevision = rev
	st.status.LastError = err.Error()
	key := st.status.Application + "/" + st.status.Target
	st.mu.Unlock()
	r.log.Warn("sync failed", "target", key, "revision", short(rev), "during", trigger, "err", err)
}

func (r *Reconciler) record(ctx context.Context, key, rev, trigger string, started time.Time, result string, h Health, errMsg string, changes []Change) {
	if r.opts.History == nil {
		return
	}
	app, target, _ := strings.Cut(key, "/")
	rec := &store.SyncRecord{
		Application: app, Target: target, Revision: rev, Trigger: trigger,
		StartedAt: started, FinishedAt: time.Now(), Result: result, Health: string(h), Error: errMsg,
	}
	for _, c := range changes {
		rec.Changes = append(rec.Changes, store.Change{Kind: kindOf(c.Object), Name: c.Object, Action: string(c.Action)})
	}
	if _, err := r.opts.History.RecordSync(context.WithoutCancel(ctx), rec); err != nil {
		r.log.Error("recording sync history", "target", key, "err", err)
	}
}

func kindOf(object string) string {
	k, _, _ := strings.Cut(object, "/")
	return k
}

func indexObjects(d *desiredState) map[string]*unstructured.Unstructured {
	m := make(map[string]*unstructured.Unstructured, len(d.objects))
	for _, o := range d.objects {
		m[RefOf(o).key()] = o
	}
	return m
}

func summarize(changes []Change) string {
	counts := map[Action]int{}
	for _, c := range changes {
		counts[c.Action]++
	}
	var parts []string
	for _, a := range []Action{Created, Configured, Unchanged, Pruned, Skipped} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sortedKeysOf(keys []string) []string {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return sortedKeys(m)
}
