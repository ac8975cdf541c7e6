package manifests

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const digestA = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSetImage(t *testing.T) {
	tests := map[string]struct {
		in          string
		img         Image
		want        string
		wantChanged bool
	}{
		"replace tag and add digest, keeping comments and order": {
			in: `# Production overlay for flaskapp.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base # the shared base
images:
  # the app itself
  - name: registry.example.com/team/flaskapp
    newTag: "1.4.1" # {"$imagepolicy": "flux-system:flaskapp:tag"}
  - name: prom/statsd-exporter
    newName: mirror.example.com/prom/statsd-exporter
namespace: flask-prod # keep last
`,
			img: Image{Name: "registry.example.com/team/flaskapp", NewTag: "1.4.2", Digest: digestA},
			want: `# Production overlay for flaskapp.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base # the shared base
images:
  # the app itself
  - name: registry.example.com/team/flaskapp
    newTag: "1.4.2" # {"$imagepolicy": "flux-system:flaskapp:tag"}
    digest: ` + digestA + `
  - name: prom/statsd-exporter
    newName: mirror.example.com/prom/statsd-exporter
namespace: flask-prod # keep last
`,
			wantChanged: true,
		},
		"add entry to existing list, compact indent kept": {
			in: `resources:
- deploy.yaml
images:
- name: a
  newTag: v1
`,
			img: Image{Name: "b", NewName: "registry/b", NewTag: "2.0"},
			want: `resources:
- deploy.yaml
images:
- name: a
  newTag: v1
- name: b
  newName: registry/b
  newTag: "2.0"
`,
			wantChanged: true,
		},
		"add images list when missing": {
			in:          "resources:\n- deploy.yaml\n",
			img:         Image{Name: "example/web", NewTag: "v2"},
			want:        "resources:\n- deploy.yaml\nimages:\n- name: example/web\n  newTag: v2\n",
			wantChanged: true,
		},
		"images key without a value": {
			in:          "images: # none yet\nresources:\n- a.yaml\n",
			img:         Image{Name: "web", NewTag: "v1"},
			want:        "images: # none yet\n- name: web\n  newTag: v1\nresources:\n- a.yaml\n",
			wantChanged: true,
		},
		"empty flow list becomes a block list": {
			in:          "images: []\n",
			img:         Image{Name: "web", NewTag: "v1"},
			want:        "images:\n- name: web\n  newTag: v1\n",
			wantChanged: true,
		},
		"leading document marker and comment": {
			in:          "---\n# overlay\nkind: Kustomization\n",
			img:         Image{Name: "web", NewTag: "v1"},
			want:        "# overlay\nkind: Kustomization\nimages:\n- name: web\n  newTag: v1\n",
			wantChanged: true,
		},
		"replace drops fields the new image does not set": {
			in:          "images:\n- name: web\n  newName: old/web\n  newTag: v1\n  tagSuffix: -debug\n",
			img:         Image{Name: "web", Digest: digestA},
			want:        "images:\n- name: web\n  digest: " + digestA + "\n",
			wantChanged: true,
		},
		"numeric-looking tag is quoted": {
			in:          "images:\n- name: web\n  newTag: 1.9\n",
			img:         Image{Name: "web", NewTag: "1.10"},
			want:        "images:\n- name: web\n  newTag: \"1.10\"\n",
			wantChanged: true,
		},
		"identical entry is a no-op, bytes untouched": {
			in:          "images:\n    - name: web   # odd spacing kept\n      newTag: 'v1'\n",
			img:         Image{Name: "web", NewTag: "v1"},
			want:        "images:\n    - name: web   # odd spacing kept\n      newTag: 'v1'\n",
			wantChanged: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, changed, err := SetImage([]byte(tc.in), tc.img)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if diff := cmp.Diff(tc.want, string(out)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// What SetImage wrote reads back, and setting it again is a no-op.
			imgs, err := ReadKustomizationImages(out)
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, img := range imgs {
				if img.Name == tc.img.Name {
					found = true
					if diff := cmp.Diff(tc.img, img); diff != "" {
						t.Errorf("read back (-want +got):\n%s", diff)
					}
				}
			}
			if !found {
				t.Errorf("image %s not in %v", tc.img.Name, imgs)
			}
			again, changed, err := SetImage(out, tc.img)
			if err != nil || changed || string(again) != string(out) {
				t.Errorf("second SetImage: changed=%v err=%v", changed, err)
			}
		})
	}
}

