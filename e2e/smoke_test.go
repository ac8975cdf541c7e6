package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/slipwaycd/slipway/e2e/testground"
)

// TestGroundKubernetes walks the console's example by hand with client-go: a
// 2-replica Deployment and a LoadBalancer Service become Ready, the Service
// gets an ingress address, and a pod's log can be read.
func TestGroundKubernetes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, cs, "smoke")

	labels := map[string]string{"app": "flaskapp"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "flaskapp", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "web",
					Image: ground.Registry.Ref("team/flaskapp:v1"),
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "flaskapp", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var pods []corev1.Pod
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
		if err != nil || d.Status.ReadyReplicas != 2 || d.Status.AvailableReplicas != 2 {
			return false, err
		}
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=flaskapp"})
		if err != nil {
			return false, err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) && p.Spec.NodeName != "" {
				pods = append(pods, p)
			}
		}
		return len(pods) == 2, nil
	})
	if err != nil {
		t.Fatalf("deployment never had 2 running, ready pods: %v", err)
	}

	var ingress string
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Services(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if len(s.Status.LoadBalancer.Ingress) > 0 {
			ingress = s.Status.LoadBalancer.Ingress[0].IP
		}
		return ingress != "", nil
	})
	if err != nil {
		t.Fatalf("service never got a load balancer ingress: %v", err)
	}
	if !strings.HasPrefix(ingress, "127.") {
		t.Errorf("ingress IP = %q, want a loopback address", ingress)
	}

	logs, err := cs.CoreV1().Pods(ns).GetLogs(pods[0].Name, &corev1.PodLogOptions{Container: "web"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading logs of %s: %v", pods[0].Name, err)
	}
	want := strings.Join(ground.Kube.PodLogLines, "\n") + "\n"
	if string(logs) != want {
		t.Errorf("pod log = %q, want %q", logs, want)
	}

	// A rolling update goes through the real controllers.
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = ground.Registry.Ref("team/flaskapp:v2")
	if _, err := cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := d.Status
		return s.ObservedGeneration == d.Generation && s.UpdatedReplicas == 2 && s.AvailableReplicas == 2 && s.Replicas == 2, nil
	})
	if err != nil {
		t.Fatalf("rolling update never completed: %v", err)
	}
}

// TestGroundRegistryNotifications pushes with crane and checks that the
// registry's own notification, with repository, tag and digest, reaches a
// subscribed listener.
func TestGroundRegistryNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer listener.Close()
	unsubscribe := ground.Registry.Subscribe(listener.URL+"/hook", http.Header{"Authorization": {"Bearer listener-token"}})
	defer unsubscribe()

	repo := fmt.Sprintf("team/smoke-%d", time.Now().UnixNano())
	digest, err := ground.Registry.PushImage(ctx, repo+":v1", "smoke v1")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := ground.Registry.WaitForEvent(ctx, func(e testground.RegistryEvent) bool {
		return e.Action == "push" && e.Target.Repository == repo && e.Target.Tag == "v1"
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Target.Digest != digest {
		t.Errorf("event digest = %s, crane pushed %s", ev.Target.Digest, digest)
	}

	// The listener got the same delivery, as the registry sent it.
	err = wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		for i, r := range got {
			var env struct {
				Events []testground.RegistryEvent `json:"events"`
			}
			if err := json.Unmarshal(bodies[i], &env); err != nil {
				return false, fmt.Errorf("listener got a body that is not an envelope: %w", err)
			}
			for _, e := range env.Events {
				if e.Action == "push" && e.Target.Repository == repo && e.Target.Tag == "v1" {
					if ct := r.Header.Get("Content-Type"); ct != testground.RegistryEventsMediaType {
						return false, fmt.Errorf("content type %q, want %q", ct, testground.RegistryEventsMediaType)
					}
					if a := r.Header.Get("Authorization"); a != "Bearer listener-token" {
						return false, fmt.Errorf("authorization %q, want the subscriber's", a)
					}
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("listener never received the push of %s:v1: %v", repo, err)
	}

	// The registry serves what was pushed.
	out, err := ground.Registry.Crane(ctx, "digest", ground.Registry.Ref(repo+":v1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != digest {
		t.Errorf("crane digest = %s, want %s", out, digest)
	}
}

// TestGroundGit clones, commits and pushes over smart HTTP with basic auth,
// and is refused without the password.
func TestGroundGit(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("config-%d", time.Now().UnixNano())
	if _, err := ground.Git.CreateRepo(ctx, name); err != nil {
		t.Fatal(err)
	}
	url := ground.Git.AuthRepoURL(name)

	work := filepath.Join(t.TempDir(), "work")
	git(t, "", "clone", url, work)
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("config repo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "README.md")
	git(t, work, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-m", "first")
	git(t, work, "push", "origin", "HEAD:main")

	again := filepath.Join(t.TempDir(), "again")
	git(t, "", "clone", "-b", "main", url, again)
	b, err := os.ReadFile(filepath.Join(again, "README.md"))
	if err != nil || string(b) != "config repo\n" {
		t.Fatalf("second clone has README.md = %q, %v", b, err)
	}

	cmd := exec.CommandContext(ctx, "git", "ls-remote", ground.Git.RepoURL(name))
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("ls-remote without credentials succeeded: %s", out)
	}
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newNamespace(t *testing.T, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }
