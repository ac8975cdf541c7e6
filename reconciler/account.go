package reconciler

import (
	"context"
	"fmt"
	"sort"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipwaycd/slipway/config"
)

// AccountStatus is the result of validating an account, like the console's
// "wait for the account to be verified": is the cluster reachable, which
// version is it, and may the credentials do what Slipway needs.
type AccountStatus struct {
	Name          string       `json:"name"`
	Environment   string       `json:"environment,omitempty"`
	Verified      bool         `json:"verified"`
	Reachable     bool         `json:"reachable"`
	ServerVersion string       `json:"serverVersion,omitempty"`
	Error         string       `json:"error,omitempty"`
	Denied        []Permission `json:"denied,omitempty"`
	Checked       int          `json:"checked"`
	CheckedAt     time.Time    `json:"checkedAt"`
}

// Permission is one verb on one resource in one namespace ("" = cluster-wide).
type Permission struct {
	Namespace string `json:"namespace,omitempty"`
	Group     string `json:"group,omitempty"`
	Resource  string `json:"resource"`
	Verb      string `json:"verb"`
}

// managedResources are the kinds Slipway applies, watches and prunes.
var managedResources = []struct{ group, resource string }{
	{"apps", "deployments"}, {"apps", "statefulsets"}, {"apps", "daemonsets"}, {"apps", "replicasets"},
	{"", "services"}, {"", "configmaps"}, {"", "secrets"}, {"", "serviceaccounts"}, {"", "pods"},
	{"batch", "jobs"}, {"networking.k8s.io", "ingresses"}, {"networking.k8s.io", "networkpolicies"},
}

var managedVerbs = []string{"get", "list", "watch", "create", "patch", "delete"}

// ValidateAccount checks an account's cluster with the account's own
// credentials, using SelfSubjectAccessReviews.
func ValidateAccount(ctx context.Context, kube kubernetes.Interface, acct *config.Account) AccountStatus {
	st := AccountStatus{Name: acct.Name, Environment: acct.Environment, CheckedAt: time.Now().UTC()}
	v, err := kube.Discovery().ServerVersion()
	if err != nil {
		st.Error = fmt.Sprintf("cluster not reachable: %v", err)
		return st
	}
	st.Reachable, st.ServerVersion = true, v.GitVersion
	namespaces := acct.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	for _, ns := range namespaces {
		for _, res := range managedResources {
			for _, verb := range managedVerbs {
				review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
					ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: res.group, Resource: res.resource, Verb: verb},
				}}
				out, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
				st.Checked++
				if err != nil {
					st.Error = fmt.Sprintf("access review failed: %v", err)
					return st
				}
				if !out.Status.Allowed {
					st.Denied = append(st.Denied, Permission{Namespace: ns, Group: res.group, Resource: res.resource, Verb: verb})
				}
			}
		}
	}
	st.Verified = len(st.Denied) == 0
	if !st.Verified {
		st.Error = fmt.Sprintf("%d of %d permissions denied", len(st.Denied), st.Checked)
	}
	return st
}

// Accounts validates every account of the current revision.
func (r *Reconciler) Accounts(ctx context.Context) ([]AccountStatus, error) {
	snap := r.snap.Load()
	if snap == nil || snap.config == nil {
		return nil, fmt.Errorf("no valid config loaded yet")
	}
	names := make([]string, 0, len(snap.config.Accounts))
	for n := range snap.config.Accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]AccountStatus, 0, len(names))
	for _, n := range names {
		acct := snap.config.Accounts[n]
		cl, err := r.cluster(ctx, acct)
		if err != nil {
			out = append(out, AccountStatus{Name: n, Environment: acct.Environment, Error: err.Error(), CheckedAt: time.Now().UTC()})
			continue
		}
		out = append(out, ValidateAccount(ctx, cl.kube, acct))
	}
	return out, nil
}
