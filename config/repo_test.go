package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// twoApps is the example repo with a second, unbound application with two
// targets.
func twoApps(t *testing.T) *Repo {
	t.Helper()
	files := with(map[string]string{
		"applications/billing/application.yaml": `apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: billing
spec:
  targets:
  - name: staging
    account: local
    namespace: flaskapp-testing
    path: deploy
  - name: canary
    account: local
    namespace: flaskapp-testing
    path: deploy
`,
		"applications/billing/deploy/all.yaml": deploymentYAML,
	})
	repo, err := Load(mapFS(files))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return repo
}

func TestRepoTarget(t *testing.T) {
	repo := twoApps(t)
	tests := map[string]struct {
		app, target string
		wantOK      bool
		wantPath    string
	}{
		"found":           {"billing", "canary", true, "applications/billing/deploy"},
		"unknown target":  {"billing", "testing", false, ""},
		"unknown app":     {"nope", "testing", false, ""},
		"other app's one": {"flaskapp", "testing", true, "applications/flaskapp/testing"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			app, target, ok := repo.Target(tc.app, tc.target)
			if ok != tc.wantOK {
				t.Fatalf("Target ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				if app != nil || target != nil {
					t.Errorf("Target = %v, %v, want nils", app, target)
				}
				return
			}
			if app.Name != tc.app || target.Name != tc.target || target.Path != tc.wantPath {
				t.Errorf("Target = %s/%s at %s, want %s/%s at %s", app.Name, target.Name, target.Path, tc.app, tc.target, tc.wantPath)
			}
		})
	}
}

func TestRepoTargetRefs(t *testing.T) {
	want := []TargetRef{{"billing", "canary"}, {"billing", "staging"}, {"flaskapp", "testing"}}
	if diff := cmp.Diff(want, twoApps(t).TargetRefs()); diff != "" {
		t.Errorf("TargetRefs mismatch (-want +got):\n%s", diff)
	}
}

func TestRepoProjectOf(t *testing.T) {
	repo := twoApps(t)
	got := map[string]string{}
	for _, app := range []string{"flaskapp", "billing", "nope"} {
		got[app] = repo.ProjectOf(app)
	}
	want := map[string]string{"flaskapp": "cd-demo", "billing": "", "nope": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ProjectOf mismatch (-want +got):\n%s", diff)
	}
}

func TestParseTargetRef(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    TargetRef
		wantErr string
	}{
		"valid":          {in: "flaskapp/testing", want: TargetRef{"flaskapp", "testing"}},
		"no slash":       {in: "flaskapp", wantErr: `target "flaskapp": want application/target`},
		"two slashes":    {in: "a/b/c", wantErr: `target "a/b/c": want application/target`},
		"empty target":   {in: "flaskapp/", wantErr: `target "flaskapp/": target must be a DNS-1123 label`},
		"bad app":        {in: "Flask/testing", wantErr: `target "Flask/testing": application must be a DNS-1123 label`},
		"empty":          {in: "", wantErr: `target "": want application/target`},
		"path traversal": {in: "../testing", wantErr: `target "../testing": application must be a DNS-1123 label`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseTargetRef(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("ParseTargetRef(%q) error = %v, want prefix %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTargetRef(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseTargetRef mismatch (-want +got):\n%s", diff)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}
