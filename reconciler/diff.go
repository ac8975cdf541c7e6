package reconciler

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/manifests"
)

// Plan is what syncing a target would do, worked out with server-side dry
// runs: nothing is changed in the cluster.
type Plan struct {
	Target   string       `json:"target"` // app/target
	Revision string       `json:"revision,omitempty"`
	Objects  []ObjectDiff `json:"objects"`
}

// ObjectDiff is what a sync would do to one object, and to which of the
// fields Slipway manages.
type ObjectDiff struct {
	Object string      `json:"object"` // Kind/namespace/name, as ObjectRef.String
	Action Action      `json:"action"`
	Fields []FieldDiff `json:"fields,omitempty"`
}

// FieldDiff is one field that would change: its live value and the value the
// API server would store. A nil value means the field is absent.
type FieldDiff struct {
	Path    string `json:"path"`
	Live    any    `json:"live,omitempty"`
	Desired any    `json:"desired,omitempty"`
}

// Changed reports whether a sync would change anything in the cluster.
// Skipped objects (left Git while prune is off) are left as they are.
func (p *Plan) Changed() bool {
	for _, o := range p.Objects {
		switch o.Action {
		case Created, Configured, Pruned:
			return true
		}
	}
	return false
}

// PlanTarget renders a target at a revision and compares it with the live
// cluster without changing it: every object is server-side applied with
// dryRun=All, and what the server would store is compared with what it
// stores now, on the fields Slipway manages only, so defaults the cluster
// fills in are not reported. Objects that left Git are listed as they would
// be pruned (or skipped, when the target does not prune). Objects come in
// apply order, prunes last.
//
// Live objects are read from the API server, not the watch cache: a plan is
// a one-shot question.
func PlanTarget(ctx context.Context, cl *Cluster, tree fs.FS, rev string, app *config.Application, t *config.Target, acct *config.Account) (*Plan, error) {
	d, err := render(tree, rev, app, t, cl, acct)
	if err != nil {
		return nil, err
	}
	inv, _, err := cl.inventories.load(ctx, t.Namespace, app.Name, t.Name)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Target: app.Name + "/" + t.Name, Revision: rev}
	stamp := manifests.Stamp{Application: app.Name, Target: t.Name, Revision: rev, Stack: t.Stack, Detail: t.Detail}
	desired := map[string]bool{}
	for _, o := range d.objects {
		ref := RefOf(o)
		desired[ref.key()] = true
		live, err := cl.get(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		send := o.DeepCopy()
		stamp.Apply([]*unstructured.Unstructured{send})
		dry, _, err := cl.apply(ctx, send, live, true)
		if err != nil {
			// A new object in a namespace the sync would create first
			// cannot be dry-run yet; it is still a creation.
			if live == nil && apierrors.IsNotFound(err) {
				plan.Objects = append(plan.Objects, ObjectDiff{Object: ref.String(), Action: Created})
				continue
			}
			return nil, err
		}
		if live == nil {
			plan.Objects = append(plan.Objects, ObjectDiff{Object: ref.String(), Action: Created})
			continue
		}
		fields := fieldDiffs(o, live, dry)
		action := Unchanged
		if len(fields) > 0 {
			action = Configured
		}
		plan.Objects = append(plan.Objects, ObjectDiff{Object: ref.String(), Action: action, Fields: fields})
	}

	var gone []ObjectRef
	for _, e := range inv.Entries {
		if !desired[e.key()] {
			gone = append(gone, e.ObjectRef)
		}
	}
	sort.SliceStable(gone, func(i, j int) bool { return pruneRank(gone[i].Kind) < pruneRank(gone[j].Kind) })
	for _, ref := range gone {
		live, err := cl.get(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		if live == nil {
			continue // already gone: nothing to do
		}
		action := Pruned
		if !t.Sync.Prune || !ownedBy(live, app.Name, t.Name) {
			action = Skipped // as prune would: only objects still labelled as the target's are deleted
		}
		plan.Objects = append(plan.Objects, ObjectDiff{Object: ref.String(), Action: action})
	}
	return plan, nil
}

// revisionPath is the annotation that changes with every revision; it is
// not a change worth reporting.
var revisionPath = "metadata.annotations." + manifests.AnnotationRevision

// fieldDiffs lists the managed fields that applying would change: where
// live does not hold what Git sets (Drift), and where the server's dry-run
// result differs from live on anything else, which is fields Slipway set
// before and no longer does (the server removes or re-defaults them). Values
// are read from live and from the dry-run result. It is pure.
func fieldDiffs(desired, live, dry *unstructured.Unstructured) []FieldDiff {
	paths := map[string]bool{}
	for _, p := range Drift(desired, live) {
		paths[p] = true
	}
	for _, p := range changedPaths(live.Object, dry.Object) {
		paths[p] = true
	}
	delete(paths, revisionPath)
	var out []FieldDiff
	for _, p := range outermost(paths) {
		lv, _ := valueAt(live.Object, p)
		dv, _ := valueAt(dry.Object, p)
		if lv == nil && dv == nil {
			continue // Git sets an empty value the server drops
		}
		out = append(out, FieldDiff{Path: p, Live: lv, Desired: dv})
	}
	return out
}

// outermost returns the paths sorted, without those inside another one.
func outermost(set map[string]bool) []string {
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []string
	for _, p := range paths {
		if len(out) > 0 {
			last := out[len(out)-1]
			if rest, ok := strings.CutPrefix(p, last); ok && (rest[0] == '.' || rest[0] == '[') {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// changedPaths compares two states of an object on what a user sets: the
// spec-like top-level fields and metadata labels and annotations; status
// and server bookkeeping (resourceVersion, generation, managedFields) are
// left out. Paths use Drift's syntax.
func changedPaths(live, dry map[string]any) []string {
	var diffs []string
	keys := map[string]bool{}
	for k := range live {
		keys[k] = true
	}
	for k := range dry {
		keys[k] = true
	}
	for k := range keys {
		switch k {
		case "apiVersion", "kind", "status":
		case "metadata":
			lm, _ := live[k].(map[string]any)
			dm, _ := dry[k].(map[string]any)
			for _, f := range []string{"labels", "annotations"} {
				diffs = changed(lm[f], dm[f], "metadata."+f, diffs)
			}
		default:
			diffs = changed(live[k], dry[k], k, diffs)
		}
	}
	return diffs
}

// changed appends the paths under path where a and b differ.
func changed(a, b any, path string, diffs []string) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return append(diffs, path)
		}
		for k, x := range av {
			diffs = changed(x, bv[k], path+"."+k, diffs)
		}
		for k, y := range bv {
			if _, ok := av[k]; !ok {
				diffs = changed(nil, y, path+"."+k, diffs)
			}
		}
		return diffs
	case []any:
		bv, ok := b.([]any)
		if !ok {
			return append(diffs, path)
		}
		ak, aKeyed := byName(av)
		bk, bKeyed := byName(bv)
		if aKeyed && bKeyed && len(ak) == len(av) && len(bk) == len(bv) {
			for name, x := range ak {
				diffs = changed(x, bk[name], fmt.Sprintf("%s[name=%s]", path, name), diffs)
			}
			for name := range bk {
				if _, ok := ak[name]; !ok {
					diffs = append(diffs, fmt.Sprintf("%s[name=%s]", path, name))
				}
			}
			return diffs
		}
		if len(av) != len(bv) {
			return append(diffs, path)
		}
		for i := range av {
			diffs = changed(av[i], bv[i], fmt.Sprintf("%s[%d]", path, i), diffs)
		}
		return diffs
	default:
		if !scalarEqual(a, b) {
			return append(diffs, path)
		}
		return diffs
	}
}

// valueAt reads the value at a path as Drift writes them: map keys joined by
// dots (keys may contain dots themselves, as annotation keys do), list items
// as [i] or, in lists of named objects, [name=x]. It reports false when the
// path does not exist. It is pure.
func valueAt(v any, path string) (any, bool) {
	for path != "" {
		if strings.HasPrefix(path, "[") {
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return nil, false
			}
			sel := path[1:end]
			path = strings.TrimPrefix(path[end+1:], ".")
			list, ok := v.([]any)
			if !ok {
				return nil, false
			}
			if name, ok := strings.CutPrefix(sel, "name="); ok {
				v, ok = itemNamed(list, name)
				if !ok {
					return nil, false
				}
				continue
			}
			i, err := strconv.Atoi(sel)
			if err != nil || i < 0 || i >= len(list) {
				return nil, false
			}
			v = list[i]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		// The longest key that the path starts with, followed by the end,
		// a dot or an index: "slipway.dev/revision" before "slipway".
		key := ""
		for k := range m {
			if len(k) <= len(key) || !strings.HasPrefix(path, k) {
				continue
			}
			if rest := path[len(k):]; rest == "" || rest[0] == '.' || rest[0] == '[' {
				key = k
			}
		}
		if key == "" {
			return nil, false
		}
		v = m[key]
		path = strings.TrimPrefix(path[len(key):], ".")
	}
	return v, true
}

func itemNamed(list []any, name string) (any, bool) {
	for _, item := range list {
		if m, ok := item.(map[string]any); ok && m["name"] == name {
			return m, true
		}
	}
	return nil, false
}

// Plan is PlanTarget through the reconciler's own connection to the
// target's cluster: what syncing ref at the revision in tree would change.
// cfg is the config at that revision (a pull request's head, say).
func (r *Reconciler) Plan(ctx context.Context, tree fs.FS, rev string, cfg *config.Repo, ref config.TargetRef) (*Plan, error) {
	app, t, ok := cfg.Target(ref.App, ref.Target)
	if !ok {
		return nil, fmt.Errorf("target %s not found", ref)
	}
	acct := cfg.Accounts[t.Account]
	if acct == nil {
		return nil, fmt.Errorf("%s: account %s not found", ref, t.Account)
	}
	cl, err := r.cluster(ctx, acct)
	if err != nil {
		return nil, err
	}
	return PlanTarget(ctx, cl, tree, rev, app, t, acct)
}
