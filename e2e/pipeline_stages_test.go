package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipwaycd/slipway/pipeline"
)

// hookServer is the HTTP side of the webhook stages and notifications: it
// records what it receives, by path, and answers as each path is scripted
// below.
type hookServer struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string][]hookCall
}

type hookCall struct {
	Method string
	Body   string
	Header http.Header
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{calls: map[string][]hookCall{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.calls[r.URL.Path] = append(h.calls[r.URL.Path], hookCall{Method: r.Method, Body: string(body), Header: r.Header.Clone()})
		n := len(h.calls[r.URL.Path])
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/hook", "/notify", "/build":
			_, _ = io.WriteString(w, `{"accepted": true}`)
		case "/build/status":
			// The job behind /build runs for two polls, then is done.
			state := "running"
			if n > 2 {
				state = "done"
			}
			fmt.Fprintf(w, `{"build": {"state": %q, "poll": %d}}`, state, n)
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error": "down for maintenance"}`)
		case "/flaky":
			// Fails the first call only: a restart of the stage succeeds.
			if n == 1 {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `{"error": "try again"}`)
				return
			}
			_, _ = io.WriteString(w, `{"ok": true}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) received(path string) []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls[path])
}

// stagesRepo is flaskapp with target testing (a kustomization binding
// imageRepo:v1 into the Deployment, plus a ConfigMap in its own file,
// pruned) and one pipeline per stage type under test; the webhook stages
// and notifications call hooks.
func stagesRepo(ns, imageRepo, hooks string) map[string]string {
	files := flaskappRepo(ns, imageRepo+":v1", 2, "selfHeal")
	delete(files, "applications/flaskapp/testing/service.yaml")
	files["applications/flaskapp/testing/kustomization.yaml"] = fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
- extra.yaml
images:
- name: %s
  newTag: v1
`, imageRepo)
	files["applications/flaskapp/testing/extra.yaml"] = `apiVersion: v1
kind: ConfigMap
metadata:
  name: flaskapp-extra
data:
  feature: "on"
`
	pipelines := map[string]string{
		// The patch is a bare strategic-merge patch, as docs/config.md
		// allows ("a YAML mapping"); the stage adds the kind and name
		// kustomize needs.
		"patch": `
  stages:
  - id: patch
    type: patchManifest
    target: testing
    objectName: flaskapp
    patch: |
      spec:
        template:
          metadata:
            annotations:
              e2e.slipway.dev/patched: "yes"
          spec:
            containers:
            - name: flaskapp
              env:
              - name: GREETING
                value: hello from patchManifest
`,
		"deployThenUndo": fmt.Sprintf(`
  expectedArtifacts:
  - id: image
    repository: %s
  stages:
  - id: deploy
    type: deployManifest
    target: testing
    artifacts: [image]
  - id: undo
    type: undoRollout
    target: testing
    objectName: flaskapp
    revisions: 1
`, imageRepo),
		"cleanup": `
  stages:
  - id: delete
    type: deleteManifest
    target: testing
    kind: ConfigMap
    objectName: flaskapp-extra
`,
		"hooks": fmt.Sprintf(`
  stages:
  - id: call
    type: webhook
    url: %[1]s/hook
    method: PUT
    headers:
      X-E2E: stages
    body: '{"app": "flaskapp", "what": "announce"}'
  - id: build
    type: webhook
    url: %[1]s/build
    statusUrl: %[1]s/build/status
    statusField: build.state
    successValues: [done]
    failureValues: [failed]
  - id: optional
    type: webhook
    url: %[1]s/fail
    onFailure: ignore
  - id: after
    type: checkPreconditions
    expressions:
    - stages.optional.status == "failedContinue"
    - stages.optional.httpStatus == 503
`, hooks),
		"migrate": fmt.Sprintf(`
  stages:
  - id: migrate
    type: runJob
    target: testing
    manifest: |
      apiVersion: batch/v1
      kind: Job
      metadata:
        generateName: migrate-
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: migrate
              image: %s:v1
              command: [flask, db, upgrade]
`, imageRepo),
		"parent": `
  stages:
  - id: run-child
    type: pipeline
    pipeline: child
    parameters:
      ticket: CHG-42
`,
		"child": `
  triggers:
  - type: manual
    enabled: false
  parameters:
  - name: ticket
    required: true
  stages:
  - id: check
    type: checkPreconditions
    expressions:
    - parameters.ticket == "CHG-42"
    - trigger.type == "pipeline"
`,
		"pause": `
  stages:
  - id: pause
    type: wait
    duration: 1s
`,
		"notified": fmt.Sprintf(`
  notifications:
  - type: webhook
    url: %s/notify
    when: [starting, succeeded]
  stages:
  - id: check
    type: checkPreconditions
    expressions: ['trigger.type == "manual"']
`, hooks),
		// Two branches from start: bad fails at once; good is still
		// waiting then, and goes on (haltBranch) or is canceled
		// (haltPipeline).
		"haltBranch":   branches(hooks, "\n    onFailure: haltBranch"),
		"haltPipeline": branches(hooks, ""),
		"flaky": fmt.Sprintf(`
  stages:
  - id: first
    type: checkPreconditions
    expressions: ['trigger.type == "manual"']
  - id: call
    type: webhook
    url: %s/flaky
`, hooks),
	}
	for name, spec := range pipelines {
		files["applications/flaskapp/pipelines/"+name+".yaml"] = "apiVersion: slipway.dev/v1alpha1\nkind: Pipeline\nmetadata:\n  name: " + name + "\nspec:" + spec
	}
	return files
}

func branches(hooks, onFailure string) string {
	return fmt.Sprintf(`
  stages:
  - id: start
    type: checkPreconditions
    expressions: ['trigger.type == "manual"']
  - id: bad
    type: webhook
    dependsOn: [start]
    url: %s/fail%s
  - id: afterBad
    type: checkPreconditions
    dependsOn: [bad]
    expressions: ['trigger.type == "manual"']
  - id: good
    type: wait
    dependsOn: [start]
    duration: 2s
  - id: afterGood
    type: checkPreconditions
    dependsOn: [good]
    expressions: ['stages.bad.status == "failed"']
`, hooks, onFailure)
}

// TestPipelineStages runs every stage type the other pipeline tests leave
// out, through a real slipway serve against the ground, and checks what
// each did: in Git, in the cluster, and at an HTTP server of the test.
func TestPipelineStages(t *testing.T) {
	began := time.Now()
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("stages")
	imageRepo := ground.Registry.Ref("stages/flaskapp-" + ns[len(ns)-6:])
	hooks := newHookServer(t)
	repo := newConfigRepo(t, stagesRepo(ns, imageRepo, hooks.URL))
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})
	s.waitStatus("flaskapp/testing", 60*time.Second, "Synced and Healthy", synced(""))
	t.Logf("ground ready in %s", time.Since(began).Round(time.Millisecond))

	// Stages that change the target share it, so they run in order; the
	// others run beside them.
	t.Run("group", func(t *testing.T) {
		t.Run("target", func(t *testing.T) {
			t.Parallel()
			t.Run("patchManifest", func(t *testing.T) { testPatchManifest(t, s, repo, cs, ns, imageRepo) })
			t.Run("undoRollout", func(t *testing.T) { testUndoRollout(t, s, repo, cs, ns, imageRepo) })
			t.Run("deleteManifest", func(t *testing.T) { testDeleteManifest(t, s, repo, cs, ns) })
		})
		t.Run("webhook", func(t *testing.T) { t.Parallel(); testWebhookStages(t, s, hooks) })
		t.Run("runJob", func(t *testing.T) { t.Parallel(); testRunJob(t, s, cs, ns, imageRepo) })
		t.Run("pipeline", func(t *testing.T) { t.Parallel(); testPipelineStage(t, s) })
		t.Run("wait", func(t *testing.T) { t.Parallel(); testWaitStage(t, s) })
		t.Run("notifications", func(t *testing.T) { t.Parallel(); testNotifications(t, s, hooks) })
		t.Run("haltBranch", func(t *testing.T) { t.Parallel(); testHaltBranch(t, s) })
		t.Run("restart", func(t *testing.T) { t.Parallel(); testRestart(t, s, hooks) })
	})
	t.Logf("TestPipelineStages took %s", time.Since(began).Round(time.Millisecond))
}

