package manifests

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// ids lists objects as Kind/namespace/name, in order.
func ids(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
	}
	return out
}

func TestRenderPlain(t *testing.T) {
	fsys := fstest.MapFS{
		"apps/web/prod/b-deploy.yml": file(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
`),
		"apps/web/prod/a-multi.yaml": file(`# leading comment
---
apiVersion: v1
kind: Namespace
metadata:
  name: web
---
---
# only a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: web
data:
  stamp: 2024-01-01T00:00:00Z
`),
		"apps/web/prod/c-svc.json": file(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":80}]}}`),
		"apps/web/prod/d-list.yaml": file(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: web}
- apiVersion: v1
  kind: SecretList
  items:
  - {apiVersion: v1, kind: Secret, metadata: {name: nested}}
`),
		"apps/web/prod/README.md":           file("# not a manifest: {{"),
		"apps/web/prod/values.txt":          file("nope: ["),
		"apps/web/prod/nested/ignored.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nested}\n"),
	}
	objs, err := Render(fsys, "apps/web/prod")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Namespace//web", "ConfigMap/web/web-config",
		"Deployment//web",
		"Service//web",
		"ServiceAccount//web", "Secret//nested",
	}
	if diff := cmp.Diff(want, ids(objs)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	// Numbers are int64 (what unstructured requires), timestamps stay strings.
	if r, _, _ := unstructured.NestedInt64(objs[2].Object, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %d, want 2", r)
	}
	if s, _, _ := unstructured.NestedString(objs[1].Object, "data", "stamp"); s != "2024-01-01T00:00:00Z" {
		t.Errorf("stamp = %q", s)
	}
	_ = objs[3].DeepCopy() // panics on non-JSON types
}

func TestRenderPlainErrors(t *testing.T) {
	tests := map[string]struct {
		files   fstest.MapFS
		wantErr []string // substrings
	}{
		"yaml syntax error names file and line": {
			files: fstest.MapFS{"d/ok.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"),
				"d/broken.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   labels: x\n")},
			wantErr: []string{"d/broken.yaml", "line 10"},
		},
		"duplicate key": {
			files:   fstest.MapFS{"d/dup.yaml": file("apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n")},
			wantErr: []string{"d/dup.yaml", "line 3"},
		},
		"missing kind names file and line": {
			files:   fstest.MapFS{"d/x.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\napiVersion: v1\nmetadata: {name: b}\n")},
			wantErr: []string{"d/x.yaml:6:", "kind is missing"},
		},
		"missing name": {
			files:   fstest.MapFS{"d/x.yaml": file("apiVersion: v1\nkind: ConfigMap\n")},
			wantErr: []string{"d/x.yaml:1:", "metadata.name is missing"},
		},
		"not a mapping": {
			files:   fstest.MapFS{"d/x.json": file(`["a"]`)},
			wantErr: []string{"d/x.json:1:", "mapping"},
		},
		"duplicate object across files": {
			files: fstest.MapFS{
				"d/a.yaml": file("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"),
				"d/b.yaml": file("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"),
			},
			wantErr: []string{"d/b.yaml", "Deployment.apps web", "also defined in d/a.yaml"},
		},
		"not a directory": {
			files:   fstest.MapFS{"d": file("x")},
			wantErr: []string{"not a directory"},
		},
		"missing directory": {
			files:   fstest.MapFS{"e/x.yaml": file("x")},
			wantErr: []string{"manifest dir d"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Render(tc.files, "d")
			if err == nil {
				t.Fatal("Render succeeded, want error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestRenderDirArgument(t *testing.T) {
	fsys := fstest.MapFS{"x.yaml": file("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")}
	for _, dir := range []string{"", ".", "./"} {
		if objs, err := Render(fsys, dir); err != nil || len(objs) != 1 {
			t.Errorf("Render(%q) = %d objects, %v", dir, len(objs), err)
		}
	}
	for _, dir := range []string{"/etc", "../x", "a/../../b"} {
		if _, err := Render(fsys, dir); err == nil {
			t.Errorf("Render(%q) succeeded, want error", dir)
		}
	}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: example/web:1
`

func TestRenderKustomizeErrors(t *testing.T) {
	tests := map[string]struct {
		files   fstest.MapFS
		dir     string
		wantErr []string
	}{
		"missing resource names the dir": {
			files:   fstest.MapFS{"apps/web/prod/kustomization.yaml": file("resources:\n- missing.yaml\n")},
			dir:     "apps/web/prod",
			wantErr: []string{"kustomize build apps/web/prod", "missing.yaml"},
		},
		"bad kustomization yaml": {
			files:   fstest.MapFS{"k/kustomization.yml": file("resources: [\n")},
			dir:     "k",
			wantErr: []string{"kustomize build k"},
		},
		"several kustomization files": {
			files:   fstest.MapFS{"k/kustomization.yaml": file("resources: []\n"), "k/Kustomization": file("resources: []\n")},
			dir:     "k",
			wantErr: []string{"kustomize build k", "multiple kustomization files"},
		},
		"exec plugins are off": {
			files: fstest.MapFS{
				"k/kustomization.yaml": file("transformers:\n- plugin.yaml\n"),
				"k/plugin.yaml":        file("apiVersion: someteam.example.com/v1\nkind: Exec\nmetadata:\n  name: x\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: /bin/sh\n"),
			},
			dir:     "k",
			wantErr: []string{"kustomize build k"},
		},
		"helm is off": {
			files:   fstest.MapFS{"k/kustomization.yaml": file("helmCharts:\n- name: redis\n  repo: https://charts.example.com\n  version: 1.0.0\n")},
			dir:     "k",
			wantErr: []string{"kustomize build k", "helm"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Render(tc.files, tc.dir)
			if err == nil {
				t.Fatal("Render succeeded, want error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// TestRenderStaysInsideFS: whatever a kustomization names, kustomize sees
// only the fs.FS, never the disk or the network.
func TestRenderStaysInsideFS(t *testing.T) {
	// The repo is fs.Sub(outer, "repo"); secret.yaml is outside it.
	build := func(kustomization string, extra map[string]string) fs.FS {
		outer := fstest.MapFS{
			"secret.yaml":                           file("apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\n"),
			"repo/apps/web/base/deploy.yaml":        file(deployment),
			"repo/apps/web/base/kustomization.yaml": file("resources:\n- deploy.yaml\n"),
			"repo/apps/web/shared/patch.yaml":       file("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 9}\n"),
			"repo/apps/web/prod/kustomization.yaml": file(kustomization),
		}
		for p, data := range extra {
			outer[path.Join("repo/apps/web/prod", p)] = file(data)
		}
		repo, err := fs.Sub(outer, "repo")
		if err != nil {
			t.Fatal(err)
		}
		return repo
	}
	tests := map[string]struct {
		kustomization string
		extra         map[string]string
		wantErr       string
	}{
		"parent beyond the root":            {kustomization: "resources:\n- ../../../../secret.yaml\n", wantErr: "secret.yaml"},
		"absolute path to the disk":         {kustomization: "resources:\n- /etc/hostname\n", wantErr: "hostname"},
		"patch outside the kustomization":   {kustomization: "resources:\n- ../base\npatches:\n- path: ../shared/patch.yaml\n", wantErr: "security"},
		"remote https file":                 {kustomization: "resources:\n- https://example.com/deploy.yaml\n", wantErr: "remote reference"},
		"remote git base":                   {kustomization: "resources:\n- github.com/example/repo//base?ref=v1\n", wantErr: "remote reference"},
		"remote ssh base":                   {kustomization: "resources:\n- git@gitlab.example.com:team/repo.git//base\n", wantErr: "remote reference"},
		"remote component":                  {kustomization: "components:\n- git::https://example.com/repo.git//c\n", wantErr: "remote reference"},
		"remote patch path":                 {kustomization: "resources:\n- ../base\npatches:\n- path: https://example.com/p.yaml\n", wantErr: "remote reference"},
		"remote generator file":             {kustomization: "configMapGenerator:\n- name: x\n  files:\n  - conf=http://169.254.169.254/latest\n", wantErr: "remote reference"},
		"remote path in inline transformer": {kustomization: "resources:\n- ../base\ntransformers:\n- |-\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: https://example.com/p.yaml\n", wantErr: "remote reference"},
		"remote path in transformer file": {
			kustomization: "resources:\n- ../base\ntransformers:\n- t.yaml\n",
			extra:         map[string]string{"t.yaml": "apiVersion: builtin\nkind: PatchStrategicMergeTransformer\nmetadata: {name: p}\npaths:\n- https://example.com/p.yaml\n"},
			wantErr:       "remote reference",
		},
		"remote in a base": {
			kustomization: "resources:\n- ../evil\n",
			extra:         map[string]string{"../evil/kustomization.yaml": "resources:\n- https://example.com/x.yaml\n"},
			wantErr:       "remote reference",
		},
		"openapi field": {kustomization: "resources:\n- ../base\nopenapi:\n  path: schema.json\n", extra: map[string]string{"schema.json": "{}"}, wantErr: "openapi"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Render(build(tc.kustomization, tc.extra), "apps/web/prod")
			if err == nil {
				t.Fatal("Render succeeded, want error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "apps/web/prod") {
				t.Errorf("error %q does not contain %q and the dir", err, tc.wantErr)
			}
		})
	}

	// The same layout with a legal kustomization renders.
	objs, err := Render(build("resources:\n- ../base\n", nil), "apps/web/prod")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Deployment//web"}, ids(objs)); diff != "" {
		t.Error(diff)
	}
}

// TestRenderConcurrent renders 50 targets at once (run with -race): each
// result must equal its sequential render. The concurrent renders come
// first, so with -run they are also the process's first renders.
func TestRenderConcurrent(t *testing.T) {
	const n = 50
	fsys := fstest.MapFS{}
	for i := range n {
		app := fmt.Sprintf("applications/app%02d", i)
		fsys[app+"/base/kustomization.yaml"] = file("resources:\n- deploy.yaml\n- svc.yaml\n- widget.yaml\nconfigMapGenerator:\n- name: settings\n  literals:\n  - INDEX=" + fmt.Sprint(i) + "\n")
		fsys[app+"/base/deploy.yaml"] = file(deployment + "        envFrom:\n        - configMapRef:\n            name: settings\n")
		fsys[app+"/base/widget.yaml"] = file("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n")
		fsys[app+"/base/svc.yaml"] = file("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n")
		fsys[app+"/testing/kustomization.yaml"] = file(fmt.Sprintf(`namespace: ns%02d
namePrefix: app%02d-
resources:
- ../base
images:
- name: example/web
  newTag: "%d.0"
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: %d
- target: {kind: Service}
  patch: |-
    - op: replace
      path: /spec/ports/0/port
      value: %d
`, i, i, i, i%5+1, 8000+i))
		fsys[app+"/plain/all.yaml"] = file(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%02d\n", i))
	}
	dir := func(i int) string {
		if i%5 == 4 {
			return fmt.Sprintf("applications/app%02d/plain", i)
		}
		return fmt.Sprintf("applications/app%02d/testing", i)
	}
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			objs, err := Render(fsys, dir(i))
			errs[i] = err
			got[i] = Hash(objs)
		})
	}
	close(start)
	wg.Wait()
	want := make([]string, n)
	for i := range n {
		objs, err := Render(fsys, dir(i))
		if err != nil {
			t.Fatalf("%s: %v", dir(i), err)
		}
		want[i] = Hash(objs)
	}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("%s: %v", dir(i), errs[i])
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("concurrent renders differ from sequential ones (-want +got):\n%s", diff)
	}
	if len(map[string]bool{want[0]: true, want[1]: true}) != 2 {
		t.Error("different targets hashed the same")
	}
}
