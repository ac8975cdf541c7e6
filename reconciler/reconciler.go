package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/store"
)

// Source is the config repo as the reconciler reads it (gitstore.Repo).
type Source interface {
	Fetch(ctx context.Context) (string, error)
	Tree(rev string) (fs.FS, error)
	ChangedPaths(ctx context.Context, from, to string) ([]string, error)
}

// History records finished syncs (store.Store).
type History interface {
	RecordSync(ctx context.Context, r *store.SyncRecord) (int64, error)
}

// SyncStarter is implemented by a History that also wants to hear when a
// sync that will change something starts (to set a pending commit status).
type SyncStarter interface {
	SyncStarted(app, target, rev string)
}

// Connect returns a client configuration for an account's cluster, reading
// its kubeconfig from the secret store.
type Connect func(ctx context.Context, acct *config.Account) (*rest.Config, error)

// Options configure a Reconciler.
type Options struct {
	Source  Source
	Connect Connect
	History History // optional
	Logger  *slog.Logger
	Metrics *Metrics // optional

	Workers        int           // targets synced at once; default 16
	PollInterval   time.Duration // how often to fetch Git; default 1m; <0 disables
	ResyncInterval time.Duration // how often to re-check every target; default 10m
	FieldManager   string        // default "slipway"
	HealthTimeout  time.Duration // a target still Progressing this long after a sync is Degraded; default 5m
}

// Reconciler keeps every target's cluster equal to what Git says. It is
// level-triggered: a work item carries only a target's name; the worker
// reads the newest revision and the live cluster and does what is missing.
type Reconciler struct {
	opts  Options
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[string]

	snap      atomic.Pointer[snapshot]
	refreshMu sync.Mutex

	mu       sync.Mutex
	targets  map[string]*targetState
	clusters map[string]*Cluster
	ready    atomic.Bool
}

// snapshot is the config repo at one revision.
type snapshot struct {
	rev    string
	tree   fs.FS
	config *config.Repo
	err    error // the config at rev is invalid
}

// targetState is what the reconciler knows about one target.
type targetState struct {
	mu          sync.Mutex
	status      TargetStatus
	inv         *Inventory // last known inventory; nil until read from the cluster
	desired     map[string]*unstructured.Unstructured
	deps        []string
	rendered    *desiredState // the last render, valid for renderedRev
	renderedRev string
	forced      bool               // a person asked for a sync (manual targets)
	driftSeen   bool               // a watch event showed drift since the last sync
	cancel      context.CancelFunc // cancels the sync in flight
	syncRev     string             // the revision being synced
}

// New makes a Reconciler; Run starts it.
func New(opts Options) *Reconciler {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Minute
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = 10 * time.Minute
	}
	if opts.FieldManager == "" {
		opts.FieldManager = "slipway"
	}
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rl := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](500*time.Millisecond, 5*time.Minute),
	)
	return &Reconciler{
		opts:     opts,
		log:      opts.Logger,
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[string]{Name: "targets"}),
		targets:  map[string]*targetState{},
		clusters: map[string]*Cluster{},
	}
}

// Run fetches Git, starts the workers and the timers, and blocks until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	defer r.queue.ShutDown()
	defer r.closeClusters()
	if err := r.Refresh(ctx); err != nil {
		r.log.Error("first fetch of the config repo failed; will retry", "err", err)
	}
	r.ready.Store(true)
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(func() { r.worker(ctx) })
	}
	wg.Go(func() { r.every(ctx, r.opts.PollInterval, func() { _ = r.Refresh(ctx) }) })
	wg.Go(func() { r.every(ctx, r.opts.ResyncInterval, r.resyncAll) })
	wg.Go(func() { r.every(ctx, 5*time.Second, r.checkProgressing) })
	<-ctx.Done()
	r.queue.ShutDown()
	wg.Wait()
	return nil
}

// Ready reports whether the first fetch has happened.
func (r *Reconciler) Ready() bool { return r.ready.Load() }

