package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipwaycd/slipway/e2e/testground"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/store"
)

const registryToken = "registry-webhook-token-for-tests"

// automatedApp is an application whose target automates its image from the
// ground's registry under a semver range, starting at tag v1.
func automatedApp(name, ns, imageRepo string) map[string]string {
	dir := "applications/" + name
	return map[string]string{
		dir + "/application.yaml": fmt.Sprintf(`apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: %s
spec:
  targets:
  - name: testing
    account: local
    namespace: %s
    path: testing
    sync:
      prune: true
    images:
    - name: web
      repository: %s
      policy:
        semver: ">=2 <3"
`, name, ns, imageRepo),
		dir + "/testing/kustomization.yaml": fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\nimages:\n- name: %s\n  newTag: v1\n", imageRepo),
		dir + "/testing/deployment.yaml":    fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %[1]s\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: %[1]s}\n  template:\n    metadata:\n      labels: {app: %[1]s}\n    spec:\n      containers:\n      - name: web\n        image: %[2]s:v1\n", name, imageRepo),
	}
}

// startAutomation starts slipway with a distribution receiver that the
// ground's registry notifies.
func startAutomation(t *testing.T, files map[string]string) (*slipway, *configRepo) {
	t.Helper()
	repo := newConfigRepo(t, files)
	s := startSlipwayWithSecrets(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig},
		map[string]string{"registry-webhook": registryToken + "\n"},
		"--receiver", "distribution/ground=registry-webhook")
	unsubscribe := ground.Registry.Subscribe(s.URL+"/webhooks/distribution/ground", http.Header{"Authorization": {"Bearer " + registryToken}})
	t.Cleanup(unsubscribe)
	return s, repo
}

func accountFor(ns ...string) string {
	return fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: local-kubeconfig\n  namespaces: [%s]\n", strings.Join(ns, ", "))
}

// remoteHead is the config repo's branch head on the Git server.
func remoteHead(t testing.TB, repo *configRepo) string {
	t.Helper()
	out := git(t, "", "ls-remote", ground.Git.AuthRepoURL(repo.name), "refs/heads/main")
	h, _, _ := strings.Cut(out, "\t")
	return strings.TrimSpace(h)
}

// TestImageAutomation: crane push of team/<app>:v2 → registry notification →
// commit in the config repo → the Deployment runs v2 → target Healthy.
// A tag outside the range and a redelivery change nothing.
func TestImageAutomation(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("auto")
	app := "flaskapp"
	imageRepo := ground.Registry.Ref(fmt.Sprintf("team/%s-%s", app, ns))
	files := automatedApp(app, ns, imageRepo)
	files["accounts/local.yaml"] = accountFor(ns)
	s, repo := startAutomation(t, files)
	ref := app + "/testing"
	s.waitStatus(ref, 90*time.Second, "Synced and Healthy at v1", synced(""))
	before := remoteHead(t, repo)

	// Push v2: it is deployed.
	pushed := time.Now()
	digest, err := ground.Registry.PushImage(t.Context(), imageRepo[len(ground.Registry.Host)+1:]+":v2", "flaskapp v2 "+ns)
	if err != nil {
		t.Fatal(err)
	}
	var commitAt time.Duration
	err = wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if remoteHead(t, repo) != before {
			commitAt = time.Since(pushed)
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no commit after the push: %v", err)
	}
	wantImage := imageRepo + ":v2@" + digest
	err = wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return d.Spec.Template.Spec.Containers[0].Image == wantImage && d.Status.ObservedGeneration >= d.Generation &&
			d.Status.UpdatedReplicas == 1 && d.Status.AvailableReplicas == 1, nil
	})
	if err != nil {
		t.Fatalf("the Deployment never ran %s: %v", wantImage, err)
	}
	st := s.waitStatus(ref, 30*time.Second, "Healthy at the bump", func(st reconciler.TargetStatus) bool {
		return synced("")(st) && st.SyncedRevision != before
	})
	healthyAt := time.Since(pushed)
	t.Logf("push→commit %s, push→healthy %s (revision %.12s)", commitAt.Round(time.Millisecond), healthyAt.Round(time.Millisecond), st.SyncedRevision)

	// The commit says what happened.
	git(t, repo.work, "pull", "-q", "origin", "main")
	msg := git(t, repo.work, "log", "-1", "--format=%B")
	for _, want := range []string{"Bump " + ref + " image " + imageRepo + " to v2", "v1 → v2@", "distribution delivery", "Slipway-Image: " + imageRepo + ":v2@" + digest} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message lacks %q:\n%s", want, msg)
		}
	}

	// Outside the range: nothing changes.
	head := remoteHead(t, repo)
	if _, err := ground.Registry.PushImage(t.Context(), imageRepo[len(ground.Registry.Host)+1:]+":v3-rc1", "rc "+ns); err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, s, func(d store.Delivery) bool { return strings.Contains(d.Outcome, ":v3-rc1") })
	// Redelivered: the same envelope again, byte for byte.
	last := lastDeliveryFor(t, imageRepo[len(ground.Registry.Host)+1:], "v2")
	replay := last.Header.Clone()
	replay.Set("Authorization", "Bearer "+registryToken) // as the relay forwards it
	code := postRaw(t, s.URL+"/webhooks/distribution/ground", replay, last.Body)
	if code != http.StatusAccepted {
		t.Errorf("redelivery answered %d, want 202", code)
	}
	time.Sleep(time.Second)
	if h := remoteHead(t, repo); h != head {
		t.Errorf("config repo moved to %s after an out-of-range tag and a redelivery", h)
	}
}

