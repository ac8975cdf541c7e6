package forge

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slipwaycd/slipway/e2e/testground"
)

// TestGitea runs every method of the Gitea forge against the real Gitea of a
// test ground (one for the whole test). The forge acts as a bot user that is
// an admin collaborator of alice's private repository; bob reads it, carol
// writes to it, dave has no access.
func TestGitea(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Gitea on a test ground (and builds it on the first run)")
	}
	ctx := t.Context()
	g, err := testground.Start(ctx, testground.Options{
		NoKube: true, NoRegistry: true, NoGit: true, Gitea: true, Log: giteaTestLog{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ground logs:\n%s", g.LogTails(40))
		}
	})
	gt := g.Gitea

	tokens := map[string]string{}
	passwords := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol", "dave", "slipway-bot"} {
		pw, tok, err := gt.CreateUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		passwords[u], tokens[u] = pw, tok
	}
	const repo = "alice/config"
	if err := gt.CreateRepo(ctx, "alice", "config"); err != nil {
		t.Fatal(err)
	}
	for user, perm := range map[string]string{"bob": "read", "carol": "write", "slipway-bot": "admin"} {
		if err := gt.AddCollaborator(ctx, repo, user, perm); err != nil {
			t.Fatal(err)
		}
	}
	// main with one commit, and branch bump one commit ahead.
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
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(work, "app.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remote := gt.AuthCloneURL(repo, "alice", passwords["alice"])
	git("init", "-q", "-b", "main")
	write("replicas: 1\n")
	git("add", ".")
	git("commit", "-q", "-m", "first")
	mainSHA := git("rev-parse", "HEAD")
	git("push", "-q", remote, "main")
	git("checkout", "-q", "-b", "bump")
	write("replicas: 2\n")
	git("commit", "-q", "-am", "two replicas")
	bumpSHA := git("rev-parse", "HEAD")
	git("push", "-q", remote, "bump")
	for branch, sha := range map[string]string{"main": mainSHA, "bump": bumpSHA} {
		if err := gt.WaitForBranch(ctx, repo, branch, sha); err != nil {
			t.Fatal(err)
		}
	}

	f := NewGitea(gt.URL+"/", tokens["slipway-bot"], nil)

	t.Run("Name", func(t *testing.T) {
		if f.Name() != "gitea" {
			t.Errorf("Name = %q", f.Name())
		}
	})

	t.Run("SetStatus", func(t *testing.T) {
		for _, st := range []State{StatePending, StateFailure, StateError, StateSuccess} {
			if err := f.SetStatus(ctx, repo, Status{SHA: mainSHA, Context: "slipway/sync", State: st,
				Description: "synced " + string(st), TargetURL: "http://127.0.0.1/runs/1"}); err != nil {
				t.Fatalf("SetStatus %s: %v", st, err)
			}
		}
		if err := f.SetStatus(ctx, repo, Status{SHA: mainSHA, Context: "slipway/plan", State: StatePending}); err != nil {
			t.Fatal(err)
		}
		var combined struct {
			Statuses []struct {
				Status      string `json:"status"`
				Context     string `json:"context"`
				Description string `json:"description"`
				TargetURL   string `json:"target_url"`
			} `json:"statuses"`
		}
		if err := gt.API(ctx, "", http.MethodGet, "/repos/"+repo+"/commits/"+mainSHA+"/status", nil, &combined); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range combined.Statuses {
			got[s.Context] = s.Status + " " + s.Description + " " + s.TargetURL
		}
		if got["slipway/sync"] != "success synced success http://127.0.0.1/runs/1" || !strings.HasPrefix(got["slipway/plan"], "pending") {
			t.Errorf("statuses on %s = %q", mainSHA, got)
		}
		if err := f.SetStatus(ctx, "alice/missing", Status{SHA: mainSHA, Context: "c", State: StateSuccess}); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetStatus on a missing repository: %v, want ErrNotFound", err)
		}
		if err := f.SetStatus(ctx, repo, Status{SHA: mainSHA, Context: "c", State: "warning"}); err == nil {
			t.Error("SetStatus with an unknown state: no error")
		}
	})

	var number int
	t.Run("EnsurePullRequest", func(t *testing.T) {
		pr, err := f.EnsurePullRequest(ctx, repo, PullRequest{Head: "bump", Base: "main", Title: "Bump", Body: "one"})
		if err != nil {
			t.Fatal(err)
		}
		number = pr.Number
		want := PullRequest{Number: pr.Number, Title: "Bump", Body: "one", Head: "bump", Base: "main",
			HeadSHA: bumpSHA, URL: gt.URL + "/" + repo + "/pulls/" + strconv.Itoa(pr.Number), State: "open"}
		if pr != want || pr.Number == 0 {
			t.Errorf("opened %+v,\nwant %+v", pr, want)
		}
		same, err := f.EnsurePullRequest(ctx, repo, PullRequest{Head: "bump", Base: "main", Title: "Bump", Body: "one"})
		if err != nil || same != want {
			t.Errorf("again: %+v, %v; want %+v", same, err, want)
		}
		edited, err := f.EnsurePullRequest(ctx, repo, PullRequest{Head: "bump", Base: "main", Title: "Bump to 2", Body: "two"})
		if err != nil {
			t.Fatal(err)
		}
		want.Title, want.Body = "Bump to 2", "two"
		if edited != want {
			t.Errorf("edited %+v,\nwant %+v", edited, want)
		}
		var read struct {
			Title string `json:"title"`
			Body  string `json:"body"`
		}
		if err := gt.API(ctx, "", http.MethodGet, "/repos/"+repo+"/pulls/"+strconv.Itoa(number), nil, &read); err != nil {
			t.Fatal(err)
		}
		if read.Title != "Bump to 2" || read.Body != "two" {
			t.Errorf("pull request reads %+v after the edit", read)
		}
		var all []struct{}
		if err := gt.API(ctx, "", http.MethodGet, "/repos/"+repo+"/pulls?state=all", nil, &all); err != nil || len(all) != 1 {
			t.Errorf("%d pull requests (%v), want 1", len(all), err)
		}
		if _, err := f.EnsurePullRequest(ctx, "alice/missing", PullRequest{Head: "bump", Base: "main", Title: "x"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("EnsurePullRequest on a missing repository: %v, want ErrNotFound", err)
		}
	})
	if number == 0 {
		t.Fatal("no pull request to comment on")
	}

	var botComment, bobComment Comment
	t.Run("Comment", func(t *testing.T) {
		list, err := f.Comments(ctx, repo, number)
		if err != nil || len(list) != 0 {
			t.Fatalf("Comments of a new pull request = %v, %v; want none", list, err)
		}
		bobID, err := gt.Comment(ctx, repo, number, tokens["bob"], "/slipway sync")
		if err != nil {
			t.Fatal(err)
		}
		botComment, err = f.Comment(ctx, repo, number, "Plan: **1 change**")
		if err != nil {
			t.Fatal(err)
		}
		if botComment.ID == 0 || botComment.Author != "slipway-bot" || botComment.Body != "Plan: **1 change**" ||
			!strings.HasPrefix(botComment.URL, gt.URL+"/"+repo+"/pulls/"+strconv.Itoa(number)+"#issuecomment-") {
			t.Errorf("Comment = %+v", botComment)
		}
		list, err = f.Comments(ctx, repo, number)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != bobID || list[0].Author != "bob" || list[0].Body != "/slipway sync" || list[1] != botComment {
			t.Errorf("Comments = %+v, want bob's then %+v", list, botComment)
		}
		bobComment = list[0]
		if _, err := f.Comments(ctx, repo, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Comments of a missing pull request: %v, want ErrNotFound", err)
		}
		if _, err := f.Comment(ctx, repo, 999, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Comment on a missing pull request: %v, want ErrNotFound", err)
		}
	})

	t.Run("EditComment", func(t *testing.T) {
		if err := f.EditComment(ctx, repo, number, botComment.ID, "Plan: **2 changes**"); err != nil {
			t.Fatal(err)
		}
		if err := f.EditComment(ctx, repo, number, botComment.ID, "Plan: **2 changes**"); err != nil {
			t.Errorf("editing to the same body: %v", err)
		}
		list, err := f.Comments(ctx, repo, number)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[1].ID != botComment.ID || list[1].Body != "Plan: **2 changes**" {
			t.Errorf("after the edit, Comments = %+v", list)
		}
		if err := f.EditComment(ctx, repo, number, 999999, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("editing a missing comment: %v, want ErrNotFound", err)
		}
	})

	t.Run("MaxCommentSize", func(t *testing.T) {
		if f.MaxCommentSize() != 65536 {
			t.Errorf("MaxCommentSize = %d", f.MaxCommentSize())
		}
		body := strings.Repeat("x", f.MaxCommentSize())
		c, err := f.Comment(ctx, repo, number, body)
		if err != nil {
			t.Fatal(err)
		}
		list, err := f.Comments(ctx, repo, number)
		if err != nil {
			t.Fatal(err)
		}
		if last := list[len(list)-1]; last.ID != c.ID || last.Body != body {
			t.Errorf("a %d-byte comment reads back as %d bytes", len(body), len(last.Body))
		}
	})

	t.Run("React", func(t *testing.T) {
		for _, r := range []string{ReactionEyes, ReactionPlusOne, ReactionConfused, ReactionRocket, ReactionEyes} {
			if err := f.React(ctx, repo, number, bobComment.ID, r); err != nil {
				t.Fatalf("React %s: %v", r, err)
			}
		}
		var reactions []struct {
			Content string `json:"content"`
			User    struct {
				Login string `json:"login"`
			} `json:"user"`
		}
		if err := gt.API(ctx, "", http.MethodGet, "/repos/"+repo+"/issues/comments/"+strconv.FormatInt(bobComment.ID, 10)+"/reactions", nil, &reactions); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range reactions {
			got = append(got, r.User.Login+":"+r.Content)
		}
		if strings.Join(got, " ") != "slipway-bot:eyes slipway-bot:+1 slipway-bot:confused slipway-bot:rocket" {
			t.Errorf("reactions = %v", got)
		}
		if err := f.React(ctx, repo, number, bobComment.ID, "party-parrot"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("an unknown reaction: %v, want ErrUnsupported", err)
		}
		if err := f.React(ctx, repo, number, 999999, ReactionEyes); !errors.Is(err, ErrNotFound) {
			t.Errorf("reacting to a missing comment: %v, want ErrNotFound", err)
		}
	})

	t.Run("Permission", func(t *testing.T) {
		for user, want := range map[string]Permission{
			"bob":         PermissionRead,
			"carol":       PermissionWrite,
			"slipway-bot": PermissionAdmin,
			"alice":       PermissionAdmin, // the owner
			gt.AdminUser:  PermissionAdmin, // a site admin
			"dave":        PermissionNone,
		} {
			got, err := f.Permission(ctx, repo, user)
			if err != nil || got != want {
				t.Errorf("Permission(%s) = %q, %v; want %q", user, got, err, want)
			}
		}
		if _, err := f.Permission(ctx, repo, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Permission of a missing user: %v, want ErrNotFound", err)
		}
		if _, err := f.Permission(ctx, "alice/missing", "bob"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Permission on a missing repository: %v, want ErrNotFound", err)
		}
		// A reader may ask about itself only.
		asBob := NewGitea(gt.URL, tokens["bob"], nil)
		if got, err := asBob.Permission(ctx, repo, "bob"); err != nil || got != PermissionRead {
			t.Errorf("bob's own Permission = %q, %v; want read", got, err)
		}
		if _, err := asBob.Permission(ctx, repo, "carol"); err == nil {
			t.Error("bob could read carol's permission")
		}
	})

	t.Run("RepoFormat", func(t *testing.T) {
		if _, err := f.Comments(ctx, "no-slash", 1); err == nil {
			t.Error("a repository without owner: no error")
		}
	})
}

type giteaTestLog struct{ t *testing.T }

func (w giteaTestLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
