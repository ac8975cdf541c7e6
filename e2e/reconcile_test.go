package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/slipwaycd/slipway/e2e/testground"
	"github.com/slipwaycd/slipway/reconciler"
)

// flaskappRepo is the console's example as a config repo: account local,
// project cd-demo, application flaskapp with target testing → a 2-replica
// Deployment and a LoadBalancer Service in namespace ns.
func flaskappRepo(ns, image string, replicas int, drift string) map[string]string {
	return map[string]string{
		"accounts/local.yaml": fmt.Sprintf(`apiVersion: slipway.dev/v1alpha1
kind: Account
metadata:
  name: local
spec:
  description: The local test cluster
  kubeconfig:
    secretRef: local-kubeconfig
  namespaces: [%s]
  environment: testing
`, ns),
		"projects/cd-demo.yaml": `apiVersion: slipway.dev/v1alpha1
kind: Project
metadata:
  name: cd-demo
spec:
  applications: [flaskapp]
`,
		"applications/flaskapp/application.yaml": flaskappApp(ns, drift),
		"applications/flaskapp/testing/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
- service.yaml
`,
		"applications/flaskapp/testing/deployment.yaml": flaskappDeployment(image, replicas),
		"applications/flaskapp/testing/service.yaml": `apiVersion: v1
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
`,
	}
}

func flaskappApp(ns, drift string) string {
	return fmt.Sprintf(`apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: flaskapp
spec:
  description: Flask demo app
  instancePort: 8080
  targets:
  - name: testing
    account: local
    namespace: %s
    path: testing
    stack: testing
    sync:
      mode: automatic
      prune: true
      drift: %s
`, ns, drift)
}

func flaskappDeployment(image string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: flaskapp
  labels:
    app: flaskapp
spec:
  replicas: %d
  selector:
    matchLabels:
      app: flaskapp
  template:
    metadata:
      labels:
        app: flaskapp
    spec:
      containers:
      - name: flaskapp
        image: %s
        ports:
        - name: http
          containerPort: 8080
`, replicas, image)
}

