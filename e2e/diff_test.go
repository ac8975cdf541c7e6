package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/reconciler"
)

// TestDiff plans a synced flaskapp target against edits of its config repo's
// working copy that are never pushed: nothing, a replica change, a Service
// removed with prune on and off. Plans name only the fields Git changes (no
// defaults) and change nothing in the cluster. Then `slipway diff` prints
// the same and exits non-zero only when something would change.
func TestDiff(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("diff")
	image := ground.Registry.Ref("team/flaskapp:v1")
	files := flaskappRepo(ns, image, 2, "selfHeal")
	repo := newConfigRepo(t, files)
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig})
	s.waitStatus("flaskapp/testing", 90*time.Second, "Synced and Healthy", synced(""))
	rev := strings.TrimSpace(git(t, repo.work, "rev-parse", "HEAD"))

	cl, err := reconciler.NewCluster("local", ground.Kube.RESTConfig(), "slipway", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	plan := func(t *testing.T) *reconciler.Plan {
		t.Helper()
		tree := os.DirFS(repo.work)
		cfg, err := config.Load(tree)
		if err != nil {
			t.Fatal(err)
		}
		app, tg, ok := cfg.Target("flaskapp", "testing")
		if !ok {
			t.Fatal("target flaskapp/testing not found")
		}
		p, err := reconciler.PlanTarget(t.Context(), cl, tree, rev, app, tg, cfg.Accounts[tg.Account])
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(t *testing.T, changes map[string]string) {
		t.Helper()
		for path, content := range changes {
			if err := os.WriteFile(filepath.Join(repo.work, path), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	restore := func(t *testing.T) {
		t.Helper()
		git(t, repo.work, "checkout", "--", ".")
	}
	deploy, svc := "Deployment/"+ns+"/flaskapp", "Service/"+ns+"/flaskapp"
	actions := func(p *reconciler.Plan) map[string]reconciler.Action {
		m := map[string]reconciler.Action{}
		for _, o := range p.Objects {
			m[o.Object] = o.Action
		}
		return m
	}
	fields := func(p *reconciler.Plan, object string) []reconciler.FieldDiff {
		for _, o := range p.Objects {
			if o.Object == object {
				return o.Fields
			}
		}
		return nil
	}
	withoutService := `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
`

	t.Run("no change", func(t *testing.T) {
		p := plan(t)
		want := map[string]reconciler.Action{deploy: reconciler.Unchanged, svc: reconciler.Unchanged}
		if diff := cmp.Diff(want, actions(p)); diff != "" {
			t.Errorf("actions (-want +got):\n%s\nplan: %+v", diff, p.Objects)
		}
		if p.Changed() {
			t.Errorf("Changed() = true for an unchanged target")
		}
	})

	t.Run("replicas", func(t *testing.T) {
		defer restore(t)
		write(t, map[string]string{"applications/flaskapp/testing/deployment.yaml": flaskappDeployment(image, 5)})
		p := plan(t)
		want := map[string]reconciler.Action{deploy: reconciler.Configured, svc: reconciler.Unchanged}
		if diff := cmp.Diff(want, actions(p)); diff != "" {
			t.Errorf("actions (-want +got):\n%s", diff)
		}
		wantFields := []reconciler.FieldDiff{{Path: "spec.replicas", Live: int64(2), Desired: int64(5)}}
		if diff := cmp.Diff(wantFields, fields(p, deploy)); diff != "" {
			t.Errorf("Deployment fields (-want +got):\n%s", diff)
		}
		if !p.Changed() {
			t.Errorf("Changed() = false with replicas changed")
		}
	})

	t.Run("service removed", func(t *testing.T) {
		defer restore(t)
		write(t, map[string]string{"applications/flaskapp/testing/kustomization.yaml": withoutService})
		p := plan(t)
		want := map[string]reconciler.Action{deploy: reconciler.Unchanged, svc: reconciler.Pruned}
		if diff := cmp.Diff(want, actions(p)); diff != "" {
			t.Errorf("actions (-want +got):\n%s", diff)
		}
		if last := p.Objects[len(p.Objects)-1]; last.Object != svc {
			t.Errorf("last object = %s, want the prune %s", last.Object, svc)
		}
		if !p.Changed() {
			t.Errorf("Changed() = false with the Service to prune")
		}
	})

	t.Run("service removed without prune", func(t *testing.T) {
		defer restore(t)
		write(t, map[string]string{
			"applications/flaskapp/testing/kustomization.yaml": withoutService,
			"applications/flaskapp/application.yaml":           strings.Replace(flaskappApp(ns, "selfHeal"), "prune: true", "prune: false", 1),
		})
		p := plan(t)
		want := map[string]reconciler.Action{deploy: reconciler.Unchanged, svc: reconciler.Skipped}
		if diff := cmp.Diff(want, actions(p)); diff != "" {
			t.Errorf("actions (-want +got):\n%s", diff)
		}
		if p.Changed() {
			t.Errorf("Changed() = true when only a skipped object differs")
		}
	})

	// The plans were dry runs.
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("after planning, replicas = %v (%v), want 2", d.Spec.Replicas, err)
	}
	if _, err := cs.CoreV1().Services(ns).Get(t.Context(), "flaskapp", metav1.GetOptions{}); err != nil {
		t.Errorf("after planning, Service: %v", err)
	}

	t.Run("command", func(t *testing.T) {
		bin, err := slipwayBinary()
		if err != nil {
			t.Fatal(err)
		}
		secretDir := t.TempDir()
		kc, err := os.ReadFile(ground.Kube.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(secretDir, "local-kubeconfig"), kc, 0o600); err != nil {
			t.Fatal(err)
		}
		run := func(t *testing.T, args ...string) (string, int) {
			t.Helper()
			cmd := exec.CommandContext(t.Context(), bin, append([]string{"diff", "flaskapp/testing",
				"--dir", repo.work, "--secrets", "dir:" + secretDir, "--data-dir", t.TempDir()}, args...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			var exit *exec.ExitError
			switch {
			case err == nil:
				return string(out), 0
			case errors.As(err, &exit):
				if stderr.Len() > 0 {
					t.Errorf("slipway diff wrote to stderr: %s", stderr.String())
				}
				return string(out), exit.ExitCode()
			}
			t.Fatalf("slipway diff: %v\n%s", err, stderr.String())
			return "", 0
		}

		out, code := run(t)
		// Apply order: Services before Deployments.
		if want := svc + ": unchanged\n" + deploy + ": unchanged\nno changes; 2 unchanged\n"; code != 0 || out != want {
			t.Errorf("no change: exit %d, output:\n%s\nwant:\n%s", code, out, want)
		}

		defer restore(t)
		write(t, map[string]string{
			"applications/flaskapp/testing/deployment.yaml":    flaskappDeployment(image, 5),
			"applications/flaskapp/testing/kustomization.yaml": withoutService,
		})
		out, code = run(t)
		want := deploy + ": configured\n  spec.replicas: 2 → 5\n" + svc + ": pruned\n2 to change: 1 configured, 1 pruned\n"
		// Exit status 2 once main maps errChanges; 1 until then. Never 0.
		if code == 0 || out != want {
			t.Errorf("changes: exit %d, output:\n%s\nwant:\n%s", code, out, want)
		}
		out, _ = run(t, "-o", "json")
		if !strings.Contains(out, `"path": "spec.replicas"`) || !strings.Contains(out, `"action": "pruned"`) {
			t.Errorf("-o json output:\n%s", out)
		}
	})
}
