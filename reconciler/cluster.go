package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"github.com/slipwaycd/slipway/manifests"
)

// Cluster is Slipway's connection to one account's cluster: clients, a REST
// mapper, and a watch cache of the objects Slipway manages there, which feeds
// health and drift.
type Cluster struct {
	Account string

	kube         kubernetes.Interface
	dyn          dynamic.Interface
	mapper       meta.ResettableRESTMapper
	fieldManager string
	inventories  *inventoryStore

	onEvent func(app, target string)

	namespaces sync.Map // namespaces known to exist

	mu        sync.Mutex
	factory   dynamicinformer.DynamicSharedInformerFactory
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	stop      chan struct{}
}

// NewCluster connects to a cluster. onEvent is called with the application and
// target labels of every managed object that changes or disappears.
func NewCluster(account string, cfg *rest.Config, fieldManager string, onEvent func(app, target string)) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		// client-go's default of 5/s would make a thousand targets take minutes;
		// the API server's own flow control protects it.
		cfg.QPS, cfg.Burst = 500, 1000
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", account, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", account, err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", account, err)
	}
	c := &Cluster{
		Account:      account,
		kube:         kube,
		dyn:          dyn,
		mapper:       restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		fieldManager: fieldManager,
		inventories:  &inventoryStore{client: kube, fieldManager: fieldManager},
		onEvent:      onEvent,
		informers:    map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		stop:         make(chan struct{}),
	}
	c.factory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.LabelSelector = manifests.LabelManagedBy + "=" + manifests.ManagedBy
	})
	return c, nil
}

// Close stops the cluster's watches.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}

// Kube returns the typed client.
func (c *Cluster) Kube() kubernetes.Interface { return c.kube }

// mapping finds the resource of a kind, refreshing discovery once when the
// kind is new (a CRD just applied).
func (c *Cluster) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (c *Cluster) resource(m *meta.RESTMapping, ns string) dynamic.ResourceInterface {
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(ns)
	}
	return c.dyn.Resource(m.Resource)
}

// watch makes sure managed objects of a resource are in the watch cache.
func (c *Cluster) watch(ctx context.Context, gvr schema.GroupVersionResource) (cache.SharedIndexInformer, error) {
	c.mu.Lock()
	inf, ok := c.informers[gvr]
	if !ok {
		inf = c.factory.ForResource(gvr).Informer()
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    c.notify,
			UpdateFunc: func(_, obj any) { c.notify(obj) },
			DeleteFunc: c.notify,
		})
		c.informers[gvr] = inf
		c.factory.Start(c.stop)
	}
	c.mu.Unlock()
	if !inf.HasSynced() {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return nil, fmt.Errorf("watching %s: cache did not sync", gvr)
		}
	}
	return inf, nil
}

func (c *Cluster) notify(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || c.onEvent == nil {
		return
	}
	l := u.GetLabels()
	if app, target := l[manifests.LabelApplication], l[manifests.LabelTarget]; app != "" && target != "" {
		c.onEvent(app, target)
	}
}

// Live returns the cached live state of a managed object, or nil.
func (c *Cluster) Live(ctx context.Context, ref ObjectRef) (*unstructured.Unstructured, error) {
	m, err := c.mapping(schema.GroupVersionKind{Group: ref.Group, Version: ref.Version, Kind: ref.Kind})
	if err != nil {
		return nil, err
	}
	inf, err := c.watch(ctx, m.Resource)
	if err != nil {
		return nil, err
	}
	key := ref.Name
	if ref.Namespace != "" {
		key = ref.Namespace + "/" + ref.Name
	}
	obj, exists, err := inf.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, err
	}
	return obj.(*unstructured.Unstructured), nil
}

// Action is what applying or pruning did to one object.
type Action string

// Actions in a change set.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Skipped    Action = "skipped"
)

// apply server-side-applies one object with Slipway's field manager, forcing
// ownership of the fields it sets (Git is the only desired state).
func (c *Cluster) apply(ctx context.Context, obj *unstructured.Unstructured, before *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, Action, error) {
	m, err := c.mapping(obj.GroupVersionKind())
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", RefOf(obj), err)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", RefOf(obj), err)
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: c.fieldManager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := c.resource(m, obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
	if err != nil {
		return nil, "", fmt.Errorf("%s apply failed: %w", RefOf(obj), err)
	}
	switch {
	case before == nil:
		return out, Created, nil
	case before.GetResourceVersion() == out.GetResourceVersion():
		return out, Unchanged, nil
	default:
		return out, Configured, nil
	}
}

// get reads an object from the API server, nil when it does not exist.
func (c *Cluster) get(ctx context.Context, ref ObjectRef) (*unstructured.Unstructured, error) {
	m, err := c.mapping(schema.GroupVersionKind{Group: ref.Group, Version: ref.Version, Kind: ref.Kind})
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := c.resource(m, ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

// prune deletes an object Slipway applied before, but only if it still
// carries the target's labels: objects others created are never touched.
func (c *Cluster) prune(ctx context.Context, ref ObjectRef, app, target string) (Action, error) {
	live, err := c.get(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%s prune failed: %w", ref, err)
	}
	if live == nil {
		return Pruned, nil
	}
	if !ownedBy(live, app, target) {
		return Skipped, nil
	}
	m, err := c.mapping(live.GroupVersionKind())
	if err != nil {
		return "", fmt.Errorf("%s prune failed: %w", ref, err)
	}
	policy := metav1.DeletePropagationBackground
	uid := live.GetUID()
	err = c.resource(m, ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%s prune failed: %w", ref, err)
	}
	return Pruned, nil
}

// ownedBy reports whether a live object still carries the labels Slipway
// stamps for this target: only such objects are ever pruned.
func ownedBy(live *unstructured.Unstructured, app, target string) bool {
	l := live.GetLabels()
	return l[manifests.LabelManagedBy] == manifests.ManagedBy && l[manifests.LabelApplication] == app && l[manifests.LabelTarget] == target
}

// namespaced reports whether a kind lives in namespaces.
func (c *Cluster) namespaced(gvk schema.GroupVersionKind) (bool, error) {
	m, err := c.mapping(gvk)
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}
