package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipwaycd/slipway/review"
)

const giteaHookSecret = "gitea-webhook-secret-for-tests"

// giteaComment is a comment as Gitea's API returns it.
type giteaComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

// forgeRepo is flaskapp on the test ground: image automation on its target
// (any v<N> tag), a manual pipeline deployTesting, and a project whose
// chat-ops allow list names the writers.
func forgeRepoFiles(ns, imageRepo string) map[string]string {
	files := walkthroughRepo(ns, imageRepo)
	delete(files, "applications/flaskapp/pipelines/approve.yaml")
	files["applications/flaskapp/application.yaml"] = fmt.Sprintf(`apiVersion: slipway.dev/v1alpha1
kind: Application
metadata:
  name: flaskapp
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
        tagRegex: '^v[0-9]+$'
`, ns, imageRepo)
	files["applications/flaskapp/pipelines/deployTesting.yaml"] = strings.Replace(strings.Replace(
		files["applications/flaskapp/pipelines/deployTesting.yaml"],
		"  - type: docker\n    artifacts: [flaskapp-image]\n", "", 1),
		"    tagRegex: '^v[0-9]+$'\n", "    tagRegex: '^v[0-9]+$'\n    usePriorExecution: true\n    default: "+imageRepo+":v1\n", 1)
	files["projects/cd-demo.yaml"] = `apiVersion: slipway.dev/v1alpha1
kind: Project
metadata:
  name: cd-demo
spec:
  applications: [flaskapp]
  chatops:
    groups:
      release-managers: [alice]
    allow: ["@release-managers", rita]
    environments:
      production: ["@release-managers"]
`
	return files
}

// giteaEnv is a config repo hosted in the ground's Gitea, with a writer
// and a reader, and a slipway serving it with Gitea as its forge.
type giteaEnv struct {
	s                        *slipway
	repo                     string // owner/name
	work                     string // the writer's clone
	writerURL                string // clone URL with the writer's password
	writerToken, readerToken string
}

// commit commits everything in the writer's clone.
func (e *giteaEnv) commit(msg string) {
	git(e.s.t, e.work, "add", "-A")
	git(e.s.t, e.work, "-c", "user.name=writer", "-c", "user.email=writer@slipway.test", "commit", "-q", "-m", msg)
}

// onGitea creates the users and the repository, pushes files as its first
// commit, starts slipway with Gitea as its forge (its webhook pointed at
// slipway, the registry's notifications too) and waits for flaskapp/testing.
func onGitea(t *testing.T, files map[string]string, writer, reader string) *giteaEnv {
	return onGiteaTB(t, files, writer, reader)
}

