package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The complete pipeline, as in docs/config.md, with every field set, and
// the pipeline it triggers on and runs.
const (
	pipelineFile = "applications/flaskapp/pipelines/deployTesting.yaml"
	pipelineYAML = `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: deployTesting
spec:
  description: Deploy to testing
  disabled: true
  execution:
    concurrent: true
    keepWaiting: true
    allowRestartRunning: false
  expectedArtifacts:
  - id: flaskapp-image
    type: docker/image
    repository: 127.0.0.1:5000/team/flaskapp
    kustomizeName: flaskapp
    tagRegex: '^v\d+$'
    usePriorExecution: true
    default: 127.0.0.1:5000/team/flaskapp:v1
  triggers:
  - type: docker
    artifacts: [flaskapp-image]
  - type: git
    repository: acme/flaskapp
    branch: release
    paths: ["applications/flaskapp/**"]
    enabled: false
  - type: cron
    schedule: "0 3 * * *"
    timeZone: Asia/Shanghai
  - type: manual
  - type: pipeline
    application: flaskapp
    pipeline: build
    statuses: [succeeded, failed]
  - type: webhook
    source: my-hook
    payload: {"ref": "refs/heads/main", "repository.name": "flask.*"}
  parameters:
  - name: replicas
    label: Replicas
    required: true
    default: "2"
    options: ["1", "2", "3"]
  - name: env
  notifications:
  - type: webhook
    url: http://127.0.0.1:9999/hook
    when: [failed, judgment]
  stages:
  - id: check
    name: Check the inputs
    type: checkPreconditions
    expressions:
    - parameters.env == "testing"
    - artifacts["flaskapp-image"].tag matches "^v"
  - id: deploy
    type: deployManifest
    target: testing
    artifacts: [flaskapp-image]
    manifest: |
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: flaskapp-extra
    file: extra.yaml
    skipWaitHealthy: true
    timeout: 10m
    onFailure: haltBranch
  - id: judge
    type: manualJudgment
    instructions: Is testing fine?
  - id: scale
    type: scaleManifest
    dependsOn: [deploy]
    target: testing
    objectName: flaskapp
    replicas: 0
  - id: patch
    type: patchManifest
    dependsOn: [judge, scale]
    target: testing
    kind: StatefulSet
    objectName: flaskapp
    patch: |
      spec:
        replicas: 3
  - id: undo
    type: undoRollout
    target: testing
    revisions: 2
    onFailure: ignore
  - id: pause
    type: wait
    duration: 30s
  - id: notify
    type: webhook
    url: https://example.com/deploy
    method: PUT
    headers: {Authorization: Bearer x}
    body: '{"app": "flaskapp"}'
    successStatuses: [200, 202]
    statusUrl: https://example.com/status
    statusField: state
    successValues: [done]
    failureValues: [error]
  - id: job
    type: runJob
    target: testing
    manifest: |
      apiVersion: batch/v1
      kind: Job
      metadata:
        generateName: migrate-
  - id: child
    type: pipeline
    pipeline: build
    parameters: {env: testing}
    skipWait: true
  - id: cleanup
    type: deleteManifest
    dependsOn: []
    target: testing
    kind: Service
    objectName: flaskapp-old
`
	buildFile = "applications/flaskapp/pipelines/build.yaml"
	buildYAML = `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: build
spec:
  parameters:
  - name: env
  stages:
  - id: wait
    type: wait
    duration: 1s
`
)

// src is the position of the first occurrence of text in the YAML of file.
func src(file, yaml, text string) Source {
	i := strings.Index(yaml, text)
	if i < 0 {
		panic("src: " + text + " not found")
	}
	line := strings.Count(yaml[:i], "\n") + 1
	col := i - strings.LastIndex(yaml[:i], "\n")
	return Source{File: file, Line: line, Column: col}
}

