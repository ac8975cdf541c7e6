package secrets

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KubeSecret reads secrets from the data keys of one Kubernetes Secret,
// Namespace/Name, through the API — for a server running in a cluster that
// keeps its credentials there without mounting them. The Secret is read on
// every Get, so a rotated value is picked up at once.
//
// A missing key is ErrNotFound; a missing Secret, or one Slipway may not
// read, is an error, because it means the store itself is misconfigured.
type KubeSecret struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
}

// Get implements Store.
func (k KubeSecret) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if k.Client == nil || k.Namespace == "" || k.Name == "" {
		return nil, fmt.Errorf("secret %q: kubernetes secret store %s is not fully set", name, k)
	}
	sec, err := k.Client.CoreV1().Secrets(k.Namespace).Get(ctx, k.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("secret %q: read Secret %s/%s: %w", name, k.Namespace, k.Name, err)
	}
	v, ok := sec.Data[name]
	if !ok {
		return nil, notFound(name)
	}
	return v, nil
}

// String returns the store in Parse's syntax.
func (k KubeSecret) String() string { return "kube:" + k.Namespace + "/" + k.Name }