func (r *Reconciler) every(ctx context.Context, d time.Duration, f func()) {
	if d <= 0 {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Refresh fetches the config repo now and enqueues the targets a new
// revision affects. Webhooks call it so a push syncs without waiting for the poll.
func (r *Reconciler) Refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	rev, err := r.opts.Source.Fetch(ctx)
	if err != nil {
		return fmt.Errorf("fetching the config repo: %w", err)
	}
	old := r.snap.Load()
	if old != nil && old.rev == rev {
		return nil
	}
	started := time.Now()
	tree, err := r.opts.Source.Tree(rev)
	if err != nil {
		return err
	}
	var changed []string
	if old != nil {
		changed, err = r.opts.Source.ChangedPaths(ctx, old.rev, rev)
		if err != nil {
			r.log.Warn("could not diff revisions; re-checking every target", "err", err)
			changed = nil
			old = nil
		}
	}
	// Most commits touch only manifests (image bumps, replicas): the config
	// files did not change, so the loaded config still holds. Reloading a
	// thousand applications is what would make such a commit slow.
	var cfg *config.Repo
	var cfgErr error
	if old != nil && old.err == nil && !touchesConfig(changed) {
		cfg = old.config
	} else {
		cfg, cfgErr = config.Load(tree)
	}
	next := &snapshot{rev: rev, tree: tree, config: cfg, err: cfgErr}
	r.snap.Store(next)
	r.log.Info("config repo revision", "revision", short(rev), "valid", cfgErr == nil,
		"changedFiles", len(changed), "took", time.Since(started).Round(time.Millisecond))
	r.opts.Metrics.revision(rev)

	affected := r.affected(old, next, changed)
	if old != nil {
		// Targets none of whose inputs changed render the same at the new
		// revision: carry their last render forward instead of redoing it.
		hit := make(map[string]bool, len(affected))
		for _, k := range affected {
			hit[k] = true
		}
		r.mu.Lock()
		for k, st := range r.targets {
			if hit[k] {
				continue
			}
			st.mu.Lock()
			if st.renderedRev == old.rev {
				st.renderedRev = rev
			}
			if st.status.DesiredRevision == old.rev {
				st.status.DesiredRevision = rev
				if st.status.Phase == PhaseSynced && st.status.SyncedRevision == old.rev {
					st.status.SyncedRevision = rev // Git changed elsewhere; this target still matches it
				}
			}
			st.mu.Unlock()
		}
		r.mu.Unlock()
	}
	for _, key := range affected {
		r.enqueue(key, rev)
	}
	return nil
}

// affected maps changed paths to the targets whose inputs they touch: the
// files a target's last render read, its application file, its account.
// Without a previous revision, every target is affected.
func (r *Reconciler) affected(old, next *snapshot, changed []string) []string {
	keys := map[string]bool{}
	if next.config != nil {
		for _, ref := range next.config.TargetRefs() {
			if old == nil || old.config == nil {
				keys[ref.String()] = true
			}
		}
	}
	// Targets known before: removed ones must be looked at too (prune).
	r.mu.Lock()
	states := make(map[string]*targetState, len(r.targets))
	for k, st := range r.targets {
		states[k] = st
	}
	r.mu.Unlock()
	if old == nil || old.config == nil || next.config == nil {
		for k := range states {
			keys[k] = true
		}
		return sortedKeys(keys)
	}
	changedSet := map[string]bool{}
	for _, p := range changed {
		changedSet[p] = true
	}
	for _, ref := range next.config.TargetRefs() {
		k := ref.String()
		app, t, _ := next.config.Target(ref.App, ref.Target)
		oldApp, oldT, existed := old.config.Target(ref.App, ref.Target)
		if !existed || !sameTarget(oldApp, oldT, app, t) {
			keys[k] = true
			continue
		}
		if acct := next.config.Accounts[t.Account]; acct != nil && changedSet["accounts/"+t.Account+".yaml"] {
			keys[k] = true
			continue
		}
		st := states[k]
		var deps []string
		if st != nil {
			st.mu.Lock()
			deps = st.deps
			st.mu.Unlock()
		}
		if deps == nil {
			keys[k] = true // never rendered: look
			continue
		}
		for _, p := range changed {
			if p == app.Dir+"/application.yaml" || strings.HasPrefix(p, t.Path+"/") || containsSorted(deps, p) {
				keys[k] = true
				break
			}
		}
	}
	for k := range states {
		ref, err := config.ParseTargetRef(k)
		if err != nil {
			continue
		}
		if _, _, ok := next.config.Target(ref.App, ref.Target); !ok {
			keys[k] = true
		}
	}
	return sortedKeys(keys)
}

// touchesConfig reports whether a change set includes a config file (as
// opposed to manifests only).
func touchesConfig(changed []string) bool {
	for _, p := range changed {
		if strings.HasPrefix(p, "accounts/") || strings.HasPrefix(p, "projects/") ||
			(strings.HasPrefix(p, "applications/") && (strings.Count(p, "/") == 2 || strings.Contains(p, "/pipelines/"))) {
			return true
		}
	}
	return false
}

func sameTarget(a *config.Application, at *config.Target, b *config.Application, bt *config.Target) bool {
	return a.Name == b.Name && at.Account == bt.Account && at.Namespace == bt.Namespace && at.Path == bt.Path &&
		at.Stack == bt.Stack && at.Detail == bt.Detail && at.Sync == bt.Sync
}

// enqueue queues a target; a sync in flight for an older revision is
// cancelled, so a newer revision supersedes a stuck sync.
func (r *Reconciler) enqueue(key, rev string) {
	st := r.state(key)
	st.mu.Lock()
	if st.cancel != nil && rev != "" && st.syncRev != rev {
		st.cancel()
	}
	st.mu.Unlock()
	r.queue.Add(key)
	r.opts.Metrics.queueDepth(r.queue.Len())
}

// Sync asks for a sync of one target now, also when its policy is manual.
func (r *Reconciler) Sync(ref config.TargetRef) error {
	snap := r.snap.Load()
	if snap == nil || snap.config == nil {
		return errors.New("no valid config loaded yet")
	}
	if _, _, ok := snap.config.Target(ref.App, ref.Target); !ok {
		return fmt.Errorf("target %s not found at revision %s", ref, short(snap.rev))
	}
	st := r.state(ref.String())
	st.mu.Lock()
	st.forced = true
	st.mu.Unlock()
	r.queue.Add(ref.String())
	return nil
}

// Resync re-checks every target now. Targets whose desired state did not
// change and that have no drift are skipped without calling the cluster.
func (r *Reconciler) Resync() { r.resyncAll() }

func (r *Reconciler) resyncAll() {
	snap := r.snap.Load()
	if snap == nil || snap.config == nil {
		return
	}
	for _, ref := range snap.config.TargetRefs() {
		r.queue.Add(ref.String())
	}
}

func (r *Reconciler) state(key string) *targetState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.targets[key]
	if !ok {
		app, target, _ := strings.Cut(key, "/")
		st = &targetState{status: TargetStatus{Application: app, Target: target, Phase: PhaseUnknown, Health: Unknown}}
		r.targets[key] = st
	}
	return st
}