func uniqueNS(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// TestReconcileFlaskapp walks the GitOps core's acceptance: a commit gets the
// Deployment and LoadBalancer Service applied and healthy; Git changes are
// applied; hand edits are reverted or reported per policy; what leaves Git is
// pruned; what people created by hand is left alone.
func TestReconcileFlaskapp(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("flaskapp")
	image := ground.Registry.Ref("team/flaskapp:v1")
	repo := newConfigRepo(t, flaskappRepo(ns, image, 2, "selfHeal"))
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})
	const ref = "flaskapp/testing"

	st := s.waitStatus(ref, 90*time.Second, "Synced and Healthy", synced(""))
	if len(st.Ingress) == 0 || !strings.HasPrefix(st.Ingress[0], "127.") {
		t.Errorf("status ingress = %v, want the Service's 127.x load balancer address", st.Ingress)
	}
	want := map[string]reconciler.Action{"Service/" + ns + "/flaskapp": reconciler.Created, "Deployment/" + ns + "/flaskapp": reconciler.Created}
	for _, c := range st.Changes {
		if want[c.Object] != c.Action {
			t.Errorf("change %s = %s, want %s", c.Object, c.Action, want[c.Object])
		}
		delete(want, c.Object)
	}
	if len(want) != 0 {
		t.Errorf("change set misses %v (got %v)", want, st.Changes)
	}
	waitPods(t, cs, ns, 2, image)

	// An object created by hand in the namespace is never touched.
	handmade, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "handmade"}, Data: map[string]string{"made": "by hand"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Replicas changed in Git → applied.
	rev := repo.commit("Scale flaskapp to 3", map[string]string{
		"applications/flaskapp/testing/deployment.yaml": flaskappDeployment(image, 3),
	})
	st = s.waitStatus(ref, 60*time.Second, "synced at the new revision", synced(rev))
	waitReplicas(t, cs, ns, 3)

	// Scaled by hand → reverted (self-heal).
	scaleByHand(t, cs, ns, 1)
	waitReplicas(t, cs, ns, 3)
	st = s.waitStatus(ref, 30*time.Second, "healthy again after self-heal", synced(rev))
	if len(st.Drift) != 0 {
		t.Errorf("drift after self-heal = %v, want none", st.Drift)
	}

	// Report only: the hand edit stays and the status says so.
	rev = repo.commit("Report drift only", map[string]string{
		"applications/flaskapp/application.yaml": flaskappApp(ns, "report"),
	})
	s.waitStatus(ref, 60*time.Second, "policy report applied", func(st reconciler.TargetStatus) bool {
		return synced(rev)(st) && st.Policy.Drift == "report"
	})
	scaleByHand(t, cs, ns, 1)
	st = s.waitStatus(ref, 30*time.Second, "drift reported", func(st reconciler.TargetStatus) bool {
		return len(st.Drift) > 0
	})
	if !strings.Contains(strings.Join(st.Drift, " "), "spec.replicas") {
		t.Errorf("drift = %v, want it to name spec.replicas", st.Drift)
	}
	// A resync must not revert it either.
	if code, body, err := apiPost(s.URL+"/api/v1/resync", adminToken, nil); err != nil || code != http.StatusAccepted {
		t.Fatalf("resync: %d %s %v", code, body, err)
	}
	time.Sleep(2 * time.Second) // give a wrong self-heal time to happen
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 {
		t.Errorf("with drift: report, replicas = %d, want the hand-set 1 kept", *d.Spec.Replicas)
	}

	// A manifest removed from Git → pruned.
	rev = repo.commit("Remove the Service", map[string]string{
		"applications/flaskapp/testing/service.yaml": "",
		"applications/flaskapp/testing/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
`,
	})
	st = s.waitStatus(ref, 60*time.Second, "synced without the Service", func(st reconciler.TargetStatus) bool {
		return st.Phase == reconciler.PhaseSynced && st.SyncedRevision == rev
	})
	pruned := false
	for _, c := range st.Changes {
		if c.Object == "Service/"+ns+"/flaskapp" && c.Action == reconciler.Pruned {
			pruned = true
		}
	}
	if !pruned {
		t.Errorf("change set %v does not prune the Service", st.Changes)
	}
	waitGone(t, func(ctx context.Context) error {
		_, err := cs.CoreV1().Services(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
		return err
	})

	// The hand-made object is still there, untouched.
	got, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "handmade", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("hand-made ConfigMap: %v", err)
	}
	if got.ResourceVersion != handmade.ResourceVersion {
		t.Errorf("hand-made ConfigMap was modified (resourceVersion %s → %s)", handmade.ResourceVersion, got.ResourceVersion)
	}

	// History was recorded.
	var hist []map[string]any
	if err := getJSON(s.URL+"/api/v1/targets/"+ref+"/history", &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist) < 4 {
		t.Errorf("history has %d records, want at least 4 syncs", len(hist))
	}
}

// TestReconcileBadInputs: invalid YAML, an unknown field, a missing account
// and a kustomize error each fail the sync with an error naming the file,
// change nothing in the cluster, and show in the status; a fix recovers.
func TestReconcileBadInputs(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("bad")
	image := ground.Registry.Ref("team/flaskapp:v1")
	files := flaskappRepo(ns, image, 2, "selfHeal")
	repo := newConfigRepo(t, files)
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})
	const ref = "flaskapp/testing"
	s.waitStatus(ref, 90*time.Second, "Synced and Healthy", synced(""))
	before, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		files   map[string]string
		wantErr []string
	}{
		{"invalid YAML", map[string]string{
			"applications/flaskapp/application.yaml": "apiVersion: slipway.dev/v1alpha1\nkind: Application\nmetadata:\n  name: [flaskapp\n",
		}, []string{"applications/flaskapp/application.yaml"}},
		{"unknown field", map[string]string{
			"applications/flaskapp/application.yaml": strings.Replace(flaskappApp(ns, "selfHeal"), "  instancePort: 8080\n", "  instancePort: 8080\n  replicaz: 3\n", 1),
		}, []string{"applications/flaskapp/application.yaml:", "replicaz"}},
		{"missing account", map[string]string{
			"applications/flaskapp/application.yaml": strings.Replace(flaskappApp(ns, "selfHeal"), "account: local", "account: nowhere", 1),
		}, []string{"applications/flaskapp/application.yaml:", "nowhere"}},
		{"kustomize error", map[string]string{
			"applications/flaskapp/testing/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\n- missing.yaml\n",
		}, []string{"applications/flaskapp/testing", "missing.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			good, err := s.status(ref)
			if err != nil {
				t.Fatal(err)
			}
			bad := repo.commit("Break: "+tc.name, tc.files)
			st := s.waitStatus(ref, 30*time.Second, "Failed at the bad revision", func(st reconciler.TargetStatus) bool {
				return st.Phase == reconciler.PhaseFailed && st.DesiredRevision == bad
			})
			for _, w := range tc.wantErr {
				if !strings.Contains(st.LastError, w) {
					t.Errorf("error %q does not mention %q", st.LastError, w)
				}
			}
			if st.SyncedRevision != good.SyncedRevision {
				t.Errorf("synced revision moved to %s on a bad commit", st.SyncedRevision)
			}
			after, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the Deployment changed on a bad commit (resourceVersion %s → %s)", before.ResourceVersion, after.ResourceVersion)
			}
			// Restore the good files.
			fix := map[string]string{}
			for p := range tc.files {
				fix[p] = files[p]
			}
			rev := repo.commit("Fix: "+tc.name, fix)
			s.waitStatus(ref, 30*time.Second, "Synced after the fix", synced(rev))
		})
	}
}

// TestReconcileTwoAccounts: two accounts on two clusters each get their own
// targets.
func TestReconcileTwoAccounts(t *testing.T) {
	second, err := testground.Start(t.Context(), testground.Options{NoRegistry: true, NoGit: true, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)
	nsA, nsB := uniqueNS("east"), uniqueNS("west")
	account := func(name, secret, ns string) string {
		return fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: %s\nspec:\n  kubeconfig:\n    secretRef: %s\n  namespaces: [%s]\n", name, secret, ns)
	}
	app := func(name, acct, ns string) string {
		return fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Application\nmetadata:\n  name: %s\nspec:\n  targets:\n  - name: prod\n    account: %s\n    namespace: %s\n    path: prod\n    sync:\n      prune: true\n", name, acct, ns)
	}
	cm := func(name string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  cluster: %s\n", name, name)
	}
	repo := newConfigRepo(t, map[string]string{
		"accounts/east.yaml":                  account("east", "east-kubeconfig", nsA),
		"accounts/west.yaml":                  account("west", "west-kubeconfig", nsB),
		"applications/shop/application.yaml":  app("shop", "east", nsA),
		"applications/shop/prod/config.yaml":  cm("shop"),
		"applications/stock/application.yaml": app("stock", "west", nsB),
		"applications/stock/prod/config.yaml": cm("stock"),
	})
	s := startSlipway(t, repo.name, map[string]string{
		"east-kubeconfig": ground.Kube.Kubeconfig,
		"west-kubeconfig": second.Kube.Kubeconfig,
	})
	s.waitStatus("shop/prod", 60*time.Second, "Synced", synced(""))
	s.waitStatus("stock/prod", 60*time.Second, "Synced", synced(""))

	east, _ := ground.Kube.Clientset()
	west, _ := second.Kube.Clientset()
	for _, c := range []struct {
		cs        kubernetes.Interface
		ns, name  string
		wantExist bool
	}{
		{east, nsA, "shop", true}, {west, nsB, "stock", true},
		{west, nsA, "shop", false}, {east, nsB, "stock", false},
	} {
		_, err := c.cs.CoreV1().ConfigMaps(c.ns).Get(t.Context(), c.name, metav1.GetOptions{})
		if c.wantExist && err != nil {
			t.Errorf("ConfigMap %s/%s: %v", c.ns, c.name, err)
		}
		if !c.wantExist && !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s/%s exists on the wrong cluster (err %v)", c.ns, c.name, err)
		}
	}

	var accounts []reconciler.AccountStatus
	if err := getJSON(s.URL+"/api/v1/accounts", &accounts); err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 2 {
		t.Fatalf("accounts = %+v, want east and west", accounts)
	}
	for _, a := range accounts {
		if !a.Verified || !a.Reachable || a.ServerVersion != testground.KubernetesVersion {
			t.Errorf("account %s = %+v, want verified on %s", a.Name, a, testground.KubernetesVersion)
		}
	}
}

// TestReconcileKilledMidSync: slipway killed with SIGKILL in the middle of a
// sync converges after restart with its inventory intact: later prunes
// still find every object it applied.
func TestReconcileKilledMidSync(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("crash")
	const n = 60
	files := map[string]string{
		"accounts/local.yaml":                fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: local-kubeconfig\n  namespaces: [%s]\n", ns),
		"applications/many/application.yaml": fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Application\nmetadata:\n  name: many\nspec:\n  targets:\n  - name: all\n    account: local\n    namespace: %s\n    path: all\n    sync:\n      prune: true\n", ns),
	}
	for i := range n {
		files[fmt.Sprintf("applications/many/all/cm-%02d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\ndata:\n  i: \"%d\"\n", i, i)
	}
	repo := newConfigRepo(t, files)
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})

	// Kill as soon as the first objects exist, before all of them do.
	err = wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "slipway.dev/target=all,app.kubernetes.io/managed-by=slipway"})
		return err == nil && len(list.Items) > 0, nil
	})
	if err != nil {
		t.Fatalf("no object appeared: %v", err)
	}
	s.stop(syscall.SIGKILL)
	list, _ := cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "slipway.dev/target=all,app.kubernetes.io/managed-by=slipway"})
	t.Logf("killed slipway with %d of %d objects applied", len(list.Items), n)

	s.start()
	s.waitStatus("many/all", 60*time.Second, "Synced after restart", synced(""))
	list, err = cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "slipway.dev/target=all,app.kubernetes.io/managed-by=slipway"})
	if err != nil || len(list.Items) != n {
		t.Fatalf("after restart %d objects (err %v), want %d", len(list.Items), err, n)
	}

	// Inventory intact: removing half of them from Git prunes exactly those.
	remove := map[string]string{}
	for i := 0; i < n; i += 2 {
		remove[fmt.Sprintf("applications/many/all/cm-%02d.yaml", i)] = ""
	}
	rev := repo.commit("Remove half", remove)
	s.waitStatus("many/all", 60*time.Second, "Synced without half", synced(rev))
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err = cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "slipway.dev/target=all,app.kubernetes.io/managed-by=slipway"})
		return err == nil && len(list.Items) == n/2, nil
	})
	if err != nil {
		t.Fatalf("after removing %d from Git, %d objects remain, want %d", n/2, len(list.Items), n/2)
	}
	for _, cm := range list.Items {
		var i int
		fmt.Sscanf(cm.Name, "cm-%d", &i)
		if i%2 == 0 {
			t.Errorf("%s should have been pruned", cm.Name)
		}
	}
}

func waitPods(t *testing.T, cs kubernetes.Interface, ns string, n int, image string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=flaskapp"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) && p.Spec.Containers[0].Image == image &&
				p.Labels["slipway.dev/application"] == "flaskapp" {
				ready++
			}
		}
		return ready == n, nil
	})
	if err != nil {
		t.Fatalf("%d running, ready pods of %s never appeared: %v", n, image, err)
	}
}

func waitReplicas(t *testing.T, cs kubernetes.Interface, ns string, n int32) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return *d.Spec.Replicas == n && d.Status.AvailableReplicas == n, nil
	})
	if err != nil {
		t.Fatalf("Deployment never had %d available replicas: %v", n, err)
	}
}

func scaleByHand(t *testing.T, cs kubernetes.Interface, ns string, n int32) {
	t.Helper()
	sc, err := cs.AppsV1().Deployments(ns).GetScale(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = n
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(t.Context(), "flaskapp", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitGone(t *testing.T, get func(context.Context) error) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(get(ctx)), nil
	})
	if err != nil {
		t.Fatalf("object never went away: %v", err)
	}
}

// TestReconcileHealthTimeout: a Deployment whose pods can never be scheduled
// stays Progressing, and the target turns Degraded when its health timeout
// passes, saying why.
func TestReconcileHealthTimeout(t *testing.T) {
	ns := uniqueNS("stuck")
	files := flaskappRepo(ns, ground.Registry.Ref("team/flaskapp:v1"), 1, "selfHeal")
	files["applications/flaskapp/testing/deployment.yaml"] = strings.Replace(flaskappDeployment(ground.Registry.Ref("team/flaskapp:v1"), 1),
		"    spec:\n      containers:", "    spec:\n      nodeSelector: {slipway.dev/no-such-node: \"true\"}\n      containers:", 1)
	repo := newConfigRepo(t, files)
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig}, "--health-timeout", "3s")
	s.waitStatus("flaskapp/testing", 60*time.Second, "Progressing", func(st reconciler.TargetStatus) bool {
		return st.Phase == reconciler.PhaseSynced && st.Health == reconciler.Progressing
	})
	st := s.waitStatus("flaskapp/testing", 30*time.Second, "Degraded after the timeout", func(st reconciler.TargetStatus) bool {
		return st.Health == reconciler.Degraded
	})
	if !strings.Contains(st.HealthMessage, "Deployment/"+ns+"/flaskapp") || !strings.Contains(st.HealthMessage, "3s") {
		t.Errorf("health message %q should name the Deployment and the timeout", st.HealthMessage)
	}
}