// TestImageAutomationBurst: 20 pushes for 20 applications at once give 20
// correct bumps, none lost.
func TestImageAutomationBurst(t *testing.T) {
	const n = 20
	ns := uniqueNS("burst")
	files := map[string]string{"accounts/local.yaml": accountFor(ns)}
	repos := make([]string, n)
	for i := range n {
		repos[i] = fmt.Sprintf("team/burst-%s-%02d", ns, i)
		for k, v := range automatedApp(fmt.Sprintf("app%02d", i), ns, ground.Registry.Ref(repos[i])) {
			files[k] = v
		}
	}
	s, repo := startAutomation(t, files)
	for i := range n {
		s.waitStatus(fmt.Sprintf("app%02d/testing", i), 90*time.Second, "Synced", synced(""))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := ground.Registry.PushImage(context.Background(), repos[i]+":v2.0.0", repos[i])
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cs, _ := ground.Kube.Clientset()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		bumped := 0
		for _, d := range list.Items {
			if strings.Contains(d.Spec.Template.Spec.Containers[0].Image, ":v2.0.0@sha256:") {
				bumped++
			}
		}
		return bumped == n, nil
	})
	if err != nil {
		t.Fatalf("not every Deployment runs v2.0.0: %v", err)
	}
	git(t, repo.work, "pull", "-q", "origin", "main")
	bumps := strings.Count(git(t, repo.work, "log", "--format=%s"), "Bump ")
	if bumps != n {
		t.Errorf("%d bump commits, want exactly %d", bumps, n)
	}
}

// TestWebhookRefusals: bad inputs are refused with the right status, commit
// nothing, and leave the server up.
func TestWebhookRefusals(t *testing.T) {
	ns := uniqueNS("refuse")
	imageRepo := ground.Registry.Ref("team/refuse-" + ns)
	files := automatedApp("flaskapp", ns, imageRepo)
	files["accounts/local.yaml"] = accountFor(ns)
	s, repo := startAutomation(t, files)
	s.waitStatus("flaskapp/testing", 90*time.Second, "Synced", synced(""))
	head := remoteHead(t, repo)

	envelope := fmt.Sprintf(`{"events":[{"id":"e-%[1]s","timestamp":"2026-11-25T10:00:00Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%[2]s","repository":"team/refuse-%[1]s","tag":"v2.1.0","url":"http://%[3]s/v2/team/refuse-%[1]s/manifests/sha256:%[2]s"},"request":{"id":"r1","addr":"127.0.0.1:1","host":"%[3]s","method":"PUT","useragent":"test"},"actor":{},"source":{"addr":"x","instanceID":"y"}}]}`,
		ns, strings.Repeat("ab", 32), ground.Registry.Host)
	hdr := func(auth string) http.Header {
		h := http.Header{"Content-Type": {testground.RegistryEventsMediaType}}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		return h
	}
	url := s.URL + "/webhooks/distribution/ground"
	cases := []struct {
		name string
		url  string
		hdr  http.Header
		body []byte
		want int
	}{
		{"unsigned", url, hdr(""), []byte(envelope), http.StatusUnauthorized},
		{"wrong token", url, hdr("Bearer nope"), []byte(envelope), http.StatusForbidden},
		{"oversized", url, hdr("Bearer " + registryToken), bytes.Repeat([]byte("x"), 2<<20), http.StatusRequestEntityTooLarge},
		{"malformed JSON", url, hdr("Bearer " + registryToken), []byte(`{"events":[`), http.StatusBadRequest},
		{"unknown receiver", s.URL + "/webhooks/distribution/other", hdr("Bearer " + registryToken), []byte(envelope), http.StatusNotFound},
		{"unknown provider", s.URL + "/webhooks/nexus/ground", hdr("Bearer " + registryToken), []byte(envelope), http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := postRaw(t, tc.url, tc.hdr, tc.body); got != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
			}
		})
	}
	time.Sleep(time.Second)
	if h := remoteHead(t, repo); h != head {
		t.Errorf("a refused delivery committed %s", h)
	}
	if resp, err := http.Get(s.URL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("server not healthy after bad inputs: %v", err)
	}
	// The same envelope, properly signed, is accepted and bumps.
	if got := postRaw(t, url, hdr("Bearer "+registryToken), []byte(envelope)); got != http.StatusAccepted {
		t.Fatalf("signed delivery: status %d, want 202", got)
	}
	waitDelivery(t, s, func(d store.Delivery) bool {
		return d.State == store.DeliveryDone && strings.Contains(d.Outcome, "v2.1.0")
	})
	if h := remoteHead(t, repo); h == head {
		t.Error("the signed delivery committed nothing")
	}
}

func postRaw(t *testing.T, url string, h http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		if k == "Content-Length" {
			continue
		}
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitDelivery(t *testing.T, s *slipway, ok func(store.Delivery) bool) store.Delivery {
	t.Helper()
	var found store.Delivery
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		var list []store.Delivery
		if err := getJSON(s.URL+"/api/v1/events?limit=100", &list); err != nil {
			return false, nil
		}
		for _, d := range list {
			if d.State != store.DeliveryPending && ok(d) {
				found = d
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		var list []store.Delivery
		_ = getJSON(s.URL+"/api/v1/events?limit=100", &list)
		t.Fatalf("no matching delivery processed: %v; deliveries: %+v", err, list)
	}
	return found
}

// lastDeliveryFor is the registry's own delivery of a push of repo:tag.
func lastDeliveryFor(t *testing.T, repo, tag string) testground.Delivery {
	t.Helper()
	ds := ground.Registry.Deliveries()
	for i := len(ds) - 1; i >= 0; i-- {
		for _, e := range ds[i].Events {
			if e.Action == "push" && e.Target.Repository == repo && e.Target.Tag == tag {
				return ds[i]
			}
		}
	}
	t.Fatalf("the registry never notified a push of %s:%s", repo, tag)
	return testground.Delivery{}
}
