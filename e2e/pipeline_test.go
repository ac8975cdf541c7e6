package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipwaycd/slipway/pipeline"
)

// walkthroughRepo is the console walkthrough as a config repo: account
// local, application flaskapp bound to project cd-demo, and pipeline
// deployTesting, whose expected artifact flaskapp-image (the ground's
// registry) a docker trigger is constrained to. Stage 1 deploys the
// Deployment with the artifact bound; stage 2 the LoadBalancer Service,
// as a raw manifest written into the target. Git starts with the
// Deployment only.
func walkthroughRepo(ns, imageRepo string) map[string]string {
	files := flaskappRepo(ns, imageRepo+":v1", 2, "selfHeal")
	delete(files, "applications/flaskapp/testing/service.yaml")
	files["applications/flaskapp/testing/kustomization.yaml"] = fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
images:
- name: %s
  newTag: v1
`, imageRepo)
	files["applications/flaskapp/pipelines/deployTesting.yaml"] = fmt.Sprintf(`apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: deployTesting
spec:
  description: Deploy flaskapp to testing
  expectedArtifacts:
  - id: flaskapp-image
    type: docker/image
    repository: %s
    tagRegex: '^v[0-9]+$'
  triggers:
  - type: docker
    artifacts: [flaskapp-image]
  - type: manual
  parameters:
  - name: reason
    label: Why
    default: image pushed
  stages:
  - id: deploy
    name: Deploy the Deployment
    type: deployManifest
    target: testing
    artifacts: [flaskapp-image]
  - id: service
    name: Deploy the LoadBalancer Service
    type: deployManifest
    target: testing
    file: service.yaml
    manifest: |
      apiVersion: v1
      kind: Service
      metadata:
        name: flaskapp
      spec:
        type: LoadBalancer
        selector:
          app: flaskapp
        ports:
        - name: http
          port: 80
          targetPort: 8080
`, imageRepo)
	// approve asks a person between deploying and scaling; only one runs at
	// a time and only the newest waits.
	files["applications/flaskapp/pipelines/approve.yaml"] = fmt.Sprintf(`apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: approve
spec:
  execution:
    concurrent: false
    keepWaiting: false
  expectedArtifacts:
  - id: image
    repository: %s
  parameters:
  - name: ticket
    required: true
  stages:
  - id: check
    type: checkPreconditions
    expressions:
    - parameters.ticket matches "^CHG-[0-9]+$"
  - id: deploy
    type: deployManifest
    target: testing
    artifacts: [image]
  - id: judge
    type: manualJudgment
    instructions: Check the testing pods, then approve.
  - id: scale
    type: scaleManifest
    target: testing
    objectName: flaskapp
    replicas: 3
`, imageRepo)
	return files
}

// cli runs the slipway command against a server, as the admin.
func (s *slipway) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := slipwayBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append(os.Environ(), "SLIPWAY_SERVER="+s.URL, "SLIPWAY_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *slipway) release(t *testing.T, id int64) *pipeline.Execution {
	t.Helper()
	var x pipeline.Execution
	if err := getJSON(fmt.Sprintf("%s/api/v1/releases/%d", s.URL, id), &x); err != nil {
		t.Fatal(err)
	}
	return &x
}

// waitRelease polls a release order until ok accepts it.
func (s *slipway) waitRelease(t *testing.T, id int64, timeout time.Duration, what string, ok func(*pipeline.Execution) bool) *pipeline.Execution {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var x pipeline.Execution
	for time.Now().Before(deadline) {
		if err := getJSON(fmt.Sprintf("%s/api/v1/releases/%d", s.URL, id), &x); err == nil && ok(&x) {
			return &x
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(x, "", "  ")
	t.Fatalf("release order %d: %s, not within %s; last:\n%s", id, what, timeout, b)
	return nil
}

func releaseIs(st pipeline.Status) func(*pipeline.Execution) bool {
	return func(x *pipeline.Execution) bool { return x.Status == st }
}

// commitsOfRelease counts the config repo commits a release order made.
func commitsOfRelease(t testing.TB, repo *configRepo, id int64) int {
	t.Helper()
	git(t, repo.work, "pull", "-q", "--rebase", "origin", "main")
	out := git(t, repo.work, "log", "--format=%(trailers:key=Slipway-Release,valueonly)", "main")
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == fmt.Sprint(id) {
			n++
		}
	}
	return n
}

// TestPipelineWalkthrough: crane push → the docker trigger starts
// deployTesting by itself → both stages succeed → the pods run the pushed
// image and the Service has an ingress IP; release list shows it. Then a
// release order by hand, with a parameter and an older artifact.
func TestPipelineWalkthrough(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("walk")
	imageRepo := ground.Registry.Ref("walk/flaskapp-" + ns[len(ns)-6:])
	s, _ := startAutomation(t, walkthroughRepo(ns, imageRepo))
	s.waitStatus("flaskapp/testing", 60*time.Second, "Synced and Healthy at v1", synced(""))

	pushed := time.Now()
	digest, err := ground.Registry.PushImage(t.Context(), strings.TrimPrefix(imageRepo, ground.Registry.Host+"/")+":v2", "walkthrough v2")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	deadline := time.Now().Add(30 * time.Second)
	for id == 0 && time.Now().Before(deadline) {
		var list []pipeline.Execution
		if err := getJSON(s.URL+"/api/v1/releases?app=flaskapp&pipeline=deployTesting", &list); err == nil && len(list) > 0 {
			id = list[0].ID
		}
		time.Sleep(100 * time.Millisecond)
	}
	if id == 0 {
		t.Fatal("the push started no release order within 30s")
	}
	x := s.waitRelease(t, id, 90*time.Second, "succeeded", func(x *pipeline.Execution) bool { return x.Status.Final() })
	if x.Status != pipeline.StatusSucceeded {
		b, _ := json.MarshalIndent(x, "", "  ")
		t.Fatalf("release order %d %s:\n%s", id, x.Status, b)
	}
	t.Logf("push → release order %d succeeded in %s", id, time.Since(pushed).Round(time.Millisecond))
	if x.Trigger.Type != "docker" || len(x.Artifacts) != 1 || x.Artifacts[0].Tag != "v2" || x.Artifacts[0].Digest != digest || x.Artifacts[0].From != "trigger" {
		t.Errorf("trigger %+v, artifacts %+v", x.Trigger, x.Artifacts)
	}
	for _, st := range x.Stages {
		if st.Status != pipeline.StageSucceeded || st.Outputs.Commit == "" || st.Outputs.Health != "Healthy" {
			t.Errorf("stage %s: %s, commit %q, health %q", st.ID, st.Status, st.Outputs.Commit, st.Outputs.Health)
		}
	}

	want := imageRepo + ":v2@" + digest
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("Deployment image %s, want %s", got, want)
	}
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=flaskapp"})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == "Running" && p.Spec.Containers[0].Image == want {
			running++
		}
	}
	if running < 2 {
		t.Errorf("%d pods Running %s, want 2", running, want)
	}
	svc, err := cs.CoreV1().Services(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) == 0 || svc.Status.LoadBalancer.Ingress[0].IP == "" {
		t.Errorf("Service has no ingress IP: %+v", svc.Status.LoadBalancer)
	}

	out, err := s.cli(t, "release", "list", "--app", "flaskapp")
	if err != nil {
		t.Fatalf("release list: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprint(id)) || !strings.Contains(out, "succeeded") || !strings.Contains(out, "deployTesting") {
		t.Errorf("release list lacks release order %d succeeded:\n%s", id, out)
	}
	t.Logf("release list:\n%s", out)

	// By hand: an older artifact and a parameter, waiting for the end.
	out, err = s.cli(t, "release", "create", "--app", "flaskapp", "--pipeline", "deployTesting",
		"--param", "reason=roll back to v1", "--artifact", imageRepo+":v1", "--wait", "--timeout", "2m")
	if err != nil {
		t.Fatalf("release create --wait: %v\n%s", err, out)
	}
	t.Logf("release create --wait:\n%s", out)
	var list []pipeline.Execution
	if err := getJSON(s.URL+"/api/v1/releases?app=flaskapp&pipeline=deployTesting", &list); err != nil {
		t.Fatal(err)
	}
	manual := list[0]
	if manual.ID == id || manual.Status != pipeline.StatusSucceeded || manual.Trigger.Type != "manual" ||
		manual.Parameters["reason"] != "roll back to v1" || manual.Artifacts[0].From != "request" {
		t.Errorf("manual release order: %+v", manual)
	}
	s.waitStatus("flaskapp/testing", 30*time.Second, "Healthy", synced(""))
	d, err = cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != imageRepo+":v1" {
		t.Errorf("after the manual release order, image %s, want %s:v1", got, imageRepo)
	}
	out, err = s.cli(t, "release", "show", fmt.Sprint(manual.ID))
	if err != nil || !strings.Contains(out, "deploy") || !strings.Contains(out, "service") {
		t.Errorf("release show: %v\n%s", err, out)
	}
}

// TestPipelineJudgmentConcurrencyAndCrash: a manual judgment waits for a
// person; while it waits, newer release orders of the same pipeline queue
// (only the newest is kept); a rejection ends the execution with nothing
// after the judgment deployed; a server killed mid-execution resumes and
// finishes it with one commit per stage.
func TestPipelineJudgmentConcurrencyAndCrash(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("judge")
	imageRepo := ground.Registry.Ref("judge/flaskapp-" + ns[len(ns)-6:])
	repo := newConfigRepo(t, walkthroughRepo(ns, imageRepo))
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})
	s.waitStatus("flaskapp/testing", 60*time.Second, "Synced and Healthy", synced(""))

	create := func(ticket, tag string) int64 {
		t.Helper()
		code, body, err := apiPost(s.URL+"/api/v1/releases", adminToken, map[string]any{
			"application": "flaskapp", "pipeline": "approve",
			"parameters": map[string]string{"ticket": ticket}, "artifacts": []string{imageRepo + ":" + tag},
		})
		if err != nil || code != http.StatusCreated {
			t.Fatalf("create: %d %s %v", code, body, err)
		}
		var x pipeline.Execution
		if err := json.Unmarshal(body, &x); err != nil {
			t.Fatal(err)
		}
		return x.ID
	}

	// 1. Approved after a crash: the server is SIGKILLed while the release
	// order waits; the restarted one resumes it.
	first := create("CHG-1", "v5")
	s.waitRelease(t, first, 60*time.Second, "waiting for the judgment", releaseIs(pipeline.StatusWaiting))
	s.stop(syscall.SIGKILL)
	s.start()
	s.waitRelease(t, first, 30*time.Second, "waiting again after the restart", releaseIs(pipeline.StatusWaiting))
	if out, err := s.cli(t, "release", "approve", fmt.Sprint(first), "--comment", "pods look fine"); err != nil {
		t.Fatalf("release approve: %v\n%s", err, out)
	}
	x := s.waitRelease(t, first, 60*time.Second, "succeeded", func(x *pipeline.Execution) bool { return x.Status.Final() })
	if x.Status != pipeline.StatusSucceeded {
		t.Fatalf("release order %d %s: %s", first, x.Status, x.Reason)
	}
	if n := commitsOfRelease(t, repo, first); n != 2 {
		t.Errorf("release order %d made %d commits, want 2 (deploy, scale)", first, n)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d after the approved scale, want 3", *d.Spec.Replicas)
	}

	// 2. Concurrency off, only the newest waits: while the second waits for
	// its judgment, a third and a fourth arrive; the third is canceled.
	git(t, repo.work, "pull", "-q", "--rebase", "origin", "main")
	repo.commit("Scale back to 2", map[string]string{"applications/flaskapp/testing/kustomization.yaml": fmt.Sprintf(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\n- service.yaml\nimages:\n- name: %s\n  newTag: v5\n", imageRepo),
		"applications/flaskapp/testing/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: flaskapp\nspec:\n  type: LoadBalancer\n  selector:\n    app: flaskapp\n  ports:\n  - port: 80\n",
	})
	second := create("CHG-2", "v6")
	s.waitRelease(t, second, 60*time.Second, "waiting", releaseIs(pipeline.StatusWaiting))
	third := create("CHG-3", "v7")
	fourth := create("CHG-4", "v8")
	x = s.waitRelease(t, third, 10*time.Second, "canceled", releaseIs(pipeline.StatusCanceled))
	if !strings.Contains(x.Reason, fmt.Sprintf("superseded by release order %d", fourth)) {
		t.Errorf("third's reason: %q", x.Reason)
	}
	if x := s.release(t, fourth); x.Status != pipeline.StatusQueued {
		t.Errorf("fourth is %s while the second waits, want queued", x.Status)
	}

	// 3. Rejected: the execution ends rejected, nothing after the judgment
	// runs; then the queued fourth starts.
	if out, err := s.cli(t, "release", "reject", fmt.Sprint(second), "--comment", "not today"); err != nil {
		t.Fatalf("release reject: %v\n%s", err, out)
	}
	x = s.waitRelease(t, second, 30*time.Second, "rejected", releaseIs(pipeline.StatusRejected))
	if x.Stages[3].Status != pipeline.StageSkipped || !strings.Contains(x.Reason, "not today") {
		t.Errorf("after the rejection: scale %s, reason %q", x.Stages[3].Status, x.Reason)
	}
	if n := commitsOfRelease(t, repo, second); n != 1 {
		t.Errorf("rejected release order %d made %d commits, want 1 (deploy)", second, n)
	}
	d, err = cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d after the rejection, want 2", *d.Spec.Replicas)
	}
	s.waitRelease(t, fourth, 60*time.Second, "the fourth runs next", releaseIs(pipeline.StatusWaiting))
	if out, err := s.cli(t, "release", "cancel", fmt.Sprint(fourth)); err != nil {
		t.Fatalf("release cancel: %v\n%s", err, out)
	}
	s.waitRelease(t, fourth, 30*time.Second, "canceled", releaseIs(pipeline.StatusCanceled))

	// 4. A precondition over the parameters fails the execution before it deploys.
	bad := create("no-ticket", "v9")
	x = s.waitRelease(t, bad, 30*time.Second, "failed", releaseIs(pipeline.StatusFailed))
	if x.Stages[0].Status != pipeline.StageFailed || x.Stages[1].Status != pipeline.StageSkipped {
		t.Errorf("precondition: check %s, deploy %s", x.Stages[0].Status, x.Stages[1].Status)
	}
}

// TestPipelineAPIRefusals: no token 401, a viewer creating a release order
// 403, bad bodies 400 naming the field; none of them records anything.
func TestPipelineAPIRefusals(t *testing.T) {
	ns := uniqueNS("refuse")
	imageRepo := ground.Registry.Ref("refuse/flaskapp")
	repo := newConfigRepo(t, walkthroughRepo(ns, imageRepo))
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})

	code, body, err := apiPost(s.URL+"/api/v1/tokens", adminToken, map[string]any{"name": "watcher", "role": "viewer", "projects": []string{"cd-demo"}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("creating a viewer token: %d %s %v", code, body, err)
	}
	var created struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Secret == "" {
		t.Fatalf("token answer %s: %v", body, err)
	}
	good := map[string]any{"application": "flaskapp", "pipeline": "deployTesting", "artifacts": []string{imageRepo + ":v2"}}
	for _, tc := range []struct {
		name  string
		token string
		body  any
		code  int
		field string
	}{
		{"no token", "", good, http.StatusUnauthorized, ""},
		{"wrong token", "swt_notAToken0000000000000000000000", good, http.StatusUnauthorized, ""},
		{"viewer", created.Secret, good, http.StatusForbidden, ""},
		{"unknown field", adminToken, map[string]any{"application": "flaskapp", "pipeline": "deployTesting", "colour": "blue"}, http.StatusBadRequest, "colour"},
		{"wrong type", adminToken, map[string]any{"application": "flaskapp", "pipeline": 7}, http.StatusBadRequest, "pipeline"},
		{"unknown parameter", adminToken, map[string]any{"application": "flaskapp", "pipeline": "deployTesting", "parameters": map[string]string{"nope": "1"}, "artifacts": []string{imageRepo + ":v2"}}, http.StatusBadRequest, "parameters.nope"},
		{"artifact matching nothing", adminToken, map[string]any{"application": "flaskapp", "pipeline": "deployTesting", "artifacts": []string{"elsewhere/app:v2"}}, http.StatusBadRequest, "artifacts[0]"},
		{"required artifact missing", adminToken, map[string]any{"application": "flaskapp", "pipeline": "deployTesting"}, http.StatusBadRequest, "artifacts"},
		{"missing required parameter", adminToken, map[string]any{"application": "flaskapp", "pipeline": "approve", "artifacts": []string{imageRepo + ":v2"}}, http.StatusBadRequest, "parameters.ticket"},
		{"unknown pipeline", adminToken, map[string]any{"application": "flaskapp", "pipeline": "nope"}, http.StatusNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := apiPost(s.URL+"/api/v1/releases", tc.token, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			var e struct {
				Error string `json:"error"`
				Field string `json:"field"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Fatalf("error body %s: %v", body, err)
			}
			if e.Field != tc.field {
				t.Errorf("field %q, want %q (%s)", e.Field, tc.field, e.Error)
			}
		})
	}
	var list []pipeline.Execution
	if err := getJSON(s.URL+"/api/v1/releases", &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("refused requests recorded %d release orders", len(list))
	}
}

// TestPipelineCron: a cron trigger fires on its schedule, by the real clock.
func TestPipelineCron(t *testing.T) {
	ns := uniqueNS("cron")
	files := flaskappRepo(ns, ground.Registry.Ref("cron/flaskapp:v1"), 1, "selfHeal")
	files["applications/flaskapp/pipelines/nightly.yaml"] = `apiVersion: slipway.dev/v1alpha1
kind: Pipeline
metadata:
  name: nightly
spec:
  triggers:
  - type: cron
    schedule: "@every 2s"
  stages:
  - id: check
    type: checkPreconditions
    expressions:
    - trigger.type == "cron"
`
	repo := newConfigRepo(t, files)
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var list []pipeline.Execution
		if err := getJSON(s.URL+"/api/v1/releases?app=flaskapp&status=succeeded", &list); err == nil && len(list) > 0 {
			if list[0].Trigger.Type != "cron" {
				t.Fatalf("trigger %+v", list[0].Trigger)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no cron execution succeeded within 20s")
}