// createRelease starts a release order by hand through the API.
func createRelease(t *testing.T, s *slipway, pipelineName string, params map[string]string, artifacts ...string) int64 {
	t.Helper()
	code, body, err := apiPost(s.URL+"/api/v1/releases", adminToken, map[string]any{
		"application": "flaskapp", "pipeline": pipelineName, "parameters": params, "artifacts": artifacts,
	})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("creating a release order of %s: %d %s %v", pipelineName, code, body, err)
	}
	var x pipeline.Execution
	if err := json.Unmarshal(body, &x); err != nil {
		t.Fatal(err)
	}
	return x.ID
}

// runRelease creates a release order and waits for it to end with want.
func runRelease(t *testing.T, s *slipway, pipelineName string, want pipeline.Status, timeout time.Duration, artifacts ...string) *pipeline.Execution {
	t.Helper()
	id := createRelease(t, s, pipelineName, nil, artifacts...)
	x := s.waitRelease(t, id, timeout, "ended", func(x *pipeline.Execution) bool { return x.Status.Final() })
	if x.Status != want {
		b, _ := json.MarshalIndent(x, "", "  ")
		t.Fatalf("release order %d of %s ended %s, want %s:\n%s", id, pipelineName, x.Status, want, b)
	}
	return x
}

func stageOf(t *testing.T, x *pipeline.Execution, id string) *pipeline.StageState {
	t.Helper()
	for _, st := range x.Stages {
		if st.ID == id {
			return st
		}
	}
	t.Fatalf("release order %d has no stage %s", x.ID, id)
	return nil
}

