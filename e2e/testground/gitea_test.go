package testground

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGitea starts a ground with only Gitea and goes through what Slipway's
// tests do with it: a user, a private repository, a signed webhook to a
// server on 127.0.0.1, a push over HTTP, a pull request, a comment by a
// collaborator and a merge, each seen as a delivery.
func TestGitea(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Gitea (and builds it on the first run)")
	}
	ctx := t.Context()
	g, err := Start(ctx, Options{NoKube: true, NoRegistry: true, NoGit: true, Gitea: true, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("ground logs:\n%s", g.LogTails(40))
		}
	}()
	gt := g.Gitea
	if gt == nil || gt.AdminToken == "" || !strings.HasPrefix(gt.URL, "http://127.0.0.1:") {
		t.Fatalf("Gitea = %+v, want one on 127.0.0.1 with an admin token", gt)
	}
	var me struct {
		Login   string `json:"login"`
		IsAdmin bool   `json:"is_admin"`
	}
	if err := gt.API(ctx, "", http.MethodGet, "/user", nil, &me); err != nil {
		t.Fatal(err)
	}
	if me.Login != gt.AdminUser || !me.IsAdmin {
		t.Fatalf("admin token belongs to %+v, want admin %s", me, gt.AdminUser)
	}

	alicePass, aliceToken, err := gt.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, bobToken, err := gt.CreateUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	const repo = "alice/config"
	if err := gt.CreateRepo(ctx, "alice", "config"); err != nil {
		t.Fatal(err)
	}
	if err := gt.AddCollaborator(ctx, repo, "bob", "read"); err != nil {
		t.Fatal(err)
	}

	const secret = "webhook-secret"
	deliveries := make(chan delivery, 32)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		deliveries <- delivery{header: r.Header.Clone(), body: body}
	}))
	defer hook.Close()
	if !strings.HasPrefix(hook.URL, "http://127.0.0.1:") {
		t.Fatalf("webhook receiver on %s, want 127.0.0.1", hook.URL)
	}
	if err := gt.CreateWebhook(ctx, repo, hook.URL+"/hook", secret); err != nil {
		t.Fatal(err)
	}

	// Push main over HTTP with alice's password, then a branch with her token.
	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+work,
			"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@slipway.test",
			"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@slipway.test")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(work, "app.yaml"), []byte("replicas: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "-q", "-m", "first")
	first := git("rev-parse", "HEAD")
	pushed := time.Now()
	git("push", "-q", gt.AuthCloneURL(repo, "alice", alicePass), "main")

	d := waitDelivery(t, deliveries, "push")
	t.Logf("push delivered %s after git push returned", time.Since(pushed).Round(time.Millisecond))
	d.checkSignature(t, secret)
	if got := d.header.Get("X-GitHub-Event"); got != "push" {
		t.Errorf("X-GitHub-Event = %q, want push", got)
	}
	var push struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
		Repo  struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	d.decode(t, &push)
	if push.Ref != "refs/heads/main" || push.After != first || push.Repo.FullName != repo {
		t.Errorf("push payload = %+v, want refs/heads/main at %s of %s", push, first, repo)
	}

	git("checkout", "-q", "-b", "bump")
	if err := os.WriteFile(filepath.Join(work, "app.yaml"), []byte("replicas: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-q", "-am", "two replicas")
	git("push", "-q", gt.AuthCloneURL(repo, "alice", aliceToken), "bump")
	waitDelivery(t, deliveries, "push").checkSignature(t, secret)
	if err := gt.WaitForBranch(ctx, repo, "bump", git("rev-parse", "HEAD")); err != nil {
		t.Fatal(err)
	}

	number, err := gt.CreatePullRequest(ctx, repo, "bump", "main", "Two replicas")
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Action string `json:"action"`
		Number int    `json:"number"`
	}
	waitDelivery(t, deliveries, "pull_request").decode(t, &pr)
	if pr.Action != "opened" || pr.Number != number {
		t.Errorf("pull_request payload = %+v, want opened #%d", pr, number)
	}

	if _, err := gt.Comment(ctx, repo, number, bobToken, "/slipway plan"); err != nil {
		t.Fatal(err)
	}
	d = waitDelivery(t, deliveries, "issue_comment")
	d.checkSignature(t, secret)
	if got := d.header.Get("X-Gitea-Event-Type"); got != "pull_request_comment" {
		t.Errorf("X-Gitea-Event-Type of a comment on a pull request = %q, want pull_request_comment", got)
	}
	var comment struct {
		Comment struct {
			Body string `json:"body"`
			User struct {
				Login string `json:"login"`
			} `json:"user"`
		} `json:"comment"`
		IsPull bool `json:"is_pull"`
	}
	d.decode(t, &comment)
	if comment.Comment.Body != "/slipway plan" || comment.Comment.User.Login != "bob" || !comment.IsPull {
		t.Errorf("issue_comment payload = %+v, want bob's /slipway plan on a pull request", comment)
	}

	if err := gt.MergePullRequest(ctx, repo, number); err != nil {
		t.Fatal(err)
	}
	// The merge pushes main (and closes the pull request).
	if err := waitDelivery(t, deliveries, "push").decodeErr(&push); err != nil || push.Ref != "refs/heads/main" || push.After == first {
		t.Errorf("push after merge = %+v (%v), want main moved past %s", push, err, first)
	}
}

// TestGiteaOptIn checks that a ground runs no Gitea unless asked.
func TestGiteaOptIn(t *testing.T) {
	g, err := Start(t.Context(), Options{NoKube: true, NoRegistry: true, NoGit: true, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	if g.Gitea != nil || len(g.procs) != 0 {
		t.Errorf("Gitea = %v, processes = %v; want none", g.Gitea, g.procs)
	}
}

type delivery struct {
	header http.Header
	body   []byte
}

// waitDelivery returns the next delivery of event (X-Gitea-Event), skipping
// others.
func waitDelivery(t *testing.T, ch <-chan delivery, event string) delivery {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case d := <-ch:
			if d.header.Get("X-Gitea-Event") == event {
				return d
			}
			t.Logf("skipping a %s delivery (%s)", d.header.Get("X-Gitea-Event"), d.header.Get("X-Gitea-Event-Type"))
		case <-timeout:
			t.Fatalf("no %s delivery within 30s", event)
		}
	}
}

func (d delivery) checkSignature(t *testing.T, secret string) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(d.body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := d.header.Get("X-Hub-Signature-256"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("X-Hub-Signature-256 = %q, want %q", got, want)
	}
}

func (d delivery) decode(t *testing.T, v any) {
	t.Helper()
	if err := d.decodeErr(v); err != nil {
		t.Fatalf("decoding a %s delivery: %v\n%s", d.header.Get("X-Gitea-Event"), err, d.body)
	}
}

func (d delivery) decodeErr(v any) error { return json.Unmarshal(d.body, v) }
