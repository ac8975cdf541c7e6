package reconciler

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/manifests"
)

// Change is one entry of a change set: what a sync did to one object.
type Change struct {
	Object string `json:"object"`
	Action Action `json:"action"`
}

// desiredState is a target rendered at a revision: what Git says.
type desiredState struct {
	objects []*unstructured.Unstructured
	hash    string
	deps    []string // files the render read, for mapping Git changes to targets
}

// render reads a target's manifests at a revision, stamps them and checks
// that they stay inside what the account allows.
func render(tree fs.FS, rev string, app *config.Application, t *config.Target, cl *Cluster, acct *config.Account) (*desiredState, error) {
	rec := &recordingFS{FS: tree}
	objs, err := manifests.Render(rec, t.Path)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		ns, err := cl.namespaced(o.GroupVersionKind())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", RefOf(o), err)
		}
		switch {
		case !ns:
			o.SetNamespace("")
		case o.GetNamespace() == "":
			o.SetNamespace(t.Namespace)
		}
		if o.GetNamespace() != "" && len(acct.Namespaces) > 0 && !contains(acct.Namespaces, o.GetNamespace()) {
			return nil, fmt.Errorf("%s: namespace %q is not allowed by account %s", RefOf(o), o.GetNamespace(), acct.Name)
		}
	}
	stamp := manifests.Stamp{Application: app.Name, Target: t.Name, Stack: t.Stack, Detail: t.Detail}
	stamp.Apply(objs)
	hash := manifests.Hash(objs)
	manifests.SortForApply(objs)
	return &desiredState{objects: objs, hash: hash, deps: rec.paths()}, nil
}

// syncResult is what one sync did.
type syncResult struct {
	changes  []Change
	inv      *Inventory
	desired  map[string]*unstructured.Unstructured
	objRefs  []ObjectRef
	duration time.Duration
}

// applyTarget makes the cluster match desired: namespaces and CRDs first,
// then the rest in order; unchanged objects are not re-sent; what left Git is
// pruned when the policy says so. The inventory is written before applying
// (old ∪ new, so a crash mid-sync never loses track of an object) and after.
func applyTarget(ctx context.Context, cl *Cluster, app *config.Application, t *config.Target, rev string, d *desiredState, prev *Inventory) (*syncResult, error) {
	start := time.Now()
	res := &syncResult{desired: map[string]*unstructured.Unstructured{}}
	if err := ensureNamespace(ctx, cl, t.Namespace); err != nil {
		return nil, err
	}

	prevIdx := prev.index()
	next := &Inventory{Revision: rev, Hash: d.hash}
	for _, o := range d.objects {
		ref := RefOf(o)
		next.Entries = append(next.Entries, InventoryEntry{ObjectRef: ref, Hash: manifests.Hash([]*unstructured.Unstructured{o})})
		res.desired[ref.key()] = o
		res.objRefs = append(res.objRefs, ref)
	}
	nextIdx := next.index()

	// Record the union first: every object that may exist after this sync is tracked.
	pending := &Inventory{Revision: prev.Revision, Hash: prev.Hash, Entries: append([]InventoryEntry(nil), prev.Entries...)}
	for _, e := range next.Entries {
		if _, ok := prevIdx[e.key()]; !ok {
			pending.Entries = append(pending.Entries, e)
		}
	}
	// On a target's first sync there is nothing earlier to lose track of: if
	// the process dies before the final write, the next sync re-applies the
	// same objects from Git and records them then.
	if len(prev.Entries) > 0 && len(pending.Entries) != len(prev.Entries) {
		if err := cl.inventories.save(ctx, t.Namespace, app.Name, t.Name, pending); err != nil {
			return nil, err
		}
	}

	stamp := manifests.Stamp{Application: app.Name, Target: t.Name, Revision: rev, Stack: t.Stack, Detail: t.Detail}
	for stage, objs := range stages(d.objects) {
		for _, o := range objs {
			ref := RefOf(o)
			live, err := cl.Live(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ref, err)
			}
			entry := nextIdx[ref.key()]
			if live != nil && prevIdx[ref.key()].Hash == entry.Hash && len(Drift(o, live)) == 0 {
				res.changes = append(res.changes, Change{Object: ref.String(), Action: Unchanged})
				continue
			}
			send := o.DeepCopy()
			stamp.Apply([]*unstructured.Unstructured{send})
			_, action, err := cl.apply(ctx, send, live, false)
			if err != nil {
				return nil, err
			}
			res.changes = append(res.changes, Change{Object: ref.String(), Action: action})
		}
		if stage == 0 {
			if err := waitEstablished(ctx, cl, objs); err != nil {
				return nil, err
			}
		}
	}

	// Prune what left Git: workloads first, then CRDs, then namespaces.
	var gone []InventoryEntry
	for _, e := range prev.Entries {
		if _, ok := nextIdx[e.key()]; !ok {
			gone = append(gone, e)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return pruneRank(gone[i].Kind) < pruneRank(gone[j].Kind) })
	for _, e := range gone {
		if !t.Sync.Prune {
			res.changes = append(res.changes, Change{Object: e.ObjectRef.String(), Action: Skipped})
			next.Entries = append(next.Entries, e) // still ours; prune may be turned on later
			continue
		}
		action, err := cl.prune(ctx, e.ObjectRef, app.Name, t.Name)
		if err != nil {
			return nil, err
		}
		res.changes = append(res.changes, Change{Object: e.ObjectRef.String(), Action: action})
	}
	if err := cl.inventories.save(ctx, t.Namespace, app.Name, t.Name, next); err != nil {
		return nil, err
	}
	res.inv = next
	res.duration = time.Since(start)
	return res, nil
}