// gitShow reads a file of the config repo at the remote's main (after a pull).
func gitShow(t *testing.T, repo *configRepo, rev, path string) string {
	t.Helper()
	return git(t, repo.work, "show", rev+":"+path)
}

func pullRepo(t *testing.T, repo *configRepo) {
	t.Helper()
	git(t, repo.work, "pull", "-q", "--rebase", "origin", "main")
}

const targetDir = "applications/flaskapp/testing"

// patchManifest: the patch lands in the kustomization, and the live
// Deployment's pod template has the annotation and the env var.
func testPatchManifest(t *testing.T, s *slipway, repo *configRepo, cs kubernetes.Interface, ns, imageRepo string) {
	x := runRelease(t, s, "patch", pipeline.StatusSucceeded, 60*time.Second)
	st := stageOf(t, x, "patch")
	if st.Outputs.Commit == "" || st.Outputs.Health != "Healthy" || st.Outputs.Target != "flaskapp/testing" {
		t.Errorf("patch outputs: %+v", st.Outputs)
	}
	pullRepo(t, repo)
	k := gitShow(t, repo, st.Outputs.Commit, targetDir+"/kustomization.yaml")
	for _, want := range []string{"patches:", "kind: Deployment", "name: flaskapp", "e2e.slipway.dev/patched", "GREETING", "hello from patchManifest"} {
		if !strings.Contains(k, want) {
			t.Errorf("kustomization after the patch lacks %q:\n%s", want, k)
		}
	}
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Annotations["e2e.slipway.dev/patched"]; got != "yes" {
		t.Errorf("pod template annotation = %q, want yes", got)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Env) != 1 || c.Env[0].Name != "GREETING" || c.Env[0].Value != "hello from patchManifest" {
		t.Errorf("container env = %+v", c.Env)
	}
	if c.Image != imageRepo+":v1" {
		t.Errorf("image after the patch %s, want %s:v1", c.Image, imageRepo)
	}
}