func TestLoadPipeline(t *testing.T) {
	at := func(text string) Source { return src(pipelineFile, pipelineYAML, text) }
	want := &Pipeline{
		Name:        "deployTesting",
		Application: "flaskapp",
		Description: "Deploy to testing",
		Disabled:    true,
		Execution:   ExecutionOptions{Concurrent: true, KeepWaiting: true},
		ExpectedArtifacts: []ExpectedArtifact{{
			ID: "flaskapp-image", Type: ArtifactDockerImage,
			Repository: "127.0.0.1:5000/team/flaskapp", KustomizeName: "flaskapp",
			TagRegex: `^v\d+$`, UsePriorExecution: true, Default: "127.0.0.1:5000/team/flaskapp:v1",
			Source: at("id: flaskapp-image"),
		}},
		Triggers: []Trigger{
			{Type: TriggerDocker, Enabled: true, Artifacts: []string{"flaskapp-image"}, Pos: at("type: docker\n")},
			{Type: TriggerGit, Repository: "acme/flaskapp", Branch: "release", Paths: []string{"applications/flaskapp/**"}, Pos: at("type: git")},
			{Type: TriggerCron, Enabled: true, Schedule: "0 3 * * *", TimeZone: "Asia/Shanghai", Pos: at("type: cron")},
			{Type: TriggerManual, Enabled: true, Pos: at("type: manual")},
			{Type: TriggerPipeline, Enabled: true, Application: "flaskapp", Pipeline: "build", Statuses: []string{"succeeded", "failed"}, Pos: at("type: pipeline")},
			{Type: TriggerWebhook, Enabled: true, WebhookSource: "my-hook",
				Payload: map[string]string{"ref": "refs/heads/main", "repository.name": "flask.*"}, Pos: at("type: webhook")},
		},
		Parameters: []Parameter{
			{Name: "replicas", Label: "Replicas", Required: true, Default: "2", Options: []string{"1", "2", "3"}, Source: at("name: replicas")},
			{Name: "env", Source: at("name: env")},
		},
		Notifications: []Notification{{
			Type: "webhook", URL: "http://127.0.0.1:9999/hook", When: []string{"failed", "judgment"},
			Source: at("type: webhook\n    url"),
		}},
		Stages: []Stage{
			{ID: "check", Name: "Check the inputs", Type: StageCheckPreconditions, OnFailure: HaltPipeline,
				Expressions: []string{`parameters.env == "testing"`, `artifacts["flaskapp-image"].tag matches "^v"`},
				Source:      at("id: check")},
			{ID: "deploy", Name: "deploy", Type: StageDeployManifest, DependsOn: []string{"check"},
				Timeout: 10 * time.Minute, OnFailure: HaltBranch, Target: "testing", Artifacts: []string{"flaskapp-image"},
				Manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flaskapp-extra\n", File: "extra.yaml",
				SkipWaitHealthy: true, Source: at("id: deploy")},
			{ID: "judge", Name: "judge", Type: StageManualJudgment, DependsOn: []string{"deploy"}, OnFailure: HaltPipeline,
				Instructions: "Is testing fine?", Source: at("id: judge")},
			{ID: "scale", Name: "scale", Type: StageScaleManifest, DependsOn: []string{"deploy"}, OnFailure: HaltPipeline,
				Target: "testing", Kind: "Deployment", ObjectName: "flaskapp", Replicas: 0, Source: at("id: scale")},
			{ID: "patch", Name: "patch", Type: StagePatchManifest, DependsOn: []string{"judge", "scale"}, OnFailure: HaltPipeline,
				Target: "testing", Kind: "StatefulSet", ObjectName: "flaskapp", Patch: "spec:\n  replicas: 3\n", Source: at("id: patch")},
			{ID: "undo", Name: "undo", Type: StageUndoRollout, DependsOn: []string{"patch"}, OnFailure: Ignore,
				Target: "testing", Revisions: 2, Source: at("id: undo")},
			{ID: "pause", Name: "pause", Type: StageWait, DependsOn: []string{"undo"}, OnFailure: HaltPipeline,
				Duration: 30 * time.Second, Source: at("id: pause")},
			{ID: "notify", Name: "notify", Type: StageWebhook, DependsOn: []string{"pause"}, OnFailure: HaltPipeline,
				URL: "https://example.com/deploy", Method: "PUT", Headers: map[string]string{"Authorization": "Bearer x"},
				Body: `{"app": "flaskapp"}`, SuccessStatuses: []int{200, 202}, StatusURL: "https://example.com/status",
				StatusField: "state", SuccessValues: []string{"done"}, FailureValues: []string{"error"}, Source: at("id: notify")},
			{ID: "job", Name: "job", Type: StageRunJob, DependsOn: []string{"notify"}, OnFailure: HaltPipeline,
				Target: "testing", Manifest: "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n", Source: at("id: job")},
			{ID: "child", Name: "child", Type: StagePipeline, DependsOn: []string{"job"}, OnFailure: HaltPipeline,
				Application: "flaskapp", Pipeline: "build", Parameters: map[string]string{"env": "testing"}, SkipWait: true,
				Source: at("id: child")},
			{ID: "cleanup", Name: "cleanup", Type: StageDeleteManifest, OnFailure: HaltPipeline,
				Target: "testing", Kind: "Service", ObjectName: "flaskapp-old", Source: at("id: cleanup")},
		},
		Source: Source{File: pipelineFile, Line: 1, Column: 1},
	}

	repo, err := Load(mapFS(with(map[string]string{pipelineFile: pipelineYAML, buildFile: buildYAML})))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, ok := repo.Pipeline("flaskapp", "deployTesting")
	if !ok {
		t.Fatal("Pipeline(flaskapp, deployTesting) not found")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pipeline mismatch (-want +got):\n%s", diff)
	}
	var names []string
	for _, p := range repo.Applications["flaskapp"].Pipelines {
		names = append(names, p.Name)
	}
	if diff := cmp.Diff([]string{"build", "deployTesting"}, names); diff != "" {
		t.Errorf("pipelines not sorted by name (-want +got):\n%s", diff)
	}
}

