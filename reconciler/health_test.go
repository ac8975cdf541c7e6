package reconciler

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil { // numbers become int64, as from the API server
		t.Fatal(err)
	}
	return u
}

func TestComputeHealth(t *testing.T) {
	cases := map[string]struct {
		yaml string
		want Health
	}{
		"deployment rolled out": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 2}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions:
  - {type: Available, status: "True"}
  - {type: Progressing, status: "True", reason: NewReplicaSetAvailable}
`, Healthy},
		"deployment rolling": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 2}
status:
  observedGeneration: 3
  replicas: 3
  updatedReplicas: 1
  readyReplicas: 2
  availableReplicas: 2
`, Progressing},
		"deployment progress deadline exceeded": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 1}
status:
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  conditions:
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded}
`, Degraded},
		"load balancer without ingress": {`
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, clusterIP: 10.0.0.9}
`, Progressing},
		"load balancer with ingress": {`
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, clusterIP: 10.0.0.9}
status: {loadBalancer: {ingress: [{ip: 127.0.0.2}]}}
`, Healthy},
		"cluster IP service": {`
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: ClusterIP, clusterIP: 10.0.0.9}
`, Healthy},
		"job complete": {`
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1, parallelism: 1}
status:
  succeeded: 1
  conditions:
  - {type: Complete, status: "True"}
`, Healthy},
		"job failed": {`
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 1}
status:
  failed: 1
  conditions:
  - {type: Failed, status: "True"}
`, Degraded},
		"config map": {`
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
`, Healthy},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := ComputeHealth(obj(t, tc.yaml))
			if got.Health != tc.want {
				t.Errorf("health = %s (%s), want %s", got.Health, got.Message, tc.want)
			}
		})
	}
	if got := ComputeHealth(nil); got.Health != Missing {
		t.Errorf("health of nil = %s, want Missing", got.Health)
	}
}

func TestWorse(t *testing.T) {
	if Worse(Healthy, Progressing) != Progressing || Worse(Degraded, Progressing) != Degraded || Worse(Healthy, Healthy) != Healthy {
		t.Error("Worse does not order Healthy < Progressing < Degraded")
	}
}
