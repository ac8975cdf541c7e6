package config

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// The complete example, as in docs/config.md. Line numbers matter: the
// error cases below assert positions in these files.
const (
	accountFile = "accounts/local.yaml"
	accountYAML = `apiVersion: slipway.dev/v1alpha1
kind: Account
metadata:
  name: local
spec:
  description: The local test cluster
  kubeconfig:
    secretRef: local-kubeconfig
    context: ""
  namespaces: [flaskapp-testing]
  environment: testing
`
	projectFile = "projects/cd-demo.yaml"
	projectYAML = `apiVersion: slipway.dev/v1alpha1
kind: Project
metadata:
  name: cd-demo
spec:
  description: Demo project
  applications: [flaskapp]
`
	appFile = "applications/flaskapp/application.yaml"
	appYAML = `apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: flaskapp
spec:
  description: Flask demo app
  provider: kubernetes
  healthProviderOnly: false
  healthOverride: false
  instancePort: 8080
  allowRestartRunning: false
  allowConcurrent: false
  targets:
  - name: testing
    account: local
    namespace: flaskapp-testing
    path: testing
    stack: testing
    detail: ""
    sync:
      mode: automatic
      prune: true
      drift: selfHeal
`
	kustomizationFile = "applications/flaskapp/testing/kustomization.yaml"
	kustomizationYAML = "resources: [deployment.yaml]\n"
	deploymentFile    = "applications/flaskapp/testing/deployment.yaml"
	deploymentYAML    = "apiVersion: apps/v1\nkind: Deployment\n"
)

// exampleFiles is the complete example repo.
func exampleFiles() map[string]string {
	return map[string]string{
		accountFile:       accountYAML,
		projectFile:       projectYAML,
		appFile:           appYAML,
		kustomizationFile: kustomizationYAML,
		deploymentFile:    deploymentYAML,
	}
}

// exampleRepo is what the complete example loads to.
func exampleRepo() *Repo {
	return &Repo{
		Accounts: map[string]*Account{
			"local": {
				Name:        "local",
				Description: "The local test cluster",
				Environment: "testing",
				Kubeconfig:  SecretRef{Secret: "local-kubeconfig"},
				Namespaces:  []string{"flaskapp-testing"},
				Source:      Source{File: accountFile, Line: 1, Column: 1},
			},
		},
		Projects: map[string]*Project{
			"cd-demo": {
				Name:         "cd-demo",
				Description:  "Demo project",
				Applications: []string{"flaskapp"},
				Source:       Source{File: projectFile, Line: 1, Column: 1},
			},
		},
		Applications: map[string]*Application{
			"flaskapp": {
				Name:         "flaskapp",
				Description:  "Flask demo app",
				Provider:     "kubernetes",
				InstancePort: 8080,
				Targets: []Target{{
					Name:      "testing",
					Account:   "local",
					Namespace: "flaskapp-testing",
					Path:      "applications/flaskapp/testing",
					Stack:     "testing",
					Sync:      SyncPolicy{Mode: SyncAutomatic, Prune: true, Drift: DriftSelfHeal},
					Source:    Source{File: appFile, Line: 14, Column: 5},
				}},
				Dir:    "applications/flaskapp",
				Source: Source{File: appFile, Line: 1, Column: 1},
			},
		},
	}
}

// mapFS builds an fs.FS from file contents.
func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// with returns the example files changed by edits; an empty content
// removes the file.
func with(edits map[string]string) map[string]string {
	files := exampleFiles()
	for name, data := range edits {
		if data == "" {
			delete(files, name)
			continue
		}
		files[name] = data
	}
	return files
}

// replace replaces old, which must occur in s, by new.
func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

func TestLoad(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		want  func() *Repo
	}{
		"complete example": {
			files: exampleFiles(),
			want:  exampleRepo,
		},
		"defaults applied": {
			files: map[string]string{
				accountFile: "apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: local\n",
				appFile: `apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: flaskapp
spec:
  targets:
  - name: testing
    account: local
    namespace: default
    path: testing
`,
				deploymentFile: deploymentYAML,
			},
			want: func() *Repo {
				return &Repo{
					Accounts: map[string]*Account{"local": {
						Name:       "local",
						Kubeconfig: SecretRef{Secret: "local"},
						Source:     Source{File: accountFile, Line: 1, Column: 1},
					}},
					Projects: map[string]*Project{},
					Applications: map[string]*Application{"flaskapp": {
						Name:     "flaskapp",
						Provider: "kubernetes",
						Targets: []Target{{
							Name:      "testing",
							Account:   "local",
							Namespace: "default",
							Path:      "applications/flaskapp/testing",
							Sync:      SyncPolicy{Mode: SyncAutomatic, Drift: DriftSelfHeal},
							Source:    Source{File: appFile, Line: 7, Column: 5},
						}},
						Dir:    "applications/flaskapp",
						Source: Source{File: appFile, Line: 1, Column: 1},
					}},
				}
			},
		},
		"empty repo": {
			files: map[string]string{"README.md": "hello\n"},
			want: func() *Repo {
				return &Repo{Accounts: map[string]*Account{}, Projects: map[string]*Project{}, Applications: map[string]*Application{}}
			},
		},
		"other files are ignored": {
			files: with(map[string]string{
				"README.md":                           "# config\n",
				"accounts/README.md":                  "accounts\n",
				"applications/README.md":              "apps\n",
				"applications/flaskapp/notes/ci.yaml": "anything: [goes\n",
				"applications/flaskapp/notes.txt":     "notes\n",
			}),
			want: exampleRepo,
		},
		"trailing document separator": {
			files: with(map[string]string{accountFile: "---\n" + accountYAML + "---\n"}),
			want: func() *Repo {
				r := exampleRepo()
				r.Accounts["local"].Source.Line = 2
				return r
			},
		},
		"plain manifests, path outside the application directory": {
			files: with(map[string]string{
				kustomizationFile:         "",
				deploymentFile:            "",
				"shared/web/service.json": "{}",
				appFile:                   replace(appYAML, "path: testing", "path: ../../shared/./web/"),
			}),
			want: func() *Repo {
				r := exampleRepo()
				r.Applications["flaskapp"].Targets[0].Path = "shared/web"
				return r
			},
		},
		"anchors and aliases": {
			files: with(map[string]string{appFile: replace(replace(appYAML,
				"    sync:\n", "    sync: &sync\n"),
				"      drift: selfHeal\n", "      drift: selfHeal\n  - name: again\n    account: local\n    namespace: flaskapp-testing\n    path: testing\n    sync: *sync\n")}),
			want: func() *Repo {
				r := exampleRepo()
				app := r.Applications["flaskapp"]
				again := app.Targets[0]
				again.Name, again.Stack, again.Source.Line = "again", "", 24
				app.Targets = append(app.Targets, again)
				return r
			},
		},
		"Kustomization file name": {
			files: with(map[string]string{
				kustomizationFile: "",
				deploymentFile:    "",
				"applications/flaskapp/testing/Kustomization": kustomizationYAML,
			}),
			want: exampleRepo,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Load(mapFS(tc.files))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want(), got); diff != "" {
				t.Errorf("Load mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadTestdata(t *testing.T) {
	got, err := Load(os.DirFS("testdata/repo"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := exampleRepo()
	want.Accounts["local"].Source.Line = 2 // after a comment line
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
	if errs := Validate(os.DirFS("testdata/repo")); errs != nil {
		t.Errorf("Validate: %v", errs)
	}
}