func TestPipelineDefaults(t *testing.T) {
	const minimal = `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: deployTesting
spec:
  expectedArtifacts:
  - id: image
    repository: 127.0.0.1:5000/team/flaskapp
  triggers:
  - type: docker
    artifacts: [image]
  - type: pipeline
    pipeline: build
  - type: cron
    schedule: "@every 10s"
  - type: git
  notifications:
  - type: webhook
    url: https://example.com/hook
  stages:
  - id: first
    type: deployManifest
    target: testing
    artifacts: [image]
  - id: second
    type: undoRollout
    target: testing
  - id: third
    type: webhook
    url: http://example.com/x
  - id: parallel
    type: scaleManifest
    dependsOn: []
    target: testing
    objectName: flaskapp
    replicas: 1
  - id: last
    type: pipeline
    pipeline: build
    dependsOn:
`
	at := func(text string) Source { return src(pipelineFile, minimal, text) }
	want := &Pipeline{
		Name:        "deployTesting",
		Application: "flaskapp",
		// From the application's allowConcurrent and allowRestartRunning.
		Execution: ExecutionOptions{Concurrent: true, AllowRestartRunning: true},
		ExpectedArtifacts: []ExpectedArtifact{{ID: "image", Type: ArtifactDockerImage,
			Repository: "127.0.0.1:5000/team/flaskapp", KustomizeName: "127.0.0.1:5000/team/flaskapp", Source: at("id: image")}},
		Triggers: []Trigger{
			{Type: TriggerDocker, Enabled: true, Artifacts: []string{"image"}, Pos: at("type: docker")},
			{Type: TriggerPipeline, Enabled: true, Application: "flaskapp", Pipeline: "build", Statuses: []string{"succeeded"}, Pos: at("type: pipeline")},
			{Type: TriggerCron, Enabled: true, Schedule: "@every 10s", TimeZone: "UTC", Pos: at("type: cron")},
			{Type: TriggerGit, Enabled: true, Branch: "main", Pos: at("type: git")},
		},
		Notifications: []Notification{{Type: "webhook", URL: "https://example.com/hook",
			When: []string{"starting", "succeeded", "failed", "canceled", "judgment"}, Source: at("type: webhook\n    url")}},
		Stages: []Stage{
			{ID: "first", Name: "first", Type: StageDeployManifest, OnFailure: HaltPipeline, Target: "testing",
				Artifacts: []string{"image"}, Source: at("id: first")},
			{ID: "second", Name: "second", Type: StageUndoRollout, DependsOn: []string{"first"}, OnFailure: HaltPipeline,
				Target: "testing", Revisions: 1, Source: at("id: second")},
			{ID: "third", Name: "third", Type: StageWebhook, DependsOn: []string{"second"}, OnFailure: HaltPipeline,
				URL: "http://example.com/x", Method: "POST", Source: at("id: third")},
			{ID: "parallel", Name: "parallel", Type: StageScaleManifest, OnFailure: HaltPipeline, Target: "testing",
				Kind: "Deployment", ObjectName: "flaskapp", Replicas: 1, Source: at("id: parallel")},
			// dependsOn with no value is absent: the stage before.
			{ID: "last", Name: "last", Type: StagePipeline, DependsOn: []string{"parallel"}, OnFailure: HaltPipeline,
				Application: "flaskapp", Pipeline: "build", Source: at("id: last")},
		},
		Source: Source{File: pipelineFile, Line: 1, Column: 1},
	}
	app := replace(appYAML, "allowRestartRunning: false\n  allowConcurrent: false", "allowRestartRunning: true\n  allowConcurrent: true")
	repo, err := Load(mapFS(with(map[string]string{appFile: app, pipelineFile: minimal, buildFile: buildYAML})))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, _ := repo.Pipeline("flaskapp", "deployTesting")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pipeline mismatch (-want +got):\n%s", diff)
	}
}