func (r *Reconciler) worker(ctx context.Context) {
	for {
		key, quit := r.queue.Get()
		if quit {
			return
		}
		r.opts.Metrics.queueDepth(r.queue.Len())
		err := r.reconcileSafely(ctx, key)
		switch {
		case err == nil:
			r.queue.Forget(key)
		case errors.Is(err, errTerminal):
			r.queue.Forget(key) // waits for a new revision
		case ctx.Err() != nil:
		default:
			r.queue.AddRateLimited(key)
		}
		r.queue.Done(key)
	}
}

// reconcileSafely recovers a panic from third-party code (kustomize, client-go)
// so one bad target cannot take the server down.
func (r *Reconciler) reconcileSafely(ctx context.Context, key string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic while syncing %s: %v\n%s", errTerminal, key, p, debug.Stack())
			r.log.Error("sync panicked", "target", key, "panic", p)
		}
	}()
	return r.reconcile(ctx, key)
}

// errTerminal marks errors a retry cannot fix (config errors, render
// errors): the target waits for a new revision instead of backing off.
var errTerminal = errors.New("terminal")

// cluster returns the connection to an account's cluster, creating it once.
func (r *Reconciler) cluster(ctx context.Context, acct *config.Account) (*Cluster, error) {
	r.mu.Lock()
	cl, ok := r.clusters[acct.Name]
	r.mu.Unlock()
	if ok {
		return cl, nil
	}
	cfg, err := r.opts.Connect(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", acct.Name, err)
	}
	cl, err = NewCluster(acct.Name, cfg, r.opts.FieldManager, r.onClusterEvent)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if existing, ok := r.clusters[acct.Name]; ok {
		cl.Close()
		return existing, nil
	}
	r.clusters[acct.Name] = cl
	return cl, nil
}

