package manifests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Labels and annotations Slipway puts on every object it applies.
const (
	// LabelManagedBy is set to ManagedBy on every object Slipway applies.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "slipway"
	// LabelApplication and LabelTarget select a target's objects (and its
	// pods) in the cluster; they are what the inventory and the console
	// query by.
	LabelApplication = "slipway.dev/application"
	LabelTarget      = "slipway.dev/target"
	// AnnotationRevision records the config repo revision an object was
	// last applied from. It is an annotation, not a label, and is kept off
	// pod templates, so a new revision alone never restarts pods.
	AnnotationRevision = "slipway.dev/revision"
	// The moniker annotations name an object's place in the console's
	// application / cluster (app-stack-detail) / server group model, as
	// Spinnaker's Kubernetes provider does.
	AnnotationMonikerApplication = "moniker.slipway.dev/application"
	AnnotationMonikerCluster     = "moniker.slipway.dev/cluster"
	AnnotationMonikerStack       = "moniker.slipway.dev/stack"
	AnnotationMonikerDetail      = "moniker.slipway.dev/detail"
)

// Stamp is what Slipway records on the objects of one target before
// applying them.
type Stamp struct {
	Application string // application name
	Target      string // deploy target name, unique within the application
	Revision    string // config repo commit; "" leaves the annotation off
	Stack       string // optional moniker stack, e.g. "prod"
	Detail      string // optional moniker detail, e.g. "canary"
}

// Cluster returns the moniker cluster name: app, app-stack,
// app-stack-detail, or app--detail when only detail is set (Spinnaker's
// frigga naming).
func (s Stamp) Cluster() string {
	c := s.Application
	switch {
	case s.Detail != "":
		c += "-" + s.Stack + "-" + s.Detail
	case s.Stack != "":
		c += "-" + s.Stack
	}
	return c
}

// podTemplatePaths is where each workload kind keeps its pod template.
var podTemplatePaths = map[string][]string{
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// Apply stamps objs in place: the managed-by, application and target labels
// and the revision and moniker annotations on every object, and the
// application and target labels on workload pod templates (so pods can be
// found by them). Selectors are never touched: they are immutable on most
// workloads, and matching pods by Slipway's labels is not Slipway's call.
func (s Stamp) Apply(objs []*unstructured.Unstructured) {
	for _, o := range objs {
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelManagedBy] = ManagedBy
		labels[LabelApplication] = s.Application
		labels[LabelTarget] = s.Target
		o.SetLabels(labels)

		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		if s.Revision != "" {
			ann[AnnotationRevision] = s.Revision
		}
		ann[AnnotationMonikerApplication] = s.Application
		ann[AnnotationMonikerCluster] = s.Cluster()
		if s.Stack != "" {
			ann[AnnotationMonikerStack] = s.Stack
		}
		if s.Detail != "" {
			ann[AnnotationMonikerDetail] = s.Detail
		}
		o.SetAnnotations(ann)

		if p, ok := podTemplatePaths[o.GetKind()]; ok {
			s.stampPodTemplate(o.Object, p)
		}
	}
}

func (s Stamp) stampPodTemplate(obj map[string]any, templatePath []string) {
	tmpl := obj
	for _, f := range templatePath {
		next, ok := tmpl[f].(map[string]any)
		if !ok {
			return // no pod template: leave an invalid object as it is
		}
		tmpl = next
	}
	meta, ok := tmpl["metadata"].(map[string]any)
	if !ok {
		meta = map[string]any{}
		tmpl["metadata"] = meta
	}
	labels, ok := meta["labels"].(map[string]any)
	if !ok {
		labels = map[string]any{}
		meta["labels"] = labels
	}
	labels[LabelApplication] = s.Application
	labels[LabelTarget] = s.Target
}

// Hash returns a sha256 hex digest of objs' content that does not depend on
// their order nor on the revision annotation, so a target whose rendered
// objects did not change between two commits can be skipped.
func Hash(objs []*unstructured.Unstructured) string {
	sums := make([][sha256.Size]byte, 0, len(objs))
	for _, o := range objs {
		obj := o.Object
		if _, ok := o.GetAnnotations()[AnnotationRevision]; ok {
			c := o.DeepCopy()
			ann := c.GetAnnotations()
			delete(ann, AnnotationRevision)
			if len(ann) == 0 {
				unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
			} else {
				c.SetAnnotations(ann)
			}
			obj = c.Object
		}
		data, err := json.Marshal(obj) // map keys sorted: canonical
		if err != nil {
			// Unstructured content is JSON by construction; hash what
			// we can rather than fail the caller.
			data = []byte(err.Error())
		}
		sums = append(sums, sha256.Sum256(data))
	}
	slices.SortFunc(sums, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