func TestPipelineExecutionOverridesApplication(t *testing.T) {
	const p = "apiVersion: slipway.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: deployTesting\nspec:\n  execution:\n    concurrent: false\n"
	app := replace(appYAML, "allowRestartRunning: false\n  allowConcurrent: false", "allowRestartRunning: true\n  allowConcurrent: true")
	repo, err := Load(mapFS(with(map[string]string{appFile: app, pipelineFile: p})))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, _ := repo.Pipeline("flaskapp", "deployTesting")
	if want := (ExecutionOptions{Concurrent: false, AllowRestartRunning: true}); got.Execution != want {
		t.Errorf("Execution = %+v, want %+v", got.Execution, want)
	}
}

// errPipeline is a small valid pipeline for the error cases; they edit it
// or append to it (a stage appended starts at line 17).
const errPipeline = `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: deployTesting
spec:
  expectedArtifacts:
  - id: image
    repository: 127.0.0.1:5000/team/flaskapp
  stages:
  - id: deploy
    type: deployManifest
    target: testing
    artifacts: [image]
  - id: verify
    type: checkPreconditions
    expressions: ['stages.deploy.status == "succeeded"']
`

func TestPipelineErrors(t *testing.T) {
	const f = pipelineFile + ":"
	// withTriggers puts triggers before the stages of errPipeline; the
	// first trigger is at line 7.
	withTriggers := func(triggers string) string {
		return replace(errPipeline, "  expectedArtifacts:\n", "  triggers:\n"+triggers+"  expectedArtifacts:\n")
	}
	tests := map[string]struct {
		files map[string]string
		want  []string
	}{
		"dependency cycle": {
			files: map[string]string{pipelineFile: replace(errPipeline, "  - id: deploy\n", "  - id: deploy\n    dependsOn: [verify]\n")},
			want:  []string{f + "11:16: spec.stages[0].dependsOn: cycle deploy → verify → deploy"},
		},
		"longer cycle, reported once": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: a\n    type: wait\n    duration: 1s\n    dependsOn: [c]\n  - id: b\n    type: wait\n    duration: 1s\n  - id: c\n    type: wait\n    duration: 1s\n"},
			want:  []string{f + "20:16: spec.stages[2].dependsOn: cycle a → c → b → a"},
		},
		"depends on itself or on nothing": {
			files: map[string]string{pipelineFile: replace(errPipeline, "  - id: verify\n", "  - id: verify\n    dependsOn: [verify, deplo, deploy, deploy]\n")},
			want: []string{
				f + "15:17: spec.stages[1].dependsOn[0]: a stage cannot depend on itself",
				f + `15:25: spec.stages[1].dependsOn[1]: stage "deplo" not found in this pipeline (known: deploy, verify)`,
				f + `15:40: spec.stages[1].dependsOn[3]: duplicate dependency "deploy" (also at line 15)`,
			},
		},
		"unknown stage type": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: rollout\n    type: deploy\n    target: testing\n"},
			want: []string{f + `18:11: spec.stages[2].type: unknown stage type "deploy"; known stage types are ` +
				"checkPreconditions, deleteManifest, deployManifest, manualJudgment, patchManifest, pipeline, runJob, scaleManifest, undoRollout, wait, webhook"},
		},
		"missing stage type": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: rollout\n"},
			want: []string{f + "17:5: spec.stages[2].type: required; known stage types are " +
				"checkPreconditions, deleteManifest, deployManifest, manualJudgment, patchManifest, pipeline, runJob, scaleManifest, undoRollout, wait, webhook"},
		},
		"stage type that is not a string": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: rollout\n    type: 3\n"},
			want:  []string{f + "18:11: spec.stages[2].type: must be a string, not an integer"},
		},
		"field of another stage type": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: pause\n    type: wait\n    duration: 1m\n    target: testing\n"},
			want:  []string{f + "20:5: spec.stages[2].target: unknown field; known fields are dependsOn, duration, id, name, onFailure, timeout, type"},
		},
		"unknown artifact id": {
			files: map[string]string{pipelineFile: replace(errPipeline, "artifacts: [image]", "artifacts: [image, web]")},
			want:  []string{f + `13:24: spec.stages[0].artifacts[1]: artifact "web" is not an expected artifact of this pipeline (known: image)`},
		},
		"unknown target": {
			files: map[string]string{pipelineFile: replace(errPipeline, "target: testing", "target: prod")},
			want:  []string{f + `12:13: spec.stages[0].target: target "prod" is not a target of application "flaskapp" (known: testing)`},
		},
		"missing referenced pipeline": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: child\n    type: pipeline\n    pipeline: build\n"},
			want:  []string{f + `19:15: spec.stages[2].pipeline: pipeline "build" not found (no applications/flaskapp/pipelines/build.yaml)`},
		},
		"missing referenced application": {
			files: map[string]string{pipelineFile: withTriggers("  - type: pipeline\n    application: billing\n    pipeline: build\n")},
			want:  []string{f + `8:18: spec.triggers[0].application: application "billing" not found (no applications/billing/application.yaml)`},
		},
		"pipeline naming itself": {
			files: map[string]string{pipelineFile: withTriggers("  - type: pipeline\n    pipeline: deployTesting\n")},
			want:  []string{f + "8:15: spec.triggers[0].pipeline: a pipeline trigger cannot name its own pipeline"},
		},
		"unknown parameter of the child pipeline": {
			files: map[string]string{buildFile: buildYAML,
				pipelineFile: errPipeline + "  - id: child\n    type: pipeline\n    pipeline: build\n    parameters: {env: testing, replicas: '2'}\n"},
			want: []string{f + `20:42: spec.stages[2].parameters.replicas: pipeline flaskapp/build has no parameter "replicas" (known: env)`},
		},
		"bad cron schedule": {
			files: map[string]string{pipelineFile: withTriggers("  - type: cron\n    schedule: '0 3 * *'\n")},
			want:  []string{f + "8:15: spec.triggers[0].schedule: not a cron schedule: expected exactly 5 fields, found 4: [0 3 * *]"},
		},
		"bad time zone": {
			files: map[string]string{pipelineFile: withTriggers("  - type: cron\n    schedule: '@hourly'\n    timeZone: Mars/Olympus\n")},
			want:  []string{f + `9:15: spec.triggers[0].timeZone: unknown time zone "Mars/Olympus"; want an IANA name such as UTC or Asia/Shanghai`},
		},
		"docker trigger without artifacts": {
			files: map[string]string{pipelineFile: withTriggers("  - type: docker\n  - type: docker\n    artifacts: [nope]\n")},
			want: []string{
				f + "7:5: spec.triggers[0].artifacts: required: the ids of the expected artifacts a pushed image must match",
				f + `9:17: spec.triggers[1].artifacts[0]: artifact "nope" is not an expected artifact of this pipeline (known: image)`,
			},
		},
		"field of another trigger type": {
			files: map[string]string{pipelineFile: withTriggers("  - type: manual\n    schedule: '@hourly'\n")},
			want:  []string{f + "8:5: spec.triggers[0].schedule: unknown field; known fields are enabled, type"},
		},
		"bad webhook trigger": {
			files: map[string]string{pipelineFile: withTriggers("  - type: webhook\n    source: My_Hook\n    payload: {ref: '(', n: 1}\n")},
			want: []string{
				f + `8:13: spec.triggers[0].source: must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), got "My_Hook"`,
				f + "9:20: spec.triggers[0].payload.ref: not a regular expression: error parsing regexp: missing closing ): `(`",
				f + "9:28: spec.triggers[0].payload.n: must be a string, not an integer",
			},
		},
		"syntax error in an expression": {
			files: map[string]string{pipelineFile: replace(errPipeline, `['stages.deploy.status == "succeeded"']`, `['stages.deploy.status ==', 'parameters.env']`)},
			want: []string{
				f + "16:19: spec.stages[1].expressions[0]: invalid expression: unexpected token EOF (column 23)",
				f + "16:46: spec.stages[1].expressions[1]: invalid expression: expected bool, but got string",
			},
		},
		"expression naming what the pipeline lacks": {
			files: map[string]string{pipelineFile: replace(errPipeline, `'stages.deploy.status == "succeeded"'`,
				`'stages.deploi.status == "succeeded" && parameters.env == "x" && artifacts["image"].tag != ""'`)},
			want: []string{
				f + `16:19: spec.stages[1].expressions[0]: stages.deploi: this pipeline has no stage "deploi" (known: deploy, verify)`,
				f + `16:19: spec.stages[1].expressions[0]: parameters.env: this pipeline has no parameter "env" (there are none)`,
			},
		},
		"deleteManifest without prune": {
			files: map[string]string{
				appFile:      replace(appYAML, "prune: true", "prune: false"),
				pipelineFile: errPipeline + "  - id: cleanup\n    type: deleteManifest\n    target: testing\n    objectName: old\n",
			},
			want: []string{f + `19:13: spec.stages[2].target: deleteManifest needs target "testing" to prune (sync.prune: true in applications/flaskapp/application.yaml): without it the object stays in the cluster after it leaves Git`},
		},
		"artifacts bound to a target without a kustomization": {
			files: map[string]string{kustomizationFile: "", pipelineFile: errPipeline},
			want:  []string{f + `13:16: spec.stages[0].artifacts: binding artifacts needs a kustomization in target "testing"'s directory applications/flaskapp/testing (kustomization.yaml, kustomization.yml or Kustomization)`},
		},
		"duplicate stage id": {
			files: map[string]string{pipelineFile: replace(errPipeline, "id: verify", "id: deploy")},
			want:  []string{f + `14:9: spec.stages[1].id: duplicate stage id "deploy" (also at line 10)`},
		},
		"parameter default not in options": {
			files: map[string]string{pipelineFile: replace(errPipeline, "  stages:\n", "  parameters:\n  - name: replicas\n    default: \"5\"\n    options: [\"1\", \"2\"]\n  - name: replicas\n  - name: 2x\n  stages:\n")},
			want: []string{
				f + `11:14: spec.parameters[0].default: "5" is not one of the options (1, 2)`,
				f + `13:11: spec.parameters[1].name: duplicate parameter "replicas" (also at line 10)`,
				f + `14:11: spec.parameters[2].name: must be an identifier (letters, digits and '_', not starting with a digit), got "2x"`,
			},
		},
		"file name mismatch": {
			files: map[string]string{pipelineFile: replace(errPipeline, "name: deployTesting", "name: deploy-testing")},
			want:  []string{f + `4:9: metadata.name: must equal the file name "deployTesting"`},
		},
		"invalid pipeline name": {
			files: map[string]string{"applications/flaskapp/pipelines/deploy.testing.yaml": replace(errPipeline, "name: deployTesting", "name: deploy.testing")},
			want: []string{
				"applications/flaskapp/pipelines/deploy.testing.yaml: the file name is the pipeline's name, which must start with a letter and hold only letters, digits, '_' and '-' (at most 63)",
			},
		},
		"bad expected artifacts": {
			files: map[string]string{pipelineFile: replace(errPipeline, "    repository: 127.0.0.1:5000/team/flaskapp\n",
				"    repository: 127.0.0.1:5000/team/flaskapp\n    tag: v1\n    semver: '>=1'\n    default: 127.0.0.1:5000/team/flaskapp:v2\n"+
					"  - id: web\n    type: docker\n    repository: Web:latest\n    digest: sha256:abc\n"+
					"  - id: api\n    repository: reg/api\n    tagRegex: ^v\n    default: reg/api:latest\n")},
			want: []string{
				f + "7:5: spec.expectedArtifacts[0]: set at most one of tag, tagRegex, semver and digest (found semver, tag)",
				f + `11:14: spec.expectedArtifacts[0].default: must have the tag "v1"`,
				f + `13:11: spec.expectedArtifacts[1].type: must be "docker/image", got "docker"`,
				f + `14:17: spec.expectedArtifacts[1].repository: must be a repository without tag or digest, in lower case, got "Web:latest"`,
				f + `15:13: spec.expectedArtifacts[1].digest: must be sha256: and 64 lowercase hex digits, got "sha256:abc"`,
				f + `19:14: spec.expectedArtifacts[2].default: tag "latest" does not match tagRegex ^v`,
			},
		},
		"bad stages of every kind": {
			files: map[string]string{pipelineFile: errPipeline +
				"  - id: 9lives\n    type: wait\n    duration: 0s\n    timeout: -1s\n    onFailure: halt\n" + // 17
				"  - id: scale\n    type: scaleManifest\n    target: testing\n    replicas: -1\n" + // 22
				"  - id: patch\n    type: patchManifest\n    target: testing\n    objectName: Web\n    patch: '- a'\n" + // 26
				"  - id: hook\n    type: webhook\n    url: ftp://x\n    method: post\n    headers: {'a b': c}\n    successStatuses: [99]\n    statusField: s\n" + // 31
				"  - id: job\n    type: runJob\n    target: testing\n    manifest: 'kind: Pod'\n" + // 38
				"  - id: extra\n    type: deployManifest\n    target: testing\n    manifest: 'apiVersion: v1'\n    file: ../x.yaml\n" + // 42
				"  - id: check\n    type: checkPreconditions\n"}, // 47
			want: []string{
				f + `17:9: spec.stages[2].id: must start with a letter and hold only letters, digits, '_' and '-' (at most 63), got "9lives"`,
				f + "19:15: spec.stages[2].duration: must be positive, got 0s",
				f + "20:14: spec.stages[2].timeout: must be positive, got -1s; leave it out for the stage type's default",
				f + `21:16: spec.stages[2].onFailure: must be "haltPipeline", "haltBranch" or "ignore", got "halt"`,
				f + "22:5: spec.stages[3].objectName: required: the name of the object",
				f + "25:15: spec.stages[3].replicas: must be at least 0, got -1",
				f + `29:17: spec.stages[4].objectName: must be a Kubernetes object name (a DNS-1123 subdomain), got "Web"`,
				f + "30:12: spec.stages[4].patch: must be a YAML mapping",
				f + `33:10: spec.stages[5].url: must be an absolute http or https URL, got "ftp://x"`,
				f + `34:13: spec.stages[5].method: must be one of GET, POST, PUT, PATCH, DELETE, got "post"`,
				f + "35:22: spec.stages[5].headers.a b: not an HTTP header name",
				f + "36:23: spec.stages[5].successStatuses[0]: must be an HTTP status between 100 and 599, got 99",
				f + "37:18: spec.stages[5].statusField: only with statusUrl: the stage polls statusUrl for it",
				f + "41:15: spec.stages[6].manifest: must have apiVersion and kind",
				f + "45:15: spec.stages[7].manifest: must have apiVersion and kind",
				f + `46:11: spec.stages[7].file: must be a plain file name such as extra.yaml, got "../x.yaml"`,
				f + "47:5: spec.stages[8].expressions: required: at least one expression that must be true",
			},
		},
		"runJob of another kind, in another namespace": {
			files: map[string]string{pipelineFile: errPipeline +
				"  - id: job\n    type: runJob\n    target: testing\n    manifest: |\n      apiVersion: v1\n      kind: Pod\n      metadata: {name: x}\n" +
				"  - id: job2\n    type: runJob\n    target: testing\n    manifest: |\n      apiVersion: batch/v1\n      kind: Job\n      metadata: {name: x, namespace: default}\n"},
			want: []string{
				f + "20:15: spec.stages[2].manifest: must be a Job of batch/v1, got v1 Pod",
				f + `27:15: spec.stages[3].manifest: the Job runs in target "testing"'s namespace "flaskapp-testing"; leave metadata.namespace out or set it to that, got "default"`,
			},
		},
		"manifest that is not YAML": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: extra\n    type: deployManifest\n    target: testing\n    manifest: 'a: [b'\n"},
			want: []string{
				f + "17:5: spec.stages[2].file: required with manifest: the file to write it to in the target's directory, such as extra.yaml",
				f + "20:15: spec.stages[2].manifest: invalid YAML: did not find expected ',' or ']'",
			},
		},
		"webhook polling without its fields": {
			files: map[string]string{pipelineFile: errPipeline + "  - id: hook\n    type: webhook\n    url: http://x/\n    statusUrl: http://x/status\n"},
			want: []string{
				f + "17:5: spec.stages[2].statusField: required with statusUrl: the dotted path of the JSON field to read",
				f + "17:5: spec.stages[2].successValues: required with statusUrl: the values of statusField that end the stage successfully",
			},
		},
		"bad notification": {
			files: map[string]string{pipelineFile: replace(errPipeline, "  stages:\n", "  notifications:\n  - url: /hook\n    when: [failed, done]\n  stages:\n")},
			want: []string{
				f + `10:5: spec.notifications[0].type: required; want "webhook"`,
				f + `10:10: spec.notifications[0].url: must be an absolute http or https URL, got "/hook"`,
				f + `11:20: spec.notifications[0].when[1]: must be one of starting, succeeded, failed, canceled, judgment, got "done"`,
			},
		},
		"pipeline files with other extensions, and directories": {
			files: map[string]string{
				"applications/flaskapp/pipelines/ci.yml":         errPipeline,
				"applications/flaskapp/pipelines/old/ci.yaml":    errPipeline,
				"applications/flaskapp/pipelines/README.md":      "ignored\n",
				"applications/flaskapp/pipelines/settings.json":  "{}",
				"applications/billing/pipelines/deploy.yaml":     errPipeline,
				"applications/billing/deploy/deployment.yaml":    deploymentYAML,
				"applications/billing/pipelines/deploy.txt":      "ignored\n",
				"applications/billing/pipelines/.hidden.yml.bak": "ignored\n",
			},
			want: []string{
				"applications/billing: missing application.yaml",
				"applications/flaskapp/pipelines/ci.yml: a Pipeline must be in a file named <name>.yaml",
				"applications/flaskapp/pipelines/old: is a directory; a pipeline is a file <name>.yaml directly in applications/flaskapp/pipelines",
				"applications/flaskapp/pipelines/settings.json: a Pipeline must be in a file named <name>.yaml",
			},
		},
		"pipelines is a file": {
			files: map[string]string{"applications/flaskapp/pipelines": "x"},
			want:  []string{"applications/flaskapp/pipelines: must be a directory holding one <name>.yaml file per pipeline"},
		},
		"wrong kind, spec not decoded": {
			files: map[string]string{pipelineFile: replace(errPipeline, "kind: Pipeline", "kind: Application")},
			want:  []string{f + `2:7: kind: must be "Pipeline" in applications/flaskapp/pipelines`},
		},
		"broken application: pipelines still checked, but not against it": {
			files: map[string]string{
				appFile:      replace(appYAML, "apiVersion: slipway.dev/v1alpha1", "apiVersion: v1"),
				projectFile:  "",
				pipelineFile: replace(errPipeline, "target: testing", "target: prod\n    file: x.yaml"),
			},
			want: []string{
				`applications/flaskapp/application.yaml:1:13: apiVersion: must be "slipway.dev/v1alpha1"`,
				f + "13:11: spec.stages[0].file: only with manifest: the file the manifest is written to",
			},
		},
		"broken child pipeline is not reported twice": {
			files: map[string]string{
				buildFile:    "spec: [\n",
				pipelineFile: errPipeline + "  - id: child\n    type: pipeline\n    pipeline: build\n    parameters: {env: x}\n",
			},
			want: []string{"applications/flaskapp/pipelines/build.yaml:1: invalid YAML: did not find expected node content"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo, err := Load(mapFS(with(tc.files)))
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
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPipelineErrorsBase checks that the base of the error cases is valid,
// so each case's errors are its own.
func TestPipelineErrorsBase(t *testing.T) {
	if _, err := Load(mapFS(with(map[string]string{pipelineFile: errPipeline}))); err != nil {
		t.Fatalf("Load: %v", err)
	}
}
