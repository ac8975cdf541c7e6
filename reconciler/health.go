package reconciler

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Health is the state of an object or a target, in the words people use.
type Health string

// Health values, worst last. A target's health is its worst object's.
const (
	Healthy     Health = "Healthy"
	Progressing Health = "Progressing"
	Unknown     Health = "Unknown"
	Degraded    Health = "Degraded"
	Missing     Health = "Missing"
)

var healthRank = map[Health]int{Healthy: 0, Progressing: 1, Unknown: 2, Degraded: 3, Missing: 4}

// Worse returns the worse of two health values.
func Worse(a, b Health) Health {
	if healthRank[b] > healthRank[a] {
		return b
	}
	return a
}

// ObjectHealth is the health of one object with the reason for it.
type ObjectHealth struct {
	Health  Health `json:"health"`
	Message string `json:"message,omitempty"`
}

// healthRules adds to kstatus what it does not judge: per kind, checked
// before kstatus, returning ok=false to defer to it.
var healthRules = map[string]func(u *unstructured.Unstructured) (ObjectHealth, bool){
	"Service": serviceHealth,
}

// ComputeHealth judges one live object. It is pure: it never fetches.
func ComputeHealth(u *unstructured.Unstructured) ObjectHealth {
	if u == nil {
		return ObjectHealth{Health: Missing, Message: "not found in the cluster"}
	}
	if rule, ok := healthRules[u.GetKind()]; ok {
		if h, ok := rule(u); ok {
			return h
		}
	}
	res, err := status.Compute(u)
	if err != nil {
		return ObjectHealth{Health: Unknown, Message: err.Error()}
	}
	switch res.Status {
	case status.CurrentStatus:
		return ObjectHealth{Health: Healthy, Message: res.Message}
	case status.InProgressStatus, status.TerminatingStatus:
		return ObjectHealth{Health: Progressing, Message: res.Message}
	case status.FailedStatus:
		return ObjectHealth{Health: Degraded, Message: res.Message}
	case status.NotFoundStatus:
		return ObjectHealth{Health: Missing, Message: res.Message}
	default:
		return ObjectHealth{Health: Unknown, Message: res.Message}
	}
}

// serviceHealth: a LoadBalancer Service is not ready until the load
// balancer has given it an ingress address (kstatus only checks the ClusterIP).
func serviceHealth(u *unstructured.Unstructured) (ObjectHealth, bool) {
	typ, _, _ := unstructured.NestedString(u.Object, "spec", "type")
	if typ != "LoadBalancer" {
		return ObjectHealth{}, false
	}
	addrs := IngressAddresses(u)
	if len(addrs) == 0 {
		return ObjectHealth{Health: Progressing, Message: "waiting for a load balancer ingress address"}, true
	}
	return ObjectHealth{Health: Healthy, Message: fmt.Sprintf("load balancer ingress %s", strings.Join(addrs, ", "))}, true
}

// IngressAddresses lists a Service's load balancer IPs or host names.
func IngressAddresses(u *unstructured.Unstructured) []string {
	ingress, _, _ := unstructured.NestedSlice(u.Object, "status", "loadBalancer", "ingress")
	var out []string
	for _, in := range ingress {
		m, ok := in.(map[string]any)
		if !ok {
			continue
		}
		if ip, _ := m["ip"].(string); ip != "" {
			out = append(out, ip)
		} else if h, _ := m["hostname"].(string); h != "" {
			out = append(out, h)
		}
	}
	return out
}