// undoRollout: after a deploy of v2 in the same release order, the undo
// puts the target directory back to the tree it had before (a new commit),
// and the live Deployment runs v1 again, having rolled through v2.
func testUndoRollout(t *testing.T, s *slipway, repo *configRepo, cs kubernetes.Interface, ns, imageRepo string) {
	pullRepo(t, repo)
	before := strings.TrimSpace(git(t, repo.work, "rev-parse", "HEAD:"+targetDir))
	x := runRelease(t, s, "deployThenUndo", pipeline.StatusSucceeded, 90*time.Second, imageRepo+":v2")
	deploy, undo := stageOf(t, x, "deploy"), stageOf(t, x, "undo")
	if deploy.Outputs.Commit == "" || undo.Outputs.Commit == "" || deploy.Outputs.Commit == undo.Outputs.Commit {
		t.Fatalf("deploy commit %q, undo commit %q", deploy.Outputs.Commit, undo.Outputs.Commit)
	}
	if undo.Outputs.Health != "Healthy" {
		t.Errorf("undo health %q", undo.Outputs.Health)
	}
	pullRepo(t, repo)
	if k := gitShow(t, repo, deploy.Outputs.Commit, targetDir+"/kustomization.yaml"); !strings.Contains(k, "newTag: v2") {
		t.Errorf("the deploy commit's kustomization does not bind v2:\n%s", k)
	}
	after := strings.TrimSpace(git(t, repo.work, "rev-parse", undo.Outputs.Commit+":"+targetDir))
	if after != before {
		t.Errorf("target tree after the undo %s, want %s as before the deploy; diff:\n%s", after, before,
			git(t, repo.work, "diff", before, after))
	}
	if head := strings.TrimSpace(git(t, repo.work, "rev-parse", "HEAD:"+targetDir)); head != before {
		t.Errorf("target tree at the head %s, want %s", head, before)
	}
	if n := commitsOfRelease(t, repo, x.ID); n != 2 {
		t.Errorf("release order %d made %d commits, want 2 (deploy, undo)", x.ID, n)
	}

	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != imageRepo+":v1" {
		t.Errorf("Deployment image after the undo %s, want %s:v1", got, imageRepo)
	}
	// The rollout went through v2: a ReplicaSet of it exists, scaled down.
	rss, err := cs.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=flaskapp"})
	if err != nil {
		t.Fatal(err)
	}
	sawV2 := false
	for _, rs := range rss.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == imageRepo+":v2" {
			sawV2 = true
			if rs.Spec.Replicas != nil && *rs.Spec.Replicas != 0 {
				t.Errorf("ReplicaSet %s of v2 still wants %d replicas", rs.Name, *rs.Spec.Replicas)
			}
		}
	}
	if !sawV2 {
		t.Errorf("no ReplicaSet ran %s:v2: the deploy never reached the cluster", imageRepo)
	}
	// Every pod left runs v1.
	deadline := time.Now().Add(20 * time.Second)
	for {
		pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=flaskapp"})
		if err != nil {
			t.Fatal(err)
		}
		var running, other []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Status.Phase == corev1.PodRunning && p.Spec.Containers[0].Image == imageRepo+":v1" {
				running = append(running, p.Name)
			} else {
				other = append(other, p.Name+" "+p.Spec.Containers[0].Image+" "+string(p.Status.Phase))
			}
		}
		if len(running) == 2 && len(other) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods after the undo: running v1 %v, others %v", running, other)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deleteManifest: the ConfigMap's file leaves Git and the kustomization's
