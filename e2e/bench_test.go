package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipwaycd/slipway/api"
	"github.com/slipwaycd/slipway/reconciler"
)

// BenchmarkReconcile measures the GitOps core on the test ground (make
// bench-reconcile). For each N it commits N applications (a Deployment and
// a Service each) in one commit and measures the time until every target is
// Healthy; then changes one application's image in one commit and measures
// the time until that Deployment has rolled out; then the CPU of a no-change
// resync of all N. It reports slipway's CPU seconds and peak RSS. Sizes come
// from SLIPWAY_BENCH_N (default "100,1000"); SLIPWAY_BENCH_WORKERS sets
// slipway's --workers; SLIPWAY_BENCH_PROFILE names a directory for CPU profiles.
func BenchmarkReconcile(b *testing.B) {
	sizes := []int{100, 1000}
	if v := os.Getenv("SLIPWAY_BENCH_N"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("SLIPWAY_BENCH_N: bad size %q", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			for range b.N {
				benchReconcile(b, n)
			}
		})
	}
}

func benchApp(i int, ns, image string) map[string]string {
	name := fmt.Sprintf("app-%04d", i)
	dir := "applications/" + name
	return map[string]string{
		dir + "/application.yaml":        fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Application\nmetadata:\n  name: %s\nspec:\n  targets:\n  - name: prod\n    account: local\n    namespace: %s\n    path: prod\n    sync:\n      prune: true\n", name, ns),
		dir + "/prod/kustomization.yaml": fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- deployment.yaml\n- service.yaml\nimages:\n- name: %s\n", image),
		dir + "/prod/deployment.yaml":    fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %[1]s\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: %[1]s}\n  template:\n    metadata:\n      labels: {app: %[1]s}\n    spec:\n      containers:\n      - name: web\n        image: %[2]s\n        ports:\n        - containerPort: 8080\n", name, image),
		dir + "/prod/service.yaml":       fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %[1]s\nspec:\n  selector: {app: %[1]s}\n  ports:\n  - port: 80\n    targetPort: 8080\n", name),
	}
}

