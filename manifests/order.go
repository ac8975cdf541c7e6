package manifests

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kindOrder is the apply order of well-known kinds within a group: what
// others depend on (policies, accounts, config, storage, RBAC, Services)
// before the workloads that use it, webhooks last so they cannot block the
// objects they serve. Kinds not listed follow, alphabetically.
var kindOrder = map[string]int{}

func init() {
	for i, k := range []string{
		"PriorityClass", "StorageClass", "IngressClass", "RuntimeClass",
		"PersistentVolume", "ClusterRole", "ClusterRoleBinding",
		"NetworkPolicy", "ResourceQuota", "LimitRange", "PodDisruptionBudget",
		"ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim",
		"Role", "RoleBinding", "Service",
		"DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
		"Deployment", "StatefulSet", "HorizontalPodAutoscaler",
		"Job", "CronJob", "Ingress",
		"APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
	} {
		kindOrder[k] = i
	}
}

// clusterScoped are the built-in cluster-scoped kinds besides
// CustomResourceDefinition and Namespace. Rendered objects carry no
// reliable scope (a namespaced object may leave its namespace to the
// target), so scope comes from this table; custom resources count as
// namespaced.
var clusterScoped = map[string]bool{
	"APIService": true, "CertificateSigningRequest": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "CSIDriver": true, "CSINode": true,
	"FlowSchema": true, "IngressClass": true, "MutatingWebhookConfiguration": true,
	"Node": true, "PersistentVolume": true, "PriorityClass": true,
	"PriorityLevelConfiguration": true, "RuntimeClass": true, "StorageClass": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"ValidatingWebhookConfiguration": true, "VolumeAttachment": true,
}

// applyGroup: CRDs, then Namespaces, then other cluster-scoped objects,
// then the rest, so what an object needs to exist is applied before it.
func applyGroup(o *unstructured.Unstructured) int {
	switch k := o.GetKind(); {
	case k == "CustomResourceDefinition":
		return 0
	case k == "Namespace":
		return 1
	case clusterScoped[k]:
		return 2
	default:
		return 3
	}
}

func kindRank(kind string) int {
	if r, ok := kindOrder[kind]; ok {
		return r
	}
	return len(kindOrder)
}

// SortForApply orders objs in place for applying: CustomResourceDefinitions,
// Namespaces, other cluster-scoped objects, then namespaced ones; within
// each, by kind (see kindOrder, then alphabetically), namespace and name.
// The order depends only on the objects, never on their input order.
func SortForApply(objs []*unstructured.Unstructured) {
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(
			cmp.Compare(applyGroup(a), applyGroup(b)),
			cmp.Compare(kindRank(a.GetKind()), kindRank(b.GetKind())),
			cmp.Compare(a.GetKind(), b.GetKind()),
			cmp.Compare(a.GetNamespace(), b.GetNamespace()),
			cmp.Compare(a.GetName(), b.GetName()),
			cmp.Compare(a.GetAPIVersion(), b.GetAPIVersion()),
		)
	})
}