// resources, and the target prunes the ConfigMap from the cluster.
func testDeleteManifest(t *testing.T, s *slipway, repo *configRepo, cs kubernetes.Interface, ns string) {
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "flaskapp-extra", metav1.GetOptions{}); err != nil {
		t.Fatalf("before the delete: %v", err)
	}
	x := runRelease(t, s, "cleanup", pipeline.StatusSucceeded, 60*time.Second)
	st := stageOf(t, x, "delete")
	if st.Outputs.Commit == "" {
		t.Fatalf("delete made no commit: %+v", st.Outputs)
	}
	wantChanges := []string{targetDir + "/extra.yaml: deleted", targetDir + "/kustomization.yaml: resource extra.yaml removed"}
	if !slices.Equal(st.Outputs.Changes, wantChanges) {
		t.Errorf("changes %q, want %q", st.Outputs.Changes, wantChanges)
	}
	pullRepo(t, repo)
	if files := git(t, repo.work, "ls-tree", "--name-only", "HEAD", targetDir+"/"); strings.Contains(files, "extra.yaml") {
		t.Errorf("extra.yaml is still in Git:\n%s", files)
	}
	k := gitShow(t, repo, "HEAD", targetDir+"/kustomization.yaml")
	if strings.Contains(k, "extra.yaml") || !strings.Contains(k, "- deployment.yaml") {
		t.Errorf("kustomization after the delete:\n%s", k)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "flaskapp-extra", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ConfigMap flaskapp-extra still there after the delete (err %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{}); err != nil {
		t.Errorf("the Deployment went too: %v", err)
	}
}

// webhook: a call with method, headers and body; a call whose status URL
// is polled until done; a failing call under onFailure: ignore, after
// which the execution goes on and succeeds.
func testWebhookStages(t *testing.T, s *slipway, hooks *hookServer) {
	x := runRelease(t, s, "hooks", pipeline.StatusSucceeded, 60*time.Second)

	calls := hooks.received("/hook")
	if len(calls) != 1 {
		t.Fatalf("/hook received %d calls, want 1", len(calls))
	}
	c := calls[0]
	if c.Method != http.MethodPut || c.Body != `{"app": "flaskapp", "what": "announce"}` ||
		c.Header.Get("X-Slipway-Release") != fmt.Sprint(x.ID) || c.Header.Get("X-E2E") != "stages" ||
		c.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/hook received %s %q with headers %v", c.Method, c.Body, c.Header)
	}
	call := stageOf(t, x, "call")
	if call.Status != pipeline.StageSucceeded || call.Outputs.HTTPStatus != 200 || !strings.Contains(call.Outputs.Response, "accepted") {
		t.Errorf("call: %s %+v", call.Status, call.Outputs)
	}

	build := stageOf(t, x, "build")
	polls := hooks.received("/build/status")
	if len(hooks.received("/build")) != 1 || len(polls) != 3 {
		t.Errorf("/build called %d times, its status %d times; want 1 and 3", len(hooks.received("/build")), len(polls))
	}
	if build.Status != pipeline.StageSucceeded || !strings.Contains(build.Outputs.Response, `"done"`) {
		t.Errorf("build: %s %+v", build.Status, build.Outputs)
	}
	if d := build.EndedAt.Sub(build.StartedAt); d < 2*time.Second {
		t.Errorf("build took %s; three polls a second apart take 2s at least", d)
	}
	var logged []string
	for _, l := range build.Log {
		logged = append(logged, l.Msg)
	}
	if !slices.Contains(logged, "build.state = running") || !slices.Contains(logged, "build.state = done") {
		t.Errorf("build log %q", logged)
	}

	opt := stageOf(t, x, "optional")
	if opt.Status != pipeline.StageFailedContinue || opt.Outputs.HTTPStatus != 503 || !strings.Contains(opt.Error, "503") {
		t.Errorf("optional: %s, status %d, error %q", opt.Status, opt.Outputs.HTTPStatus, opt.Error)
	}
	if after := stageOf(t, x, "after"); after.Status != pipeline.StageSucceeded {
		t.Errorf("after: %s %s", after.Status, after.Error)
	}
	if x.Reason != "" {
		t.Errorf("reason %q on success", x.Reason)
	}
}

