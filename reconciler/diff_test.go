package reconciler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValueAt(t *testing.T) {
	doc := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
  annotations: {slipway.dev/revision: abc, slipway.dev: short}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: reg/web:v1
        ports: [{containerPort: 8080}]
      - name: sidecar
        image: reg/side:v1
  args: [a, b, c]
`).Object
	cases := map[string]struct {
		path   string
		want   any
		wantOK bool
	}{
		"top-level map":         {"spec.replicas", int64(3), true},
		"label":                 {"metadata.labels.app", "web", true},
		"key with dots":         {"metadata.annotations.slipway.dev/revision", "abc", true},
		"shorter key with dots": {"metadata.annotations.slipway.dev", "short", true},
		"named item field":      {"spec.template.spec.containers[name=web].image", "reg/web:v1", true},
		"named item":            {"spec.template.spec.containers[name=sidecar]", map[string]any{"name": "sidecar", "image": "reg/side:v1"}, true},
		"index":                 {"spec.args[2]", "c", true},
		"index then field":      {"spec.template.spec.containers[0].ports[0].containerPort", int64(8080), true},
		"whole list":            {"spec.args", []any{"a", "b", "c"}, true},
		"empty path":            {"kind", "Deployment", true},
		"missing key":           {"spec.paused", nil, false},
		"missing name":          {"spec.template.spec.containers[name=db].image", nil, false},
		"index out of range":    {"spec.args[3]", nil, false},
		"negative index":        {"spec.args[-1]", nil, false},
		"bad index":             {"spec.args[x]", nil, false},
		"unclosed bracket":      {"spec.args[1", nil, false},
		"index into a map":      {"spec[0]", nil, false},
		"field of a scalar":     {"spec.replicas.value", nil, false},
		"key prefix only":       {"spec.replica", nil, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := valueAt(doc, tc.path)
			if ok != tc.wantOK {
				t.Fatalf("valueAt(%q) ok = %v, want %v", tc.path, ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("valueAt(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestFieldDiffs(t *testing.T) {
	// desired is what Git says (stamped without the revision); live and the
	// dry-run result carry the server's defaults and bookkeeping.
	desired := `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 5
  template:
    spec:
      containers:
      - {name: web, image: reg/web:v2}
`
	live := `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  resourceVersion: "10"
  generation: 1
  labels: {app: web, old: x}
  annotations: {slipway.dev/revision: aaa, deployment.kubernetes.io/revision: "1"}
spec:
  replicas: 3
  strategy: {type: RollingUpdate}
  template:
    spec:
      restartPolicy: Always
      containers:
      - {name: web, image: reg/web:v1, imagePullPolicy: IfNotPresent}
status: {replicas: 3}
`
	cases := map[string]struct {
		desired, dry string
		want         []FieldDiff
	}{
		"replicas and image, defaults ignored": {desired, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  resourceVersion: "10"
  generation: 2
  labels: {app: web, old: x}
  annotations: {slipway.dev/revision: bbb, deployment.kubernetes.io/revision: "1"}
spec:
  replicas: 5
  strategy: {type: RollingUpdate}
  template:
    spec:
      restartPolicy: Always
      containers:
      - {name: web, image: reg/web:v2, imagePullPolicy: IfNotPresent}
status: {replicas: 3}
`, []FieldDiff{
			{Path: "spec.replicas", Live: int64(3), Desired: int64(5)},
			{Path: "spec.template.spec.containers[name=web].image", Live: "reg/web:v1", Desired: "reg/web:v2"},
		}},
		"label Git no longer sets is removed": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - {name: web, image: reg/web:v1}
`, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  generation: 1
  labels: {app: web}
  annotations: {slipway.dev/revision: bbb, deployment.kubernetes.io/revision: "1"}
spec:
  replicas: 3
  strategy: {type: RollingUpdate}
  template:
    spec:
      restartPolicy: Always
      containers:
      - {name: web, image: reg/web:v1, imagePullPolicy: IfNotPresent}
`, []FieldDiff{{Path: "metadata.labels.old", Live: "x"}}},
		"only the revision changes": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - {name: web, image: reg/web:v1}
`, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  resourceVersion: "10"
  generation: 1
  labels: {app: web, old: x}
  annotations: {slipway.dev/revision: bbb, deployment.kubernetes.io/revision: "1"}
spec:
  replicas: 3
  strategy: {type: RollingUpdate}
  template:
    spec:
      restartPolicy: Always
      containers:
      - {name: web, image: reg/web:v1, imagePullPolicy: IfNotPresent}
status: {replicas: 3}
`, nil},
		"container added": {`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  template:
    spec:
      containers:
      - {name: web, image: reg/web:v1}
      - {name: side, image: reg/side:v1}
`, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, old: x}
  annotations: {slipway.dev/revision: aaa, deployment.kubernetes.io/revision: "1"}
spec:
  replicas: 3
  strategy: {type: RollingUpdate}
  template:
    spec:
      restartPolicy: Always
      containers:
      - {name: web, image: reg/web:v1, imagePullPolicy: IfNotPresent}
      - {name: side, image: reg/side:v1, imagePullPolicy: IfNotPresent}
`, []FieldDiff{{
			Path:    "spec.template.spec.containers[name=side]",
			Desired: map[string]any{"name": "side", "image": "reg/side:v1", "imagePullPolicy": "IfNotPresent"},
		}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := fieldDiffs(obj(t, tc.desired), obj(t, live), obj(t, tc.dry))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fieldDiffs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutermost(t *testing.T) {
	got := outermost(map[string]bool{
		"spec.x":                   true,
		"spec.x[name=a].image":     true,
		"spec.x.y":                 true,
		"spec.xy":                  true,
		"metadata.labels.app":      true,
		"metadata.labels.app.kind": true,
	})
	want := []string{"metadata.labels.app", "spec.x", "spec.xy"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outermost (-want +got):\n%s", diff)
	}
}

func TestPlanChanged(t *testing.T) {
	cases := map[string]struct {
		actions []Action
		want    bool
	}{
		"empty":              {nil, false},
		"all unchanged":      {[]Action{Unchanged, Unchanged}, false},
		"skipped only":       {[]Action{Unchanged, Skipped}, false},
		"one configured":     {[]Action{Unchanged, Configured}, true},
		"one created":        {[]Action{Created}, true},
		"one pruned":         {[]Action{Unchanged, Pruned}, true},
		"pruned and skipped": {[]Action{Skipped, Pruned}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := &Plan{}
			for _, a := range tc.actions {
				p.Objects = append(p.Objects, ObjectDiff{Object: "ConfigMap/ns/x", Action: a})
			}
			if got := p.Changed(); got != tc.want {
				t.Errorf("Changed() = %v, want %v", got, tc.want)
			}
		})
	}
}