func (r *Reconciler) closeClusters() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cl := range r.clusters {
		cl.Close()
	}
}

// onClusterEvent runs for every change to a managed object: it refreshes the
// target's health and, if a managed field drifted, self-heals or reports.
func (r *Reconciler) onClusterEvent(app, target string) {
	key := app + "/" + target
	r.mu.Lock()
	st, ok := r.targets[key]
	r.mu.Unlock()
	if !ok {
		return
	}
	r.queueHealth(key, st)
}

// queueHealth re-evaluates health and drift off the watch goroutine.
func (r *Reconciler) queueHealth(key string, st *targetState) {
	st.mu.Lock()
	desired := st.desired
	account := st.status.Account
	st.mu.Unlock()
	if desired == nil {
		return
	}
	r.mu.Lock()
	cl := r.clusters[account]
	r.mu.Unlock()
	if cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, objs, drift := r.observe(ctx, cl, desired)

	st.mu.Lock()
	if h.Health == Progressing && !st.status.SyncedAt.IsZero() && time.Since(st.status.SyncedAt) > r.opts.HealthTimeout {
		h = ObjectHealth{Health: Degraded, Message: fmt.Sprintf("not healthy %s after the sync: %s", r.opts.HealthTimeout, h.Message)}
	}
	st.status.Health, st.status.HealthMessage = h.Health, h.Message
	st.status.Objects = objs
	st.status.Ingress = ingressOf(objs)
	newDrift := len(drift) > 0 && !equalStrings(drift, st.status.Drift)
	st.status.Drift = drift
	policy := st.status.Policy
	inFlight := st.cancel != nil
	if len(drift) > 0 {
		st.driftSeen = true
	}
	st.mu.Unlock()
	r.opts.Metrics.health(key, h.Health)

	if newDrift && !inFlight {
		r.opts.Metrics.drift(string(policy.Drift))
		r.log.Info("drift detected", "target", key, "fields", strings.Join(drift, ", "), "policy", policy.Drift)
		if policy.Drift == config.DriftSelfHeal && policy.Mode == config.SyncAutomatic {
			r.queue.Add(key)
		}
	}
}

// checkProgressing re-judges targets that are still Progressing, so one
// that never becomes healthy turns Degraded when its health timeout passes
// even if no watch event arrives.
func (r *Reconciler) checkProgressing() {
	r.mu.Lock()
	var waiting []string
	for k, st := range r.targets {
		st.mu.Lock()
		if st.status.Health == Progressing {
			waiting = append(waiting, k)
		}
		st.mu.Unlock()
	}
	r.mu.Unlock()
	for _, k := range waiting {
		r.queueHealth(k, r.state(k))
	}
}

// observe reads every desired object's live state from the watch cache and
// judges health and drift.
func (r *Reconciler) observe(ctx context.Context, cl *Cluster, desired map[string]*unstructured.Unstructured) (ObjectHealth, []ObjectStatus, []string) {
	worst := ObjectHealth{Health: Healthy}
	var objs []ObjectStatus
	var drift []string
	keys := make([]string, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := desired[k]
		ref := RefOf(d)
		live, err := cl.Live(ctx, ref)
		var h ObjectHealth
		if err != nil {
			h = ObjectHealth{Health: Unknown, Message: err.Error()}
		} else {
			h = ComputeHealth(live)
		}
		os := ObjectStatus{Object: ref.String(), Health: h.Health, Message: h.Message}
		if err == nil {
			for _, p := range Drift(d, live) {
				os.Drift = append(os.Drift, p)
				drift = append(drift, ref.String()+": "+p)
			}
			if live != nil && live.GetKind() == "Service" {
				os.Ingress = IngressAddresses(live)
			}
		}
		objs = append(objs, os)
		if Worse(worst.Health, h.Health) != worst.Health {
			worst = ObjectHealth{Health: h.Health, Message: ref.String() + ": " + h.Message}
		}
	}
	return worst, objs, drift
}

func ingressOf(objs []ObjectStatus) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Ingress...)
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func containsSorted(sorted []string, s string) bool {
	i := sort.SearchStrings(sorted, s)
	return i < len(sorted) && sorted[i] == s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
