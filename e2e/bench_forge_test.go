package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/review"
)

// BenchmarkForge measures the forge paths on the test ground's Gitea (make
// bench-forge): 8 pushes to a pull request, each timed from `git push`
// returning to the plan comment showing the new head (Gitea's webhook,
// fetch, validate, render, server-side dry run, comment edit); then 8
// `/slipway status` comments, each timed from posting to the reply holding
// the status table.
func BenchmarkForge(b *testing.B) {
	const rounds = 8
	ns := uniqueNS("forgebench")
	imageRepo := ground.Registry.Ref("forgebench/flaskapp-" + ns[len(ns)-6:])
	env := onGiteaTB(b, forgeRepoFiles(ns, imageRepo), "bwriter-"+ns[len(ns)-6:], "breader-"+ns[len(ns)-6:])
	g, ctx := ground.Gitea, b.Context()
	comments := func(number int) []giteaComment {
		var cs []giteaComment
		if err := g.API(ctx, "", http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", env.repo, number), nil, &cs); err != nil {
			b.Fatal(err)
		}
		return cs
	}
	waitFor := func(number int, ok func(giteaComment) bool) {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			for _, c := range comments(number) {
				if ok(c) {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Fatalf("#%d: no such comment within 2m", number)
	}

	git(b, env.work, "checkout", "-q", "-b", "bench")
	deployment := filepath.Join(env.work, "applications/flaskapp/testing/deployment.yaml")
	var plans, replies []time.Duration
	pr := 0
	for i := range rounds {
		data, err := os.ReadFile(deployment)
		if err != nil {
			b.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for j, l := range lines {
			if strings.HasPrefix(l, "  replicas:") {
				lines[j] = fmt.Sprintf("  replicas: %d", 3+i)
			}
		}
		if err := os.WriteFile(deployment, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			b.Fatal(err)
		}
		env.commit(fmt.Sprintf("%d replicas", 3+i))
		git(b, env.work, "push", "-q", env.writerURL, "HEAD:bench")
		pushed := time.Now()
		head := strings.TrimSpace(git(b, env.work, "rev-parse", "HEAD"))
		if pr == 0 {
			if pr, err = g.CreatePullRequest(ctx, env.repo, "bench", "main", "bench"); err != nil {
				b.Fatal(err)
			}
		}
		waitFor(pr, func(c giteaComment) bool {
			return strings.HasPrefix(c.Body, review.Marker) && strings.Contains(c.Body, head[:12])
		})
		plans = append(plans, time.Since(pushed))
	}
	for i := range rounds {
		posted := time.Now()
		if _, err := g.Comment(ctx, env.repo, pr, env.writerToken, "/slipway status flaskapp"); err != nil {
			b.Fatal(err)
		}
		n := i + 1
		waitFor(pr, func(c giteaComment) bool {
			return strings.Contains(c.Body, "/slipway status flaskapp") && strings.Contains(c.Body, "| `flaskapp/testing` |") && countReplies(comments(pr)) >= n
		})
		replies = append(replies, time.Since(posted))
	}
	b.Logf("%d pushes to a pull request: push → plan comment p50 %s (min %s, max %s); %d /slipway status: comment → reply p50 %s (min %s, max %s)",
		rounds, median(plans).Round(time.Millisecond), minOf(plans).Round(time.Millisecond), maxOf(plans).Round(time.Millisecond),
		rounds, median(replies).Round(time.Millisecond), minOf(replies).Round(time.Millisecond), maxOf(replies).Round(time.Millisecond))
	b.ReportMetric(median(plans).Seconds(), "s-push-plan-p50")
	b.ReportMetric(median(replies).Seconds(), "s-comment-reply-p50")
}

func countReplies(cs []giteaComment) int {
	n := 0
	for _, c := range cs {
		if strings.Contains(c.Body, "| `flaskapp/testing` |") {
			n++
		}
	}
	return n
}
