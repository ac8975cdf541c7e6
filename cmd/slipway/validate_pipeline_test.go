package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidatePipelines: bad pipeline files fail `slipway validate` with
// file:line:column and the field at fault, every problem at once.
func TestValidatePipelines(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("applications/web/application.yaml", `apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: web
spec:
  targets:
  - name: testing
    account: missing
    namespace: web
    path: testing
`)
	write("applications/web/testing/kustomization.yaml", "resources:\n- cm.yaml\n")
	write("applications/web/testing/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
	write("applications/web/pipelines/deploy.yaml", `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: deploy
spec:
  expectedArtifacts:
  - id: image
    repository: registry.test/web
  stages:
  - id: first
    type: deployManifest
    target: testing
    artifacts: [imag]
    dependsOn: [second]
  - id: second
    type: deployManifest
    target: testing
    dependsOn: [first]
  - id: third
    type: deployManifests
`)
	_, stderr, err := runCLI(t, "validate", dir)
	if !errors.Is(err, errSilent) {
		t.Fatalf("validate of bad pipelines returned %v, want a non-zero exit", err)
	}
	for _, want := range []string{
		"applications/web/application.yaml:8:14: spec.targets[0].account: account \"missing\" not found",
		"applications/web/pipelines/deploy.yaml:13:17: spec.stages[0].artifacts[0]: artifact \"imag\" is not an expected artifact",
		"spec.stages[0].dependsOn: cycle",
		"applications/web/pipelines/deploy.yaml:20:11: spec.stages[2].type:",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("validate output lacks %q:\n%s", want, stderr)
		}
	}
}
