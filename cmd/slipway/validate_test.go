package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestValidate(t *testing.T) {
	if out, _, err := runCLI(t, "validate", "../../examples/config-repo"); err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("the example repo: %v, %q", err, out)
	}

	dir := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("accounts/local.yaml", "apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: k\n  colour: blue\n")
	write("applications/web/application.yaml", "apiVersion: slipway.dev/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  targets:\n  - name: prod\n    account: nowhere\n    namespace: web\n    path: prod\n")
	write("applications/web/prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")

	_, stderr, err := runCLI(t, "validate", dir)
	if !errors.Is(err, errSilent) {
		t.Fatalf("validate of a bad repo returned %v, want a non-zero exit", err)
	}
	for _, want := range []string{
		"accounts/local.yaml:8:3: spec.colour:",
		"applications/web/application.yaml:8:14: spec.targets[0].account:",
		"2 error(s)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("validate output lacks %q:\n%s", want, stderr)
		}
	}
}
