package gitstore

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	httpUser = "slipway-bot"
	httpPass = "s3cret-Pa55word"
)

// gitHTTPServer serves the repos under root with the real `git http-backend`
// behind basic auth, and returns the server's base URL.
func gitHTTPServer(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("git not available: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != httpUser || p != httpPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestSmartHTTPWithGitHTTPBackend(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	ctx := t.Context()
	root := t.TempDir()
	bare := filepath.Join(root, "config.git")
	if _, err := InitBare(bare, "main", seed, "seed", Identity{}); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, root, "--git-dir", bare, "config", "http.receivepack", "true")
	base := gitHTTPServer(t, root)
	url := base + "/config.git"

	r, err := Open(ctx, Options{URL: url, CacheDir: t.TempDir(), Auth: Auth{Username: httpUser, Password: httpPass}})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, r, "", "apps/web/deploy.yaml"); got != "image: web:1\n" {
		t.Errorf("web = %q", got)
	}
	h, err := r.Commit(ctx, "deploy web:2", []Trailer{{"Slipway-Execution", "01HHTTP"}}, func(w *Worktree) error {
		return w.WriteFile("apps/web/deploy.yaml", []byte("image: web:2\n"))
	})
	if err != nil {
		t.Fatal(err)
	}

	// A second writer over HTTP forces the first to retry on a moved head.
	other, err := Open(ctx, Options{URL: url, CacheDir: t.TempDir(), Auth: Auth{Username: httpUser, Token: httpPass}})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	h2, err := r.Commit(ctx, "scale prod", nil, func(w *Worktree) error {
		calls++
		if calls == 1 {
			if _, err := other.Commit(ctx, "bump api", nil, func(w *Worktree) error {
				return w.WriteFile("apps/api/deploy.yaml", []byte("image: api:2\n"))
			}); err != nil {
				return err
			}
		}
		return w.WriteFile("targets/prod/env.yaml", []byte("replicas: 5\n"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("change called %d times, want 2", calls)
	}

	// Check with the real git CLI.
	work := t.TempDir()
	authed := strings.Replace(url, "http://", "http://"+httpUser+":"+httpPass+"@", 1)
	gitCLI(t, work, "clone", "--quiet", authed, "clone")
	dir := filepath.Join(work, "clone")
	if got := strings.TrimSpace(gitCLI(t, dir, "rev-parse", "HEAD")); got != h2 {
		t.Errorf("git sees head %s, want %s", got, h2)
	}
	subjects := gitCLI(t, dir, "log", "--format=%s")
	if subjects != "scale prod\nbump api\ndeploy web:2\nseed\n" {
		t.Errorf("git log subjects:\n%s", subjects)
	}
	if got := strings.TrimSpace(gitCLI(t, dir, "log", "-1", "--format=%(trailers:key=Slipway-Execution,valueonly)", h)); got != "01HHTTP" {
		t.Errorf("trailer via git = %q", got)
	}
	if got := strings.TrimSpace(gitCLI(t, dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>", h)); got != "Slipway <slipway@localhost>|Slipway <slipway@localhost>" {
		t.Errorf("author/committer = %q", got)
	}
	gitCLI(t, dir, "fsck", "--strict")

	// Credentials in the URL work and are not written to the cache's config.
	cache := t.TempDir()
	if _, err := Open(ctx, Options{URL: authed, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := os.ReadFile(filepath.Join(cache, "config")); err != nil || strings.Contains(string(cfg), httpPass) {
		t.Errorf("cache config holds the password (or is unreadable: %v):\n%s", err, cfg)
	}
	for p, want := range map[string]string{
		"apps/web/deploy.yaml":  "image: web:2\n",
		"apps/api/deploy.yaml":  "image: api:2\n",
		"targets/prod/env.yaml": "replicas: 5\n",
	} {
		if got := gitCLI(t, dir, "show", "HEAD:"+p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
}

func TestSmartHTTPWrongPasswordIsClearAndSecret(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not on PATH")
	}
	root := t.TempDir()
	if _, err := InitBare(filepath.Join(root, "config.git"), "main", seed, "seed", Identity{}); err != nil {
		t.Fatal(err)
	}
	base := gitHTTPServer(t, root)
	const wrong = "Wr0ng-Pa55word"
	for name, o := range map[string]Options{
		"password":        {URL: base + "/config.git", Auth: Auth{Username: httpUser, Password: wrong}},
		"token":           {URL: base + "/config.git", Auth: Auth{Token: wrong}},
		"password in URL": {URL: strings.Replace(base, "http://", "http://"+httpUser+":"+wrong+"@", 1) + "/config.git"},
	} {
		t.Run(name, func(t *testing.T) {
			o.CacheDir = t.TempDir()
			_, err := Open(t.Context(), o)
			if err == nil {
				t.Fatal("Open succeeded with a wrong password")
			}
			msg := err.Error()
			if strings.Contains(msg, wrong) {
				t.Errorf("error leaks the password: %s", msg)
			}
			if !strings.Contains(msg, "/config.git") || !strings.Contains(msg, "branch main") || !strings.Contains(msg, "auth") {
				t.Errorf("error is not clear: %s", msg)
			}
			t.Log(msg)
		})
	}
}
