package manifests

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// The goldens testdata/<case>/golden.yaml are the output of the real
// kustomize CLI, v5.8.2 (the release built on the kustomize api/kyaml
// versions in go.mod):
//
//	GOBIN=/tmp/kbin go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
//	cd testdata/<case> && /tmp/kbin/kustomize build <dir> > golden.yaml
//
// `go test ./manifests -run TestRenderMatchesKustomizeBuild -update`
// regenerates them with that binary ($KUSTOMIZE, else /tmp/kbin/kustomize,
// else kustomize on $PATH); it refuses any other version.
var update = flag.Bool("update", false, "regenerate testdata/*/golden.yaml with `kustomize build` v5.8.2")

const kustomizeVersion = "v5.8.2"

var goldenCases = []struct {
	name string // testdata/<name> is the repo root and holds golden.yaml
	dir  string // the kustomization built, relative to the root
}{
	{name: "base-overlay", dir: "overlays/production"},
	{name: "generators", dir: "app"},
	{name: "component", dir: "overlays/staging"},
	{name: "crds-and-lists", dir: "platform"},
	{name: "transformers", dir: "applications/shop/testing"},
}

func TestRenderMatchesKustomizeBuild(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join("testdata", tc.name)
			golden := filepath.Join(root, "golden.yaml")
			if *update {
				writeGolden(t, root, tc.dir, golden)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := Render(os.DirFS(root), tc.dir)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(string(want), marshalLikeKustomize(t, objs)); diff != "" {
				t.Errorf("Render differs from kustomize build (-kustomize +Render):\n%s", diff)
			}
		})
	}
}

// marshalLikeKustomize prints objects as `kustomize build` does: each
// object as YAML with sorted keys, separated by "---" lines.
func marshalLikeKustomize(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	docs := make([]string, len(objs))
	for i, o := range objs {
		b, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = string(b)
	}
	return strings.Join(docs, "---\n")
}

func writeGolden(t *testing.T, root, dir, golden string) {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		bin = "/tmp/kbin/kustomize"
		if _, err := os.Stat(bin); err != nil {
			bin = "kustomize"
		}
	}
	ver, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("-update needs kustomize %s: %v", kustomizeVersion, err)
	}
	if !bytes.Contains(ver, []byte(kustomizeVersion)) {
		t.Fatalf("-update needs kustomize %s, %s is %s", kustomizeVersion, bin, ver)
	}
	cmd := exec.Command(bin, "build", dir)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	if err := os.WriteFile(golden, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
