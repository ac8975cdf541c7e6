package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadErrors(t *testing.T) {
	// want holds each error's text up to any detail worth leaving out:
	// every entry must be a prefix of the matching error, and it always
	// includes file:line:column and the field.
	tests := map[string]struct {
		files map[string]string
		want  []string
	}{
		"invalid YAML": {
			files: with(map[string]string{appFile: replace(appYAML, "description: Flask demo app", "description: [unclosed")}),
			// yaml.v3 names the line where the unclosed list's context began,
			// counted from 0.
			want: []string{"applications/flaskapp/application.yaml:5: invalid YAML: did not find expected ',' or ']'"},
		},
		"tab indentation": {
			files: with(map[string]string{accountFile: replace(accountYAML, "  environment", "\tenvironment")}),
			want:  []string{"accounts/local.yaml:11: invalid YAML: found character that cannot start any token"},
		},
		"unknown field": {
			files: with(map[string]string{appFile: replace(appYAML, "    stack: testing", "    stak: testing")}),
			want: []string{
				"applications/flaskapp/application.yaml:18:5: spec.targets[0].stak: unknown field; known fields are account, deployments, detail, images, name, namespace, path, stack, sync",
			},
		},
		"unknown top-level field": {
			files: with(map[string]string{projectFile: projectYAML + "status: {}\n"}),
			want:  []string{"projects/cd-demo.yaml:8:1: status: unknown field"},
		},
		"unknown metadata field": {
			files: with(map[string]string{projectFile: replace(projectYAML, "  name: cd-demo\n", "  name: cd-demo\n  labels: {}\n")}),
			want:  []string{"projects/cd-demo.yaml:5:3: metadata.labels: unknown field"},
		},
		"duplicate key": {
			files: with(map[string]string{appFile: replace(appYAML, "      prune: true\n", "      prune: true\n      prune: false\n")}),
			want:  []string{"applications/flaskapp/application.yaml:23:7: spec.targets[0].sync.prune: duplicate key (first at line 22)"},
		},
		"string where an integer belongs": {
			files: with(map[string]string{appFile: replace(appYAML, "instancePort: 8080", `instancePort: "8080"`)}),
			want:  []string{"applications/flaskapp/application.yaml:10:17: spec.instancePort: must be an integer, not a string"},
		},
		"string where a boolean belongs": {
			files: with(map[string]string{appFile: replace(appYAML, "healthOverride: false", "healthOverride: yes")}),
			want:  []string{"applications/flaskapp/application.yaml:9:19: spec.healthOverride: must be true or false, not a string"},
		},
		"integer where a string belongs": {
			files: with(map[string]string{accountFile: replace(accountYAML, "environment: testing", "environment: 3")}),
			want:  []string{"accounts/local.yaml:11:16: spec.environment: must be a string, not an integer"},
		},
		"mapping where a list belongs": {
			files: with(map[string]string{accountFile: replace(accountYAML, "namespaces: [flaskapp-testing]", "namespaces: {a: b}")}),
			want:  []string{"accounts/local.yaml:10:15: spec.namespaces: must be a list, not a mapping"},
		},
		"target that is not a mapping": {
			files: with(map[string]string{appFile: appYAML + "  - production\n"}),
			want:  []string{"applications/flaskapp/application.yaml:24:5: spec.targets[1]: must be a mapping, not a string"},
		},
		"instance port out of range": {
			files: with(map[string]string{appFile: replace(appYAML, "instancePort: 8080", "instancePort: 0")}),
			want:  []string{"applications/flaskapp/application.yaml:10:17: spec.instancePort: must be between 1 and 65535, got 0"},
		},
		"two documents": {
			files: with(map[string]string{accountFile: accountYAML + "---\n" + accountYAML}),
			want:  []string{"accounts/local.yaml:12:1: more than one YAML document; a file holds exactly one Account"},
		},
		"empty file": {
			files: with(map[string]string{accountFile: "# nothing yet\n"}),
			want:  []string{"accounts/local.yaml: file is empty; want one Account"},
		},
		"wrong apiVersion": {
			files: with(map[string]string{projectFile: replace(projectYAML, "slipway.dev/v1alpha1", "slipway.dev/v1")}),
			want:  []string{`projects/cd-demo.yaml:1:13: apiVersion: must be "slipway.dev/v1alpha1"`},
		},
		"wrong kind, spec not decoded": {
			files: with(map[string]string{accountFile: replace(accountYAML, "kind: Account", "kind: Project")}),
			want:  []string{`accounts/local.yaml:2:7: kind: must be "Account" in accounts`},
		},
		"missing kind and spec": {
			files: with(map[string]string{projectFile: "apiVersion: slipway.dev/v1alpha1\nmetadata:\n  name: cd-demo\n"}),
			want:  []string{`projects/cd-demo.yaml:1:1: kind: required; want "Project"`},
		},
		"missing spec": {
			files: with(map[string]string{projectFile: "apiVersion: slipway.dev/v1alpha1\nkind: Project\nmetadata:\n  name: cd-demo\n"}),
			want:  []string{"projects/cd-demo.yaml:1:1: spec: required"},
		},
		"name differs from file name": {
			files: with(map[string]string{accountFile: replace(accountYAML, "name: local", "name: remote")}),
			want:  []string{`accounts/local.yaml:4:9: metadata.name: must equal the file name "local"`},
		},
		"name differs from directory name": {
			files: with(map[string]string{appFile: replace(appYAML, "name: flaskapp", "name: flask")}),
			want:  []string{`applications/flaskapp/application.yaml:4:9: metadata.name: must equal the directory name "flaskapp"`},
		},
		"name is not a DNS-1123 label": {
			files: with(map[string]string{appFile: replace(appYAML, "name: flaskapp", "name: Flask_App")}),
			want:  []string{`applications/flaskapp/application.yaml:4:9: metadata.name: must be a DNS-1123 label`},
		},
		"missing name": {
			files: with(map[string]string{projectFile: replace(projectYAML, "  name: cd-demo\n", "  name:\n")}),
			want:  []string{`projects/cd-demo.yaml:4:8: metadata.name: required; want "cd-demo"`},
		},
		"bad target names": {
			files: with(map[string]string{appFile: replace(replace(replace(appYAML,
				"name: testing", "name: Testing"),
				"stack: testing", "stack: test_ing"),
				"namespace: flaskapp-testing", "namespace: ''")}),
			want: []string{
				"applications/flaskapp/application.yaml:14:11: spec.targets[0].name: must be a DNS-1123 label",
				"applications/flaskapp/application.yaml:16:16: spec.targets[0].namespace: required",
				"applications/flaskapp/application.yaml:18:12: spec.targets[0].stack: must be a DNS-1123 label",
			},
		},
		"bad account namespace": {
			files: with(map[string]string{accountFile: replace(accountYAML, "[flaskapp-testing]", "[flaskapp-testing, Prod, flaskapp-testing]")}),
			want: []string{
				`accounts/local.yaml:10:34: spec.namespaces[1]: must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), got "Prod"`,
				`accounts/local.yaml:10:40: spec.namespaces[2]: duplicate namespace "flaskapp-testing" (also at line 10)`,
			},
		},
		"missing secretRef is reported at its parent": {
			files: with(map[string]string{accountFile: replace(accountYAML, "    secretRef: local-kubeconfig\n", "")}),
			want:  []string{"accounts/local.yaml:8:5: spec.kubeconfig.secretRef: required: the name of the kubeconfig in the server's secret store"},
		},
		"kubeconfig pasted into secretRef": {
			files: with(map[string]string{accountFile: replace(accountYAML, "secretRef: local-kubeconfig", "secretRef: 'apiVersion: v1'")}),
			want:  []string{"accounts/local.yaml:8:16: spec.kubeconfig.secretRef: must be a DNS-1123 subdomain"},
		},
		"bad enum values": {
			files: with(map[string]string{appFile: replace(replace(replace(appYAML,
				"provider: kubernetes", "provider: aws"),
				"mode: automatic", "mode: auto"),
				"drift: selfHeal", "drift: selfheal")}),
			want: []string{
				`applications/flaskapp/application.yaml:7:13: spec.provider: must be "kubernetes", got "aws"`,
				`applications/flaskapp/application.yaml:21:13: spec.targets[0].sync.mode: must be "automatic" or "manual", got "auto"`,
				`applications/flaskapp/application.yaml:23:14: spec.targets[0].sync.drift: must be "selfHeal" or "report", got "selfheal"`,
			},
		},
		"missing account": {
			files: with(map[string]string{appFile: replace(appYAML, "account: local", "account: prod")}),
			want:  []string{`applications/flaskapp/application.yaml:15:14: spec.targets[0].account: account "prod" not found (no accounts/prod.yaml)`},
		},
		"namespace not allowed by the account": {
			files: with(map[string]string{appFile: replace(appYAML, "namespace: flaskapp-testing", "namespace: kube-system")}),
			want:  []string{`applications/flaskapp/application.yaml:16:16: spec.targets[0].namespace: namespace "kube-system" is not allowed by account "local" (allowed: flaskapp-testing)`},
		},
		"path missing": {
			files: with(map[string]string{appFile: replace(appYAML, "path: testing", "path: staging")}),
			want:  []string{"applications/flaskapp/application.yaml:17:11: spec.targets[0].path: directory applications/flaskapp/staging does not exist"},
		},
		"path not set": {
			files: with(map[string]string{appFile: replace(appYAML, "    path: testing\n", "")}),
			want:  []string{"applications/flaskapp/application.yaml:14:5: spec.targets[0].path: required: the manifest directory, relative to applications/flaskapp"},
		},
		"path escaping the repo": {
			files: with(map[string]string{appFile: replace(appYAML, "path: testing", "path: testing/../../../../etc")}),
			want:  []string{`applications/flaskapp/application.yaml:17:11: spec.targets[0].path: "testing/../../../../etc" escapes the repository`},
		},
		"absolute path": {
			files: with(map[string]string{appFile: replace(appYAML, "path: testing", "path: /etc")}),
			want:  []string{`applications/flaskapp/application.yaml:17:11: spec.targets[0].path: must be relative to applications/flaskapp, got "/etc"`},
		},
		"path is the application directory": {
			files: with(map[string]string{appFile: replace(appYAML, "path: testing", "path: .")}),
			want:  []string{"applications/flaskapp/application.yaml:17:11: spec.targets[0].path: must not be an application directory"},
		},
		"path is a file": {
			files: with(map[string]string{appFile: replace(appYAML, "path: testing", "path: testing/deployment.yaml")}),
			want:  []string{"applications/flaskapp/application.yaml:17:11: spec.targets[0].path: applications/flaskapp/testing/deployment.yaml is not a directory"},
		},
		"path without manifests": {
			files: with(map[string]string{
				"applications/flaskapp/empty/README.md":  "no manifests\n",
				"applications/flaskapp/empty/sub/x.yaml": "kind: ConfigMap\n",
				appFile:                                  replace(appYAML, "path: testing", "path: empty"),
			}),
			want: []string{"applications/flaskapp/application.yaml:17:11: spec.targets[0].path: applications/flaskapp/empty holds no kustomization.yaml and no .yaml, .yml or .json manifests"},
		},
		"duplicate target": {
			files: with(map[string]string{appFile: appYAML + "  - name: testing\n    account: local\n    namespace: flaskapp-testing\n    path: testing\n"}),
			want:  []string{`applications/flaskapp/application.yaml:24:11: spec.targets[1].name: duplicate target "testing" (also at line 14)`},
		},
		"project with an unknown application": {
			files: with(map[string]string{projectFile: replace(projectYAML, "[flaskapp]", "[flaskapp, billing]")}),
			want:  []string{`projects/cd-demo.yaml:7:28: spec.applications[1]: application "billing" not found (no applications/billing/application.yaml)`},
		},
		"application in two projects": {
			files: with(map[string]string{"projects/other.yaml": replace(projectYAML, "name: cd-demo", "name: other")}),
			want:  []string{`projects/other.yaml:7:18: spec.applications[0]: application "flaskapp" is already bound to project "cd-demo" (projects/cd-demo.yaml)`},
		},
		"application directory without application.yaml": {
			files: with(map[string]string{"applications/billing/prod/deployment.yaml": deploymentYAML}),
			want:  []string{"applications/billing: missing application.yaml"},
		},
		"account with the .yml extension": {
			files: with(map[string]string{"accounts/prod.yml": accountYAML}),
			want:  []string{"accounts/prod.yml: an Account must be in a file named <name>.yaml"},
		},
		"a broken account does not also fail its references": {
			files: with(map[string]string{accountFile: "spec: [\n"}),
			want:  []string{"accounts/local.yaml:1: invalid YAML:"},
		},
		"syntax error on the first line": {
			files: with(map[string]string{projectFile: "kind: Project: x\n"}),
			// yaml.v3 names no line for problems on the first line.
			want: []string{"projects/cd-demo.yaml: invalid YAML: mapping values are not allowed in this context"},
		},
		"document is not a mapping": {
			files: with(map[string]string{projectFile: "- cd-demo\n"}),
			want:  []string{"projects/cd-demo.yaml:1:1: must be a mapping, not a list"},
		},
		"file too large": {
			files: with(map[string]string{projectFile: projectYAML + "#" + strings.Repeat("x", maxFileSize) + "\n"}),
			want:  []string{"projects/cd-demo.yaml: file is larger than 1048576 bytes"},
		},
		"path with backslashes": {
			files: with(map[string]string{appFile: replace(appYAML, "path: testing", `path: 'testing\sub'`)}),
			want:  []string{`applications/flaskapp/application.yaml:17:11: spec.targets[0].path: must use '/' as separator, got "testing\\sub"`},
		},
		"path is the repo root": {
			files: with(map[string]string{appFile: replace(appYAML, "path: testing", "path: ../..")}),
			want:  []string{"applications/flaskapp/application.yaml:17:11: spec.targets[0].path: must not be the repository root"},
		},
		"integer too large": {
			files: with(map[string]string{appFile: replace(appYAML, "instancePort: 8080", "instancePort: 0x7fffffffffffffffff")}),
			want:  []string{"applications/flaskapp/application.yaml:10:17: spec.instancePort: must be an integer, not"},
		},
		"all errors across files, sorted": {
			files: with(map[string]string{
				accountFile: replace(accountYAML, "environment: testing", "environment: [testing]"),
				projectFile: replace(projectYAML, "description: Demo project", "descripton: Demo project"),
				appFile: replace(replace(appYAML,
					"mode: automatic", "mode: manual\n      wait: true"),
					"account: local", "account: remote"),
			}),
			want: []string{
				"accounts/local.yaml:11:16: spec.environment: must be a string, not a list",
				`applications/flaskapp/application.yaml:15:14: spec.targets[0].account: account "remote" not found`,
				"applications/flaskapp/application.yaml:22:7: spec.targets[0].sync.wait: unknown field",
				"projects/cd-demo.yaml:6:3: spec.descripton: unknown field",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo, err := Load(mapFS(tc.files))
			if repo != nil {
				t.Errorf("Load returned a repo with errors")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load error = %v, want an ErrorList", err)
			}
			got := make([]string, len(list))
			for i, e := range list {
				got[i] = e.Error()
				if i < len(tc.want) && strings.HasPrefix(got[i], tc.want[i]) {
					got[i] = tc.want[i]
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(list, Validate(mapFS(tc.files))); diff != "" {
				t.Errorf("Validate differs from Load (-load +validate):\n%s", diff)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"full":      {&Error{File: "accounts/x.yaml", Line: 3, Column: 5, Field: "spec.namespaces[0]", Msg: "must be a DNS-1123 label"}, "accounts/x.yaml:3:5: spec.namespaces[0]: must be a DNS-1123 label"},
		"no field":  {&Error{File: "accounts/x.yaml", Line: 12, Column: 1, Msg: "more than one YAML document"}, "accounts/x.yaml:12:1: more than one YAML document"},
		"no column": {&Error{File: "a.yaml", Line: 2, Msg: "invalid YAML"}, "a.yaml:2: invalid YAML"},
		"file only": {&Error{File: "applications/x", Msg: "missing application.yaml"}, "applications/x: missing application.yaml"},
		"list":      {ErrorList{{File: "a.yaml", Line: 1, Column: 1, Msg: "one"}, {File: "b.yaml", Msg: "two"}}, "a.yaml:1:1: one\nb.yaml: two"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.err.Error()); diff != "" {
				t.Errorf("Error() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
