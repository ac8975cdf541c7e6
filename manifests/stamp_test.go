package manifests

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := sigsyaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	objs, err := toObjects(m)
	if err != nil || len(objs) != 1 {
		t.Fatalf("toObjects: %v", err)
	}
	return objs[0]
}

func TestStampApply(t *testing.T) {
	tests := map[string]struct {
		stamp Stamp
		in    string
		want  string
	}{
		"configmap with existing labels, full moniker": {
			stamp: Stamp{Application: "flaskapp", Target: "prod", Revision: "abc123", Stack: "web", Detail: "canary"},
			in: `apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  labels: {team: a, app.kubernetes.io/managed-by: helm}
  annotations: {note: keep}
`,
			want: `apiVersion: v1
kind: ConfigMap
metadata:
  name: c
  labels:
    team: a
    app.kubernetes.io/managed-by: slipway
    slipway.dev/application: flaskapp
    slipway.dev/target: prod
  annotations:
    note: keep
    slipway.dev/revision: abc123
    moniker.slipway.dev/application: flaskapp
    moniker.slipway.dev/cluster: flaskapp-web-canary
    moniker.slipway.dev/stack: web
    moniker.slipway.dev/detail: canary
`,
		},
		"deployment: pod template labelled, selector and revision untouched": {
			stamp: Stamp{Application: "flaskapp", Target: "prod", Revision: "abc123"},
			in: `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec: {containers: [{name: web, image: x}]}
`,
			want: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  labels:
    app.kubernetes.io/managed-by: slipway
    slipway.dev/application: flaskapp
    slipway.dev/target: prod
  annotations:
    slipway.dev/revision: abc123
    moniker.slipway.dev/application: flaskapp
    moniker.slipway.dev/cluster: flaskapp
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, slipway.dev/application: flaskapp, slipway.dev/target: prod}
    spec: {containers: [{name: web, image: x}]}
`,
		},
		"cronjob: job template's pod template; no revision": {
			stamp: Stamp{Application: "batch", Target: "nightly", Detail: "eu"},
			in: `apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        spec: {containers: [{name: job, image: x}]}
`,
			want: `apiVersion: batch/v1
kind: CronJob
metadata:
  name: cj
  labels:
    app.kubernetes.io/managed-by: slipway
    slipway.dev/application: batch
    slipway.dev/target: nightly
  annotations:
    moniker.slipway.dev/application: batch
    moniker.slipway.dev/cluster: batch--eu
    moniker.slipway.dev/detail: eu
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {slipway.dev/application: batch, slipway.dev/target: nightly}
        spec: {containers: [{name: job, image: x}]}
`,
		},
		"statefulset without a template is left alone below metadata": {
			stamp: Stamp{Application: "a", Target: "t", Stack: "s"},
			in:    "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec: {}\n",
			want: `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: s
  labels: {app.kubernetes.io/managed-by: slipway, slipway.dev/application: a, slipway.dev/target: t}
  annotations: {moniker.slipway.dev/application: a, moniker.slipway.dev/cluster: a-s, moniker.slipway.dev/stack: s}
spec: {}
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := obj(t, tc.in)
			tc.stamp.Apply([]*unstructured.Unstructured{got})
			if diff := cmp.Diff(obj(t, tc.want).Object, got.Object); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStampCluster(t *testing.T) {
	tests := map[string]struct {
		stamp Stamp
		want  string
	}{
		"app only":     {Stamp{Application: "a"}, "a"},
		"stack":        {Stamp{Application: "a", Stack: "s"}, "a-s"},
		"stack detail": {Stamp{Application: "a", Stack: "s", Detail: "d"}, "a-s-d"},
		"detail only":  {Stamp{Application: "a", Detail: "d"}, "a--d"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.stamp.Cluster(); got != tc.want {
				t.Errorf("Cluster() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHash(t *testing.T) {
	cm := func(rev, value string) *unstructured.Unstructured {
		o := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: "+value+"}\n")
		if rev != "" {
			o.SetAnnotations(map[string]string{AnnotationRevision: rev})
		}
		return o
	}
	deploy := func() *unstructured.Unstructured {
		return obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, annotations: {a: b}}\nspec: {replicas: 2}\n")
	}
	base := Hash([]*unstructured.Unstructured{cm("", "v"), deploy()})
	tests := map[string]struct {
		objs []*unstructured.Unstructured
		same bool
	}{
		"same objects":                {[]*unstructured.Unstructured{cm("", "v"), deploy()}, true},
		"other order":                 {[]*unstructured.Unstructured{deploy(), cm("", "v")}, true},
		"revision annotation ignored": {[]*unstructured.Unstructured{cm("r1", "v"), deploy()}, true},
		"content change":              {[]*unstructured.Unstructured{cm("", "w"), deploy()}, false},
		"object removed":              {[]*unstructured.Unstructured{deploy()}, false},
		"object duplicated":           {[]*unstructured.Unstructured{cm("", "v"), deploy(), deploy()}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Hash(tc.objs)
			if (got == base) != tc.same {
				t.Errorf("Hash = %s, base %s, want same=%v", got, base, tc.same)
			}
			if len(got) != 64 {
				t.Errorf("Hash %q is not sha256 hex", got)
			}
		})
	}
	// Hash must not modify its input.
	o := cm("r1", "v")
	Hash([]*unstructured.Unstructured{o})
	if o.GetAnnotations()[AnnotationRevision] != "r1" {
		t.Error("Hash removed the revision from its input")
	}
	// Other annotations still count.
	withOther := deploy()
	withOther.SetAnnotations(map[string]string{"a": "c"})
	if Hash([]*unstructured.Unstructured{withOther}) == Hash([]*unstructured.Unstructured{deploy()}) {
		t.Error("an annotation change did not change the hash")
	}
}

func TestSortForApply(t *testing.T) {
	mk := func(apiVersion, kind, ns, name string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion(apiVersion)
		o.SetKind(kind)
		o.SetNamespace(ns)
		o.SetName(name)
		return o
	}
	tests := map[string]struct {
		in   []*unstructured.Unstructured
		want []string
	}{
		"groups then kind table then alphabetical": {
			in: []*unstructured.Unstructured{
				mk("apps/v1", "Deployment", "b", "web"),
				mk("example.com/v1", "Widget", "a", "w"),
				mk("v1", "Service", "b", "web"),
				mk("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "hook"),
				mk("v1", "Namespace", "", "b"),
				mk("example.com/v1", "Backup", "a", "x"),
				mk("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
				mk("v1", "ConfigMap", "b", "web"),
				mk("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
				mk("v1", "Namespace", "", "a"),
				mk("v1", "ServiceAccount", "b", "web"),
				mk("v1", "Secret", "b", "web"),
				mk("v1", "PersistentVolumeClaim", "b", "data"),
				mk("batch/v1", "Job", "b", "migrate"),
			},
			want: []string{
				"CustomResourceDefinition//widgets.example.com",
				"Namespace//a", "Namespace//b",
				"ClusterRole//reader", "ValidatingWebhookConfiguration//hook",
				"ServiceAccount/b/web", "Secret/b/web", "ConfigMap/b/web", "PersistentVolumeClaim/b/data",
				"Service/b/web", "Deployment/b/web", "Job/b/migrate",
				"Backup/a/x", "Widget/a/w",
			},
		},
		"ties by namespace then name": {
			in: []*unstructured.Unstructured{
				mk("v1", "ConfigMap", "b", "a"),
				mk("v1", "ConfigMap", "a", "z"),
				mk("v1", "ConfigMap", "a", "b"),
				mk("v1", "ConfigMap", "", "c"),
			},
			want: []string{"ConfigMap//c", "ConfigMap/a/b", "ConfigMap/a/z", "ConfigMap/b/a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			SortForApply(tc.in)
			if diff := cmp.Diff(tc.want, ids(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Any input order gives the same result.
			for i, j := 0, len(tc.in)-1; i < j; i, j = i+1, j-1 {
				tc.in[i], tc.in[j] = tc.in[j], tc.in[i]
			}
			SortForApply(tc.in)
			if diff := cmp.Diff(tc.want, ids(tc.in)); diff != "" {
				t.Errorf("reversed input (-want +got):\n%s", diff)
			}
		})
	}
}