func benchReconcile(b *testing.B, n int) {
	ctx := b.Context()
	cs, err := ground.Kube.Clientset()
	if err != nil {
		b.Fatal(err)
	}
	ns := uniqueNS(fmt.Sprintf("bench%d", n))
	image := ground.Registry.Ref("team/bench:v1")
	account := fmt.Sprintf("apiVersion: slipway.dev/v1alpha1\nkind: Account\nmetadata:\n  name: local\nspec:\n  kubeconfig:\n    secretRef: local-kubeconfig\n  namespaces: [%s]\n", ns)
	repo := newConfigRepo(b, map[string]string{"accounts/local.yaml": account})
	profileDir := os.Getenv("SLIPWAY_BENCH_PROFILE") // a directory for CPU profiles of slipway
	extra := []string{"--poll-interval", "1m", "--log-level", "info"}
	if profileDir != "" {
		extra = append(extra, "--pprof")
	}
	if w := os.Getenv("SLIPWAY_BENCH_WORKERS"); w != "" {
		extra = append(extra, "--workers", w)
	}
	s := startSlipway(b, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig}, extra...)
	b.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	pid := s.cmd.Process.Pid
	cpu0 := procCPU(b, pid)

	// N applications in one commit; a webhook would call refresh.
	files := map[string]string{}
	for i := range n {
		for k, v := range benchApp(i, ns, image) {
			files[k] = v
		}
	}
	b.ResetTimer()
	start := time.Now()
	rev := repo.commit(fmt.Sprintf("Add %d applications", n), files)
	if profileDir != "" {
		go saveProfile(s.URL, filepath.Join(profileDir, fmt.Sprintf("cpu-initial-%d.pprof", n)), 20)
	}
	post(b, s.URL+"/api/v1/refresh")
	var healthy time.Duration
	for {
		var list api.TargetList
		if err := getJSON(s.URL+"/api/v1/targets?summary=true", &list); err != nil {
			b.Fatal(err)
		}
		ok := 0
		for _, t := range list.Targets {
			if t.Phase == reconciler.PhaseSynced && t.Health == reconciler.Healthy && t.DesiredRevision == rev {
				ok++
			}
		}
		if ok == n {
			healthy = time.Since(start)
			break
		}
		if time.Since(start) > 15*time.Minute {
			b.Fatalf("only %d of %d targets Healthy after 15 minutes", ok, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.StopTimer()
	cpuAll := procCPU(b, pid) - cpu0

	// One application's image changed in one commit.
	newImage := ground.Registry.Ref("team/bench:v2")
	target := "app-0000"
	change := benchApp(0, ns, newImage)
	start = time.Now()
	repo.commit("Bump "+target, map[string]string{"applications/" + target + "/prod/deployment.yaml": change["applications/"+target+"/prod/deployment.yaml"]})
	pushed := time.Since(start)
	post(b, s.URL+"/api/v1/refresh")
	refreshed := time.Since(start)
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, target, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		st := d.Status
		return d.Spec.Template.Spec.Containers[0].Image == newImage && st.ObservedGeneration >= d.Generation &&
			st.UpdatedReplicas == 1 && st.AvailableReplicas == 1 && st.Replicas == 1, nil
	})
	if err != nil {
		b.Fatalf("%s never rolled out: %v", target, err)
	}
	oneChange := time.Since(start)

	// No-change resync of all N: CPU in a window with the resync, minus an idle window.
	time.Sleep(3 * time.Second) // let the rollout's events settle
	const window = 5 * time.Second
	c := procCPU(b, pid)
	time.Sleep(window)
	idle := procCPU(b, pid) - c
	c = procCPU(b, pid)
	post(b, s.URL+"/api/v1/resync")
	time.Sleep(window)
	resync := procCPU(b, pid) - c
	rss := procPeakRSS(b, pid)
	total := procCPU(b, pid) - cpu0

	pods, _ := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	b.ReportMetric(healthy.Seconds(), "s-all-healthy")
	b.ReportMetric(oneChange.Seconds(), "s-one-change")
	b.ReportMetric((resync - idle).Seconds(), "cpu-s-resync")
	b.ReportMetric(rss/1024, "MiB-peak-rss")
	fmt.Printf("\nslipway reconcile benchmark, N=%d applications (%d objects, %d pods running)\n", n, 2*n, running)
	fmt.Printf("  all %d targets Healthy after one commit   %8.1f s   (slipway CPU %.1f s)\n", n, healthy.Seconds(), cpuAll.Seconds())
	fmt.Printf("  one app's image changed → rolled out      %8.2f s   (git push %.2f s, refresh done %.2f s)\n", oneChange.Seconds(), pushed.Seconds(), refreshed.Seconds())
	fmt.Printf("  no-change resync of all %d targets         %8.2f CPU-s  (window %.2f, idle %.2f)\n", n, (resync - idle).Seconds(), resync.Seconds(), idle.Seconds())
	fmt.Printf("  slipway CPU in total                       %8.1f s\n", total.Seconds())
	fmt.Printf("  slipway peak RSS                           %8.0f MiB\n\n", rss/1024)
}

// saveProfile fetches a CPU profile of slipway to path.
func saveProfile(base, path string, seconds int) {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

func post(b *testing.B, url string) {
	b.Helper()
	code, body, err := apiPost(url, adminToken, nil)
	if err != nil {
		b.Fatal(err)
	}
	if code >= 300 {
		b.Fatalf("POST %s: %d %s", url, code, body)
	}
}

// procCPU is a process's user+system CPU time from /proc.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration((utime + stime) / ticks * float64(time.Second))
}

// procPeakRSS is a process's peak resident set size in KiB (VmHWM).
func procPeakRSS(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}