func TestSetImageErrors(t *testing.T) {
	tests := map[string]struct {
		in  string
		img Image
	}{
		"empty name":     {"images: []\n", Image{NewTag: "v1"}},
		"not a mapping":  {"- a\n- b\n", Image{Name: "x", NewTag: "v1"}},
		"invalid yaml":   {"images: [\n", Image{Name: "x", NewTag: "v1"}},
		"images not seq": {"images: {name: x}\n", Image{Name: "x", NewTag: "v1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := SetImage([]byte(tc.in), tc.img); err == nil {
				t.Error("SetImage succeeded, want error")
			}
		})
	}
}

// TestSetImageRenders: an image SetImage wrote is what kustomize builds.
func TestSetImageRenders(t *testing.T) {
	k := "resources:\n- deploy.yaml\n"
	out, _, err := SetImage([]byte(k), Image{Name: "example/web", NewName: "127.0.0.1:5000/team/web", NewTag: "v2", Digest: digestA})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(fstest.MapFS{"k/kustomization.yaml": file(string(out)), "k/deploy.yaml": file(deployment)}, "k")
	if err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "template", "spec", "containers")
	if got, want := containers[0].(map[string]any)["image"], "127.0.0.1:5000/team/web:v2@"+digestA; got != want {
		t.Errorf("image = %v, want %v", got, want)
	}
}

func TestReadKustomizationImages(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []Image
		wantErr bool
	}{
		"entries in order": {
			in:   "images:\n- name: a\n  newTag: v1\n- name: b\n  newName: r/b\n  digest: " + digestA + "\n",
			want: []Image{{Name: "a", NewTag: "v1"}, {Name: "b", NewName: "r/b", Digest: digestA}},
		},
		"no images":  {in: "resources: [a.yaml]\n"},
		"bad yaml":   {in: "images: [\n", wantErr: true},
		"bad images": {in: "images: 3\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReadKustomizationImages([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseImageRef(t *testing.T) {
	tests := map[string]struct {
		ref               string
		name, tag, digest string
		wantErr           string
	}{
		"name only":                  {ref: "nginx", name: "nginx"},
		"tag":                        {ref: "nginx:1.27", name: "nginx", tag: "1.27"},
		"registry port, no tag":      {ref: "127.0.0.1:5000/team/app", name: "127.0.0.1:5000/team/app"},
		"registry port, tag, digest": {ref: "127.0.0.1:5000/team/app:v2@" + digestA, name: "127.0.0.1:5000/team/app", tag: "v2", digest: digestA},
		"localhost port and tag":     {ref: "localhost:5000/app:latest", name: "localhost:5000/app", tag: "latest"},
		"digest only":                {ref: "ghcr.io/org/app@" + digestA, name: "ghcr.io/org/app", digest: digestA},
		"deep path":                  {ref: "registry.example.com/a/b/c_d-e:1.0.0-rc.1", name: "registry.example.com/a/b/c_d-e", tag: "1.0.0-rc.1"},
		"empty":                      {ref: "", wantErr: "invalid name"},
		"empty tag":                  {ref: "nginx:", wantErr: "invalid tag"},
		"bad digest":                 {ref: "nginx@sha256:xyz", wantErr: "invalid digest"},
		"uppercase path":             {ref: "example/App:v1", wantErr: "invalid name"},
		"space":                      {ref: "nginx :v1", wantErr: "invalid name"},
		"trailing slash":             {ref: "example/:v1", wantErr: "invalid name"},
		"port only":                  {ref: "example.com:5000", name: "example.com", tag: "5000"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, tag, digest, err := ParseImageRef(tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tc.name, tc.tag, tc.digest}, []string{n, tag, digest}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