// onGiteaTB is onGitea for tests and benchmarks.
func onGiteaTB(t testing.TB, files map[string]string, writer, reader string) *giteaEnv {
	t.Helper()
	g, ctx := ground.Gitea, t.Context()
	if g == nil {
		t.Fatal("the ground runs no Gitea")
		return nil
	}
	env := &giteaEnv{work: t.TempDir()}
	writerPass, writerToken, err := g.CreateUser(ctx, writer)
	if err != nil {
		t.Fatal(err)
	}
	_, readerToken, err := g.CreateUser(ctx, reader)
	if err != nil {
		t.Fatal(err)
	}
	env.writerToken, env.readerToken = writerToken, readerToken
	name := "config-" + writer
	env.repo = g.AdminUser + "/" + name
	if err := g.CreateRepo(ctx, g.AdminUser, name); err != nil {
		t.Fatal(err)
	}
	if err := g.AddCollaborator(ctx, env.repo, writer, "write"); err != nil {
		t.Fatal(err)
	}
	if err := g.AddCollaborator(ctx, env.repo, reader, "read"); err != nil {
		t.Fatal(err)
	}
	git(t, "", "init", "-q", "-b", "main", env.work)
	for p, content := range files {
		full := filepath.Join(env.work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env.writerURL = g.AuthCloneURL(env.repo, writer, writerPass)
	git(t, env.work, "add", "-A")
	git(t, env.work, "-c", "user.name=writer", "-c", "user.email=writer@slipway.test", "commit", "-q", "-m", "flaskapp on testing")
	git(t, env.work, "push", "-q", env.writerURL, "HEAD:main")
	if err := g.WaitForBranch(ctx, env.repo, "main", strings.TrimSpace(git(t, env.work, "rev-parse", "HEAD"))); err != nil {
		t.Fatal(err)
	}

	env.s = startSlipwayWithSecrets(t, "", map[string]string{"local-kubeconfig": ground.Kube.Kubeconfig},
		map[string]string{"gitea-password": g.AdminPassword, "gitea-token": g.AdminToken, "gitea-webhook": giteaHookSecret, "registry-webhook": registryToken},
		"--repo", g.CloneURL(env.repo), "--git-username", g.AdminUser, "--git-password-secret", "gitea-password",
		"--forge", "gitea", "--forge-url", g.URL, "--forge-token-secret", "gitea-token", "--forge-repo", env.repo,
		"--receiver", "gitea/config=gitea-webhook", "--receiver", "distribution/ground=registry-webhook")
	unsubscribe := ground.Registry.Subscribe(env.s.URL+"/webhooks/distribution/ground", http.Header{"Authorization": {"Bearer " + registryToken}})
	t.Cleanup(unsubscribe)
	if err := g.CreateWebhook(ctx, env.repo, env.s.URL+"/webhooks/gitea/config", giteaHookSecret); err != nil {
		t.Fatal(err)
	}
	env.s.waitStatus("flaskapp/testing", 60*time.Second, "Synced and Healthy", synced(""))
	return env
}

// TestForgeGitea: the config repo lives in Gitea, whose webhook points at
// Slipway. A pull request changing replicas gets one plan comment and a
// slipway/plan status; a second push edits the same comment; the merge is
// deployed and the outcome commented, with slipway/sync success. Then
// chat-ops: a writer's /slipway deploy runs, a reader's is refused with a
// reply; /slipway rollback reverts an image bump, quarantines the digest,
// and automation stays on for newer images.
func TestForgeGitea(t *testing.T) {
	g := ground.Gitea
	if g == nil {
		t.Fatal("the ground runs no Gitea")
	}
	ctx := t.Context()
	cs, err := ground.Kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := uniqueNS("forge")
	imageRepo := ground.Registry.Ref("forge/flaskapp-" + ns[len(ns)-6:])
	if _, err := ground.Registry.PushImage(ctx, strings.TrimPrefix(imageRepo, ground.Registry.Host+"/")+":v1", "forge v1"); err != nil {
		t.Fatal(err)
	}

	// Users: alice writes, rita only reads.
	alice, rita := "alice-"+ns[len(ns)-6:], "rita-"+ns[len(ns)-6:]
	files := forgeRepoFiles(ns, imageRepo)
	files["projects/cd-demo.yaml"] = strings.ReplaceAll(strings.ReplaceAll(files["projects/cd-demo.yaml"], "[alice]", "["+alice+"]"), ", rita]", ", "+rita+"]")
	env := onGitea(t, files, alice, rita)
	s, repoName, work, aliceURL, commit := env.s, env.repo, env.work, env.writerURL, env.commit
	aliceToken, ritaToken := env.writerToken, env.readerToken
	s.waitStatus("flaskapp/testing", 60*time.Second, "Synced and Healthy", synced(""))

	api := func(method, path string, in, out any) {
		t.Helper()
		if err := g.API(ctx, "", method, "/repos/"+repoName+path, in, out); err != nil {
			t.Fatal(err)
		}
	}
	comments := func(number int) []giteaComment {
		var cs []giteaComment
		api(http.MethodGet, fmt.Sprintf("/issues/%d/comments", number), nil, &cs)
		return cs
	}
	waitComment := func(number int, what string, ok func(giteaComment) bool) giteaComment {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var last []giteaComment
		for time.Now().Before(deadline) {
			last = comments(number)
			for _, c := range last {
				if ok(c) {
					return c
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("#%d: no comment %s within 60s; comments: %+v", number, what, last)
		return giteaComment{}
	}
	status := func(sha, context string) string {
		var st []struct {
			ID      int64  `json:"id"`
			Context string `json:"context"`
			Status  string `json:"status"`
		}
		api(http.MethodGet, "/commits/"+sha+"/statuses", nil, &st)
		newest, state := int64(-1), ""
		for _, s := range st {
			if s.Context == context && s.ID > newest {
				newest, state = s.ID, s.Status
			}
		}
		return state
	}
	waitStatus := func(sha, context, want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		got := ""
		for time.Now().Before(deadline) {
			if got = status(sha, context); got == want {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("status %s on %.12s is %q, want %q", context, sha, got, want)
	}

	// 1. A pull request changing replicas: one plan comment, a status.
	git(t, work, "checkout", "-q", "-b", "more-replicas")
	deployment := filepath.Join(work, "applications/flaskapp/testing/deployment.yaml")
	setReplicas := func(n int) string {
		b, err := os.ReadFile(deployment)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "  replicas:") {
				lines[i] = fmt.Sprintf("  replicas: %d", n)
			}
		}
		if err := os.WriteFile(deployment, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		commit(fmt.Sprintf("flaskapp: %d replicas", n))
		git(t, work, "push", "-q", aliceURL, "HEAD:more-replicas")
		return strings.TrimSpace(git(t, work, "rev-parse", "HEAD"))
	}
	head := setReplicas(3)
	pr, err := g.CreatePullRequest(ctx, repoName, "more-replicas", "main", "Three replicas")
	if err != nil {
		t.Fatal(err)
	}
	plan := waitComment(pr, "with the plan", func(c giteaComment) bool {
		return strings.HasPrefix(c.Body, review.Marker) && strings.Contains(c.Body, head[:12])
	})
	if !strings.Contains(plan.Body, "spec.replicas: 2 → 3") || !strings.Contains(plan.Body, "flaskapp/testing") {
		t.Fatalf("plan comment lacks the replicas diff:\n%s", plan.Body)
	}
	waitStatus(head, review.StatusContext, "success")

	// 2. Another push: the same comment, edited.
	head = setReplicas(4)
	edited := waitComment(pr, "edited for the new head", func(c giteaComment) bool {
		return c.ID == plan.ID && strings.Contains(c.Body, head[:12])
	})
	if !strings.Contains(edited.Body, "spec.replicas: 2 → 4") {
		t.Fatalf("edited plan comment:\n%s", edited.Body)
	}
	n := 0
	for _, c := range comments(pr) {
		if strings.HasPrefix(c.Body, review.Marker) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d plan comments on #%d, want 1", n, pr)
	}
	waitStatus(head, review.StatusContext, "success")

	// 3. Merge: deployed, the outcome commented, slipway/sync success.
	if err := g.MergePullRequest(ctx, repoName, pr); err != nil {
		t.Fatal(err)
	}
	waitComment(pr, "with the merge outcome", func(c giteaComment) bool {
		return strings.Contains(c.Body, "merged as") && strings.Contains(c.Body, "flaskapp/testing") && strings.Contains(c.Body, "Healthy")
	})
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 4 {
		t.Fatalf("after the merge: replicas %v (%v), want 4", d.Spec.Replicas, err)
	}
	var branch struct {
		Commit struct {
			ID string `json:"id"`
		} `json:"commit"`
	}
	api(http.MethodGet, "/branches/main", nil, &branch)
	waitStatus(branch.Commit.ID, review.SyncContext, "success")
	waitStatus(branch.Commit.ID, "slipway/sync: flaskapp/testing", "success")

	// 4. Chat-ops: a reader is refused with a reply saying why; a writer deploys.
	say := func(token, body string) int64 {
		t.Helper()
		id, err := g.Comment(ctx, repoName, pr, token, body)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	say(ritaToken, "/slipway deploy flaskapp deployTesting")
	waitComment(pr, "refusing rita", func(c giteaComment) bool {
		return strings.Contains(c.Body, "@"+rita) && strings.Contains(c.Body, "Refused") && strings.Contains(c.Body, "needs write permission")
	})
	say(aliceToken, "/slipway deploy flaskapp deployTesting reason=chat")
	waitComment(pr, "with alice's release order succeeded", func(c giteaComment) bool {
		return strings.Contains(c.Body, "@"+alice) && strings.Contains(c.Body, "Release order") && strings.Contains(c.Body, "**succeeded**")
	})
	var audit []struct {
		Actor, Action, Outcome string
	}
	if err := getJSON(s.URL+"/api/v1/audit?limit=20", &audit); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, a := range audit {
		seen = append(seen, a.Actor+" "+a.Action+" "+a.Outcome)
	}
	joined := strings.Join(seen, "\n")
	if !strings.Contains(joined, "gitea:"+rita+" chatops.deploy denied") || !strings.Contains(joined, "gitea:"+alice+" chatops.deploy ok") {
		t.Errorf("audit log lacks the two commands:\n%s", joined)
	}

	// 5. Rollback: v2 is promoted by automation, rolled back by comment and
	// quarantined; pushing it again does not promote it; v3 is promoted.
	push := func(tag, content string) string {
		t.Helper()
		digest, err := ground.Registry.PushImage(ctx, strings.TrimPrefix(imageRepo, ground.Registry.Host+"/")+":"+tag, content)
		if err != nil {
			t.Fatal(err)
		}
		return digest
	}
	waitImage := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		got := ""
		for time.Now().Before(deadline) {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
			if err == nil {
				got = d.Spec.Template.Spec.Containers[0].Image
				if got == want {
					return
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("the Deployment runs %s, want %s", got, want)
	}
	v2 := push("v2", "forge v2")
	waitImage(imageRepo + ":v2@" + v2)
	say(aliceToken, "/slipway rollback flaskapp/testing")
	reply := waitComment(pr, "with the rollback", func(c giteaComment) bool {
		return strings.Contains(c.Body, "Rolled `flaskapp/testing` back") && strings.Contains(c.Body, "Healthy")
	})
	if !strings.Contains(reply.Body, "Quarantined") || !strings.Contains(reply.Body, v2) {
		t.Errorf("rollback reply does not name the quarantined digest:\n%s", reply.Body)
	}
	d, err = cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; strings.Contains(got, v2) {
		t.Fatalf("after the rollback the Deployment still runs %s", got)
	}
	before := d.Spec.Template.Spec.Containers[0].Image
	var q []struct {
		Repository, Digest, Target, Actor string
	}
	if err := getJSON(s.URL+"/api/v1/quarantine", &q); err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Repository != imageRepo || q[0].Digest != v2 || q[0].Target != "flaskapp/testing" || q[0].Actor != "gitea:"+alice {
		t.Errorf("quarantine after the rollback: %+v", q)
	}
	log := git(t, work, "ls-remote", aliceURL, "refs/heads/main")
	// The bad image again, tagged anew: the registry notifies a push of
	// the same digest (a push of an existing tag and manifest sends none).
	if again := push("v20", "forge v2"); again != v2 {
		t.Fatalf("re-pushing v2's content gave digest %s, want %s", again, v2)
	}
	deadline := time.Now().Add(30 * time.Second)
	quarantined := false
	for time.Now().Before(deadline) && !quarantined {
		var events []struct {
			Outcome string `json:"outcome"`
		}
		_ = getJSON(s.URL+"/api/v1/events?limit=20", &events)
		for _, e := range events {
			quarantined = quarantined || strings.Contains(e.Outcome, "quarantined")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !quarantined {
		t.Fatal("the second push of v2 was not reported as quarantined")
	}
	if again := git(t, work, "ls-remote", aliceURL, "refs/heads/main"); again != log {
		t.Errorf("the quarantined push committed: main moved from %s to %s", log, again)
	}
	if d, _ := cs.AppsV1().Deployments(ns).Get(ctx, "flaskapp", metav1.GetOptions{}); d.Spec.Template.Spec.Containers[0].Image != before {
		t.Errorf("the quarantined image was deployed again: %s", d.Spec.Template.Spec.Containers[0].Image)
	}
	v3 := push("v3", "forge v3")
	waitImage(imageRepo + ":v3@" + v3)
}

// TestForgeImagePullRequest: image automation with write: pullRequest
// opens one pull request on Gitea for a push, and a newer push updates the
// same pull request instead of opening another.
func TestForgeImagePullRequest(t *testing.T) {
	g, ctx := ground.Gitea, t.Context()
	ns := uniqueNS("imgpr")
	imageRepo := ground.Registry.Ref("imgpr/flaskapp-" + ns[len(ns)-6:])
	files := forgeRepoFiles(ns, imageRepo)
	files["applications/flaskapp/application.yaml"] = strings.Replace(files["applications/flaskapp/application.yaml"],
		"      policy:", "      write: pullRequest\n      policy:", 1)
	env := onGitea(t, files, "wanda-"+ns[len(ns)-6:], "reed-"+ns[len(ns)-6:])

	type pull struct {
		Number int    `json:"number"`
		Title  string `json:"title"`
		Head   struct {
			Ref string `json:"ref"`
		} `json:"head"`
	}
	open := func() []pull {
		var prs []pull
		if err := g.API(ctx, "", http.MethodGet, "/repos/"+env.repo+"/pulls?state=open", nil, &prs); err != nil {
			t.Fatal(err)
		}
		return prs
	}
	waitTitle := func(want string) pull {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var prs []pull
		for time.Now().Before(deadline) {
			prs = open()
			for _, pr := range prs {
				if strings.Contains(pr.Title, want) {
					return pr
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("no open pull request titled …%s… within 60s: %+v", want, prs)
		return pull{}
	}
	for _, tag := range []string{"v2", "v3"} {
		if _, err := ground.Registry.PushImage(ctx, strings.TrimPrefix(imageRepo, ground.Registry.Host+"/")+":"+tag, "imgpr "+tag); err != nil {
			t.Fatal(err)
		}
		waitTitle(" to " + tag)
	}
	prs := open()
	if len(prs) != 1 || prs[0].Head.Ref != "slipway/images/flaskapp-testing" || !strings.HasSuffix(prs[0].Title, "to v3") {
		t.Fatalf("open pull requests after two pushes: %+v, want one from slipway/images/flaskapp-testing at v3", prs)
	}
	// main is untouched until the pull request is merged.
	if out := git(t, env.work, "ls-remote", env.writerURL, "refs/heads/main"); !strings.HasPrefix(out, strings.TrimSpace(git(t, env.work, "rev-parse", "HEAD"))) {
		t.Errorf("main moved without a merge: %s", out)
	}
}