// runJob: a Job runs in the target's namespace; kwok completes its pod;
// the stage names the Job and keeps its pod's log.
func testRunJob(t *testing.T, s *slipway, cs kubernetes.Interface, ns, imageRepo string) {
	x := runRelease(t, s, "migrate", pipeline.StatusSucceeded, 90*time.Second)
	st := stageOf(t, x, "migrate")
	jobNS, jobName, ok := strings.Cut(st.Outputs.Job, "/")
	if !ok || jobNS != ns || !strings.HasPrefix(jobName, fmt.Sprintf("migrate-%d-", x.ID)) {
		t.Fatalf("outputs.job %q, want %s/migrate-%d-…", st.Outputs.Job, ns, x.ID)
	}
	job, err := cs.BatchV1().Jobs(ns).Get(t.Context(), jobName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Labels["slipway.dev/release"] != fmt.Sprint(x.ID) || job.Status.Succeeded != 1 {
		t.Errorf("job labels %v, succeeded %d", job.Labels, job.Status.Succeeded)
	}
	complete := false
	for _, c := range job.Status.Conditions {
		complete = complete || c.Type == "Complete" && c.Status == corev1.ConditionTrue
	}
	if !complete {
		t.Errorf("job conditions %+v", job.Status.Conditions)
	}
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "job-name=" + jobName})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodSucceeded ||
		pods.Items[0].Spec.Containers[0].Image != imageRepo+":v1" {
		t.Fatalf("job pods: %d, %+v", len(pods.Items), pods.Items)
	}
	wantLog := fmt.Sprintf("==> pod %s, container migrate <==\n%s\n", pods.Items[0].Name, strings.Join(ground.Kube.PodLogLines, "\n"))
	if st.Outputs.JobLog != wantLog {
		t.Errorf("jobLog = %q, want %q", st.Outputs.JobLog, wantLog)
	}
}

// pipeline: the parent runs the child with a parameter and waits for it;
// the child sees the parameter and its parent.
func testPipelineStage(t *testing.T, s *slipway) {
	x := runRelease(t, s, "parent", pipeline.StatusSucceeded, 60*time.Second)
	st := stageOf(t, x, "run-child")
	if st.Outputs.Child == 0 {
		t.Fatalf("run-child outputs %+v", st.Outputs)
	}
	child := s.release(t, st.Outputs.Child)
	if child.Status != pipeline.StatusSucceeded || child.Pipeline != "child" || child.Trigger.Type != "pipeline" ||
		child.Trigger.Parent != x.ID || child.Parameters["ticket"] != "CHG-42" {
		t.Errorf("child release order: %s %s trigger %+v parameters %v", child.Status, child.Pipeline, child.Trigger, child.Parameters)
	}
	if c := stageOf(t, child, "check"); c.Status != pipeline.StageSucceeded {
		t.Errorf("child check: %s %s", c.Status, c.Error)
	}
	if !child.EndedAt.After(child.StartedAt) || st.EndedAt.Before(child.EndedAt) {
		t.Errorf("the parent stage ended %s, before its child %s", st.EndedAt, child.EndedAt)
	}
}

// wait: the stage records when it ends and waits that long.
func testWaitStage(t *testing.T, s *slipway) {
	x := runRelease(t, s, "pause", pipeline.StatusSucceeded, 30*time.Second)
	st := stageOf(t, x, "pause")
	until := st.Outputs.WaitUntil
	if until.IsZero() {
		t.Fatalf("waitUntil not set: %+v", st.Outputs)
	}
	if d := until.Sub(st.StartedAt); d < time.Second || d > 1500*time.Millisecond {
		t.Errorf("waitUntil is %s after the start, want 1s", d)
	}
	if d := st.EndedAt.Sub(st.StartedAt); d < time.Second {
		t.Errorf("the wait took %s, want 1s at least", d)
	}
	if st.EndedAt.Before(until) {
		t.Errorf("ended %s, before waitUntil %s", st.EndedAt, until)
	}
}

