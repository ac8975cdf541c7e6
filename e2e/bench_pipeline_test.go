package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/pipeline"
)

// BenchmarkPipeline measures release orders on the test ground (make
// bench-pipeline): 10 image pushes, one after the other, each starting the
// walkthrough's deployTesting pipeline (bind the image, deploy the
// Deployment, deploy the Service, each stage committing and waiting until
// the target is synced and healthy). It reports the medians of push →
// release order created, created → succeeded and push → succeeded, and
// how many commits each release order made.
func BenchmarkPipeline(b *testing.B) {
	const pushes = 10
	ns := uniqueNS("pipebench")
	imageRepo := ground.Registry.Ref("bench/flaskapp-" + ns[len(ns)-6:])
	repo := newConfigRepo(b, walkthroughRepo(ns, imageRepo))
	s := startSlipwayWithSecrets(b, repo.name, map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig},
		map[string]string{"registry-webhook": registryToken},
		"--receiver", "distribution/ground=registry-webhook", "--log-level", "warn")
	unsubscribe := ground.Registry.Subscribe(s.URL+"/webhooks/distribution/ground", http.Header{"Authorization": {"Bearer " + registryToken}})
	b.Cleanup(unsubscribe)
	s.waitStatus("flaskapp/testing", 90*time.Second, "Synced", synced(""))

	var toCreated, toDone, total []time.Duration
	last := int64(0)
	for i := range pushes {
		tag := fmt.Sprintf("v%d", i+2)
		start := time.Now()
		if _, err := ground.Registry.PushImage(b.Context(), strings.TrimPrefix(imageRepo, ground.Registry.Host+"/")+":"+tag, "bench "+tag); err != nil {
			b.Fatal(err)
		}
		var x pipeline.Execution
		created := time.Time{}
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			var list []pipeline.Execution
			if err := getJSON(s.URL+"/api/v1/releases?app=flaskapp&pipeline=deployTesting&limit=1", &list); err == nil && len(list) == 1 && list[0].ID > last {
				if created.IsZero() {
					created = time.Now()
				}
				x = list[0]
				if x.Status.Final() {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if x.Status != pipeline.StatusSucceeded {
			b.Fatalf("push of %s: release order %d %s (%s)", tag, x.ID, x.Status, x.Reason)
		}
		last = x.ID
		done := time.Now()
		toCreated = append(toCreated, created.Sub(start))
		toDone = append(toDone, done.Sub(created))
		total = append(total, done.Sub(start))
	}
	commits := commitsOfRelease(b, repo, last)
	b.Logf("%d pushes: push → release order created p50 %s; created → succeeded p50 %s; push → succeeded p50 %s (min %s, max %s); the last release order made %d commits",
		pushes, median(toCreated).Round(time.Millisecond), median(toDone).Round(time.Millisecond), median(total).Round(time.Millisecond),
		minOf(total).Round(time.Millisecond), maxOf(total).Round(time.Millisecond), commits)
	b.ReportMetric(float64(median(toCreated).Milliseconds()), "ms-push-created-p50")
	b.ReportMetric(median(total).Seconds(), "s-push-succeeded-p50")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func minOf(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = min(m, x)
	}
	return m
}

func maxOf(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = max(m, x)
	}
	return m
}
