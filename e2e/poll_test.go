package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipwaycd/slipway/reconciler"
)

// TestPollRegistry: with no receiver configured, no webhook can arrive; an
// automation with poll: 5s still finds a crane push of v2.0.0, commits it,
// and the Deployment runs it. Later rounds find nothing new and commit
// nothing.
func TestPollRegistry(t *testing.T) {
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	const every = 5 * time.Second
	ns := uniqueNS("poll")
	app := "pollapp"
	path := fmt.Sprintf("team/%s-%s", app, ns)
	imageRepo := ground.Registry.Ref(path)
	files := automatedApp(app, ns, imageRepo)
	appFile := "applications/" + app + "/application.yaml"
	files[appFile] = strings.Replace(files[appFile], "      policy:\n", fmt.Sprintf("      poll: %s\n      policy:\n", every), 1)
	if !strings.Contains(files[appFile], "poll: 5s") {
		t.Fatalf("poll not set:\n%s", files[appFile])
	}
	files["accounts/local.yaml"] = accountFor(ns)
	repo := newConfigRepo(t, files)
	s := startSlipway(t, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig}) // no --receiver
	ref := app + "/testing"
	s.waitStatus(ref, 90*time.Second, "Synced and Healthy at v1", synced(""))
	before := remoteHead(t, repo)
	time.Sleep(every) // a round finds the repository empty before the push

	pushed := time.Now()
	digest, err := ground.Registry.PushImage(t.Context(), path+":v2.0.0", "pollapp v2.0.0 "+ns)
	if err != nil {
		t.Fatal(err)
	}
	wantImage := imageRepo + ":v2.0.0@" + digest
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
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
	t.Logf("push→running %s", time.Since(pushed).Round(time.Millisecond))
	s.waitStatus(ref, 30*time.Second, "Healthy at the bump", func(st reconciler.TargetStatus) bool {
		return synced("")(st) && st.SyncedRevision != before
	})

	git(t, repo.work, "pull", "-q", "origin", "main")
	msg := git(t, repo.work, "log", "-1", "--format=%B")
	for _, want := range []string{"Bump " + ref + " image " + imageRepo + " to v2.0.0", "Reported by registry poll.", "Slipway-Image: " + wantImage} {
		if !strings.Contains(msg, want) {
			t.Errorf("commit message lacks %q:\n%s", want, msg)
		}
	}

	// Two more rounds find the same tag and digest: nothing to commit.
	head := remoteHead(t, repo)
	time.Sleep(2*every + time.Second)
	if h := remoteHead(t, repo); h != head {
		t.Errorf("config repo moved from %s to %s with nothing new in the registry", head, h)
	}
	git(t, repo.work, "pull", "-q", "origin", "main")
	bumps := strings.Count(git(t, repo.work, "log", "--format=%s"), "Bump ")
	if bumps != 1 {
		t.Errorf("%d bump commits, want 1", bumps)
	}
}