// notifications: the pipeline's webhook hears starting and succeeded.
func testNotifications(t *testing.T, s *slipway, hooks *hookServer) {
	x := runRelease(t, s, "notified", pipeline.StatusSucceeded, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for len(hooks.received("/notify")) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	var events []string
	for _, c := range hooks.received("/notify") {
		var n pipeline.Notice
		if err := json.Unmarshal([]byte(c.Body), &n); err != nil {
			t.Fatalf("notice %q: %v", c.Body, err)
		}
		if c.Method != http.MethodPost || n.ID != x.ID || n.Application != "flaskapp" || n.Pipeline != "notified" ||
			len(n.Stages) != 1 || n.Stages[0].ID != "check" {
			t.Errorf("notice %s %q", c.Method, c.Body)
		}
		events = append(events, n.Event+"/"+string(n.Status))
	}
	slices.Sort(events)
	if want := []string{"starting/running", "succeeded/succeeded"}; !slices.Equal(events, want) {
		t.Errorf("notices %v, want %v", events, want)
	}
}

// haltBranch lets the other branch run to success and fails the execution
// at the end; haltPipeline, the default, cancels that branch.
func testHaltBranch(t *testing.T, s *slipway) {
	type want struct{ bad, afterBad, good, afterGood pipeline.StageStatus }
	for name, w := range map[string]want{
		"haltBranch":   {pipeline.StageFailed, pipeline.StageSkipped, pipeline.StageSucceeded, pipeline.StageSucceeded},
		"haltPipeline": {pipeline.StageFailed, pipeline.StageSkipped, pipeline.StageCanceled, pipeline.StageSkipped},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			x := runRelease(t, s, name, pipeline.StatusFailed, 30*time.Second)
			got := want{stageOf(t, x, "bad").Status, stageOf(t, x, "afterBad").Status, stageOf(t, x, "good").Status, stageOf(t, x, "afterGood").Status}
			if got != w {
				b, _ := json.MarshalIndent(x.Stages, "", "  ")
				t.Errorf("bad, afterBad, good, afterGood = %v, want %v\n%s", got, w, b)
			}
			if !strings.HasPrefix(x.Reason, "stage bad failed:") || !strings.Contains(x.Reason, "503") {
				t.Errorf("reason %q", x.Reason)
			}
			bad, good := stageOf(t, x, "bad"), stageOf(t, x, "good")
			if !bad.EndedAt.Before(good.EndedAt) {
				t.Errorf("bad ended %s, not before good %s: the branches did not overlap", bad.EndedAt, good.EndedAt)
			}
		})
	}
}

// restart: a release order failed by a 500 runs again from the failed
// stage; the stage that had succeeded is not run again.
func testRestart(t *testing.T, s *slipway, hooks *hookServer) {
	x := runRelease(t, s, "flaky", pipeline.StatusFailed, 30*time.Second)
	first := *stageOf(t, x, "first")
	if call := stageOf(t, x, "call"); call.Status != pipeline.StageFailed || call.Outputs.HTTPStatus != 500 {
		t.Fatalf("call before the restart: %s %+v", call.Status, call.Outputs)
	}
	if out, err := s.cli(t, "release", "restart", fmt.Sprint(x.ID)); err != nil {
		t.Fatalf("release restart: %v\n%s", err, out)
	}
	x = s.waitRelease(t, x.ID, 30*time.Second, "succeeded after the restart", releaseIs(pipeline.StatusSucceeded))
	again := stageOf(t, x, "first")
	if again.Status != pipeline.StageSucceeded || again.Attempts != 1 || again.Restarts != 0 || !again.EndedAt.Equal(first.EndedAt) {
		t.Errorf("first after the restart: %s, attempts %d, restarts %d, ended %s (was %s)", again.Status, again.Attempts, again.Restarts, again.EndedAt, first.EndedAt)
	}
	call := stageOf(t, x, "call")
	if call.Status != pipeline.StageSucceeded || call.Attempts != 2 || call.Restarts != 1 || call.Outputs.HTTPStatus != 200 || call.Error != "" {
		t.Errorf("call after the restart: %s, attempts %d, restarts %d, outputs %+v, error %q", call.Status, call.Attempts, call.Restarts, call.Outputs, call.Error)
	}
	if n := len(hooks.received("/flaky")); n != 2 {
		t.Errorf("/flaky called %d times, want 2", n)
	}
	if x.Reason != "" {
		t.Errorf("reason %q after success", x.Reason)
	}
}
