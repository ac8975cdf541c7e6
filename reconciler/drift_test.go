package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDrift(t *testing.T) {
	desired := `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: reg/web:v1
        resources: {limits: {cpu: 500m, memory: 1Gi}}
`
	cases := map[string]struct {
		live string
		want []string
	}{
		"equal with defaults and status added": {`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  uid: abc
  labels: {app: web, extra: x}
  annotations: {deployment.kubernetes.io/revision: "1"}
spec:
  replicas: 2
  strategy: {type: RollingUpdate}
  template:
    spec:
      restartPolicy: Always
      containers:
      - name: web
        image: reg/web:v1
        imagePullPolicy: IfNotPresent
        resources: {limits: {cpu: "0.5", memory: 1Gi}}
status: {replicas: 2}
`, nil},
		"scaled by hand": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - {name: web, image: reg/web:v1, resources: {limits: {cpu: 500m, memory: 1Gi}}}
`, []string{"spec.replicas"}},
		"image and label changed": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: other}}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - {name: web, image: reg/web:hacked, resources: {limits: {cpu: 500m, memory: 1Gi}}}
`, []string{"metadata.labels.app", "spec.template.spec.containers[name=web].image"}},
		"container renamed": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - {name: sidecar, image: reg/web:v1}
`, []string{"spec.template.spec.containers[name=web]"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Drift(obj(t, desired), obj(t, tc.live))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
		})
	}
	if got := Drift(obj(t, desired), nil); len(got) != 1 {
		t.Errorf("drift against a deleted object = %v, want one entry", got)
	}
}
