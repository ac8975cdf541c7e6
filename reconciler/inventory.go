package reconciler

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/slipwaycd/slipway/manifests"
)

// ObjectRef names one object of a target.
type ObjectRef struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// RefOf returns the reference of an object.
func RefOf(u *unstructured.Unstructured) ObjectRef {
	gvk := u.GroupVersionKind()
	return ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// String is Kind/namespace/name, or Kind/name for cluster-scoped objects, as
// errors and change sets print it.
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// key identifies an object regardless of its API version.
func (r ObjectRef) key() string {
	return r.Group + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

// InventoryEntry is one object Slipway applied, with the hash of what it applied.
type InventoryEntry struct {
	ObjectRef
	Hash string `json:"hash"`
}

// Inventory is what Slipway applied for one target. It is kept in the target's
// cluster (a ConfigMap in the target namespace), so it survives restarts and
// prune never depends on memory.
type Inventory struct {
	Revision string           `json:"revision"`
	Hash     string           `json:"hash"`
	Entries  []InventoryEntry `json:"entries"`
}

func (inv *Inventory) sort() {
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].key() < inv.Entries[j].key() })
}

func (inv *Inventory) index() map[string]InventoryEntry {
	m := make(map[string]InventoryEntry, len(inv.Entries))
	for _, e := range inv.Entries {
		m[e.key()] = e
	}
	return m
}

const (
	inventoryLabel   = "slipway.dev/inventory"
	inventoryDataKey = "inventory.json"
)

// inventoryName is the ConfigMap holding a target's inventory.
func inventoryName(app, target string) string {
	return strings.ToLower("slipway-inventory." + app + "." + target)
}

// inventoryStore reads and writes inventories in a cluster.
type inventoryStore struct {
	client       kubernetes.Interface
	fieldManager string
}

func (s *inventoryStore) load(ctx context.Context, ns, app, target string) (*Inventory, bool, error) {
	cm, err := s.client.CoreV1().ConfigMaps(ns).Get(ctx, inventoryName(app, target), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &Inventory{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading inventory ConfigMap/%s/%s: %w", ns, inventoryName(app, target), err)
	}
	inv := &Inventory{}
	if err := json.Unmarshal([]byte(cm.Data[inventoryDataKey]), inv); err != nil {
		return nil, false, fmt.Errorf("decoding inventory ConfigMap/%s/%s: %w", ns, cm.Name, err)
	}
	return inv, true, nil
}

func (s *inventoryStore) save(ctx context.Context, ns, app, target string, inv *Inventory) error {
	inv.sort()
	data, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      inventoryName(app, target),
			Namespace: ns,
			Labels: map[string]string{
				inventoryLabel:             "true",
				manifests.LabelApplication: app,
				manifests.LabelTarget:      target,
			},
		},
		Data: map[string]string{inventoryDataKey: string(data)},
	}
	body, err := json.Marshal(cm)
	if err != nil {
		return err
	}
	force := true
	_, err = s.client.CoreV1().ConfigMaps(ns).Patch(ctx, cm.Name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: s.fieldManager, Force: &force})
	if err != nil {
		return fmt.Errorf("writing inventory ConfigMap/%s/%s: %w", ns, cm.Name, err)
	}
	return nil
}