// stages splits sorted objects into CRDs and Namespaces, then the rest.
func stages(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	var first, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || (o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "") {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	return [][]*unstructured.Unstructured{first, rest}
}

func pruneRank(kind string) int {
	switch kind {
	case "Namespace":
		return 2
	case "CustomResourceDefinition":
		return 1
	}
	return 0
}

// waitEstablished waits until applied CRDs serve their kinds.
func waitEstablished(ctx context.Context, cl *Cluster, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		deadline := time.Now().Add(time.Minute)
		for {
			live, err := cl.get(ctx, RefOf(o))
			if err != nil {
				return err
			}
			if live != nil && crdEstablished(live) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not established after 1m", RefOf(o))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		cl.mapper.Reset()
	}
	return nil
}

func crdEstablished(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// ensureNamespace creates the target namespace when it does not exist. It is
// not labelled as managed, so it is never pruned.
func ensureNamespace(ctx context.Context, cl *Cluster, ns string) error {
	if _, ok := cl.namespaces.Load(ns); ok {
		return nil
	}
	_, err := cl.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil {
		cl.namespaces.Store(ns, true)
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", ns, err)
	}
	_, err = cl.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	cl.namespaces.Store(ns, true)
	return nil
}

// recordingFS remembers which files a render opened.
type recordingFS struct {
	fs.FS
	mu   sync.Mutex
	seen map[string]bool
}

func (r *recordingFS) note(name string) {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[name] = true
	r.mu.Unlock()
}

func (r *recordingFS) Open(name string) (fs.File, error) {
	r.note(name)
	return r.FS.Open(name)
}

func (r *recordingFS) ReadFile(name string) ([]byte, error) {
	r.note(name)
	return fs.ReadFile(r.FS, name)
}

func (r *recordingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	r.note(name)
	return fs.ReadDir(r.FS, name)
}

func (r *recordingFS) Stat(name string) (fs.FileInfo, error) {
	r.note(name)
	return fs.Stat(r.FS, name)
}

func (r *recordingFS) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.seen))
	for p := range r.seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
