package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// BenchmarkWebhooks measures the webhook path on the test ground (make
// bench-webhooks): signed GitHub push deliveries accepted per second with
// p50/p99 latency from 16 concurrent senders on loopback (each delivery
// verified, parsed and stored before its 202), then push→healthy over 20
// image pushes through the real registry's notifications.
func BenchmarkWebhooks(b *testing.B) {
	const secret = "bench-github-secret"
	ns := uniqueNS("whbench")
	imageRepo := ground.Registry.Ref("team/whbench-" + ns)
	files := automatedApp("flaskapp", ns, imageRepo)
	files["accounts/local.yaml"] = accountFor(ns)
	repo := newConfigRepo(b, files)
	s := startSlipwayWithSecrets(b, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig},
		map[string]string{"registry-webhook": registryToken, "github-webhook": secret},
		"--receiver", "distribution/ground=registry-webhook", "--receiver", "github/config=github-webhook", "--log-level", "warn",
		"--webhook-rate", "-1") // every sender is on loopback: one source
	unsubscribe := ground.Registry.Subscribe(s.URL+"/webhooks/distribution/ground", http.Header{"Authorization": {"Bearer " + registryToken}})
	b.Cleanup(unsubscribe)
	s.waitStatus("flaskapp/testing", 90*time.Second, "Synced", synced(""))

	body, err := os.ReadFile("../webhooks/testdata/github/push.branch.json")
	if err != nil {
		b.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))

	// Signed deliveries per second.
	const senders = 16
	const duration = 10 * time.Second
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var seq atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var refused atomic.Int64
	ctx, cancel := context.WithTimeout(b.Context(), duration)
	defer cancel()
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/webhooks/github/config", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", "push")
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", seq.Add(1)))
				req.Header.Set("X-Hub-Signature-256", signature)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					refused.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					refused.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(float64(len(latencies)-1)*p)]
	}
	rate := float64(len(latencies)) / elapsed.Seconds()

	// Push → healthy over 20 image pushes, one at a time.
	cs, err := ground.Kube.Clientset()
	if err != nil {
		b.Fatal(err)
	}
	var commits, commitsAfterPush, healthy []time.Duration
	for i := 1; i <= 20; i++ {
		tag := fmt.Sprintf("v2.0.%d", i)
		head := remoteHead(b, repo)
		t0 := time.Now()
		if _, err := ground.Registry.PushImage(b.Context(), imageRepo[len(ground.Registry.Host)+1:]+":"+tag, ns+tag); err != nil {
			b.Fatal(err)
		}
		pushed := time.Now() // crane has written the manifest: the registry notifies now
		err := wait.PollUntilContextTimeout(b.Context(), 5*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			return remoteHead(b, repo) != head, nil
		})
		if err != nil {
			b.Fatalf("%s: no commit: %v", tag, err)
		}
		commits = append(commits, time.Since(t0))
		commitsAfterPush = append(commitsAfterPush, time.Since(pushed))
		err = wait.PollUntilContextTimeout(b.Context(), 10*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			st := d.Status
			return bytes.Contains([]byte(d.Spec.Template.Spec.Containers[0].Image), []byte(":"+tag+"@")) &&
				st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == 1 && st.AvailableReplicas == 1 && st.Replicas == 1, nil
		})
		if err != nil {
			b.Fatalf("%s never rolled out: %v", tag, err)
		}
		healthy = append(healthy, time.Since(t0))
	}
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "ms-p99")
	b.ReportMetric(median(commitsAfterPush).Seconds()*1000, "ms-push-commit-p50")
	b.ReportMetric(median(healthy).Seconds(), "s-push-healthy-p50")
	fmt.Printf("\nslipway webhook benchmark\n")
	fmt.Printf("  signed GitHub push deliveries accepted    %8.0f /s  (%d in %s, %d senders, %d refused)\n", rate, len(latencies), elapsed.Round(time.Millisecond), senders, refused.Load())
	fmt.Printf("  delivery latency p50 / p99                %8.1f / %.1f ms\n", float64(pct(0.5).Microseconds())/1000, float64(pct(0.99).Microseconds())/1000)
	fmt.Printf("  image pushed → commit, p50 of 20          %8.0f ms  (%.0f ms counting crane's upload)\n", median(commitsAfterPush).Seconds()*1000, median(commits).Seconds()*1000)
	fmt.Printf("  image push → rolled out, p50 of 20        %8.2f s\n\n", median(healthy).Seconds())
}
