package testground

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Gitea is the ground's Gitea: a real forge (API v1, Git over HTTP, webhooks)
// with SQLite, no SSH and no web assets, run only when Options.Gitea is set.
// Webhooks may target any loopback address (127.0.0.0/8).
type Gitea struct {
	// URL is http://127.0.0.1:port, without a trailing slash; the API is
	// under URL+"/api/v1".
	URL string
	// AdminUser is a site administrator; AdminToken is its access token
	// (all scopes) and AdminPassword its password.
	AdminUser     string
	AdminPassword string
	AdminToken    string
	// Dir is Gitea's work path: app.ini, the SQLite database, repositories.
	Dir string

	client *http.Client
}

// giteaStartTimeout bounds Gitea's set-up and start.
const giteaStartTimeout = 2 * time.Minute

// startGitea writes Gitea's configuration, creates its database and admin
// user, then starts the server and waits for its API. Start runs it beside the
// other components.
func (g *Ground) startGitea(ctx context.Context, bin string) (*Gitea, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, giteaStartTimeout)
	defer cancel()
	dir := filepath.Join(g.Dir, "gitea")
	for _, d := range []string{"custom/conf", "data", "repositories"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	s := &Gitea{
		URL:           "http://" + hostPort(ports[0]),
		AdminUser:     "slipway-admin",
		AdminPassword: randomString(20),
		Dir:           dir,
		client:        &http.Client{Timeout: 30 * time.Second},
	}
	config := filepath.Join(dir, "custom", "conf", "app.ini")
	if err := os.WriteFile(config, []byte(giteaConfig(dir, ports[0], filepath.Dir(bin))), 0o600); err != nil {
		return nil, err
	}
	// Set-up commands log beside the server, in gitea.log.
	logPath := filepath.Join(g.Dir, "gitea.log")
	run := func(args ...string) (string, error) {
		lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return "", err
		}
		defer lf.Close()
		fmt.Fprintf(lf, "== gitea %s\n", strings.Join(args, " "))
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, append(args, "--config", config, "--work-path", dir)...)
		cmd.Dir = dir
		cmd.Env = giteaEnv(dir)
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, lf), lf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("gitea %s: %w; last lines of %s:\n%s", args[0], err, logPath, tail(logPath, 25))
		}
		return out.String(), nil
	}
	if _, err := run("migrate"); err != nil {
		return nil, err
	}
	out, err := run("admin", "user", "create", "--admin",
		"--username", s.AdminUser, "--password", s.AdminPassword, "--email", s.AdminUser+"@slipway.test",
		"--must-change-password=false",
		"--access-token", "--access-token-name", "testground", "--access-token-scopes", "all")
	if err != nil {
		return nil, err
	}
	const tokenPrefix = "Access token was successfully created... "
	for line := range strings.Lines(out) {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), tokenPrefix); ok {
			s.AdminToken = strings.TrimSpace(t)
		}
	}
	if s.AdminToken == "" {
		return nil, fmt.Errorf("gitea admin user create printed no access token:\n%s", out)
	}

	p, err := g.startEnv("gitea", bin, giteaVars(dir),
		"web", "--config", config, "--work-path", dir)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, "gitea", giteaStartTimeout, p, httpOK(s.client, s.URL+"/api/v1/version")); err != nil {
		return nil, err
	}
	fmt.Fprintf(g.opts.Log, "testground: gitea %s ready at %s in %s\n", GiteaVersion, s.URL, time.Since(started).Round(100*time.Millisecond))
	return s, nil
}

// giteaEnv is the environment of Gitea's processes: this one's, with Gitea's
// work path, and without variables that would reconfigure it.
func giteaEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GITEA_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, giteaVars(dir)...)
}

// giteaVars point Gitea at its work path (the server's environment is this
// process's plus these).
func giteaVars(dir string) []string {
	return []string{"GITEA_WORK_DIR=" + dir, "GITEA_CUSTOM=" + filepath.Join(dir, "custom")}
}

// giteaConfig is Gitea's app.ini: bound to 127.0.0.1, installed, SQLite,
// offline, no mail, no SSH, and quick to stop. staticRoot holds the options
// and templates directories (the build's output).
func giteaConfig(dir string, port int, staticRoot string) string {
	return fmt.Sprintf(`APP_NAME = Slipway test ground
RUN_MODE = prod
WORK_PATH = %[1]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[2]d
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:%[2]d/
LOCAL_ROOT_URL = http://127.0.0.1:%[2]d/
APP_DATA_PATH = %[1]s/data
STATIC_ROOT_PATH = %[5]s
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
OFFLINE_MODE = true
GRACEFUL_HAMMER_TIME = 3s

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = %[1]s/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[3]s
INTERNAL_TOKEN = %[4]s
PASSWORD_COMPLEXITY = off

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
ENABLE_NOTIFY_MAIL = false
DEFAULT_KEEP_EMAIL_PRIVATE = true

[openid]
ENABLE_OPENID_SIGNIN = false
ENABLE_OPENID_SIGNUP = false

[mailer]
ENABLED = false

[webhook]
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 10

[indexer]
ISSUE_INDEXER_TYPE = db

[queue]
; In memory: a level queue's workers poll with a back-off of up to 2s, and a
; push goes through two queues before its webhook is sent.
TYPE = channel

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[actions]
ENABLED = false

[packages]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = Info

[log.console]
STDERR = true
COLORIZE = false
`, dir, port, randomString(64), randomString(64), staticRoot)
}

// GiteaAPIError is an answer of Gitea's API other than 2xx.
type GiteaAPIError struct {
	Method, Path string
	StatusCode   int
	Body         string
}

func (e *GiteaAPIError) Error() string {
	return fmt.Sprintf("gitea %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), strings.TrimSpace(e.Body))
}

// API calls Gitea's API v1 with a token (the admin's when empty): path is
// under /api/v1 (e.g. "/repos/o/r/hooks"), in is sent as JSON when not nil,
// and a 2xx answer is decoded into out when not nil. Other answers are a
// *GiteaAPIError.
func (s *Gitea) API(ctx context.Context, token, method, path string, in, out any) error {
	if token == "" {
		token = s.AdminToken
	}
	return s.call(ctx, method, path, in, out, func(r *http.Request) {
		r.Header.Set("Authorization", "token "+token)
	})
}

func (s *Gitea) call(ctx context.Context, method, path string, in, out any, auth func(*http.Request)) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	auth(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &GiteaAPIError{Method: method, Path: path, StatusCode: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("gitea %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// CreateUser creates a user (not an admin) and an access token for it with
// all scopes.
func (s *Gitea) CreateUser(ctx context.Context, name string) (password, token string, err error) {
	password = randomString(20)
	f := false
	if err := s.API(ctx, "", http.MethodPost, "/admin/users", map[string]any{
		"username":             name,
		"email":                name + "@slipway.test",
		"password":             password,
		"must_change_password": &f,
	}, nil); err != nil {
		return "", "", err
	}
	// Tokens are made with the user's password (basic auth), not a token.
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	if err := s.call(ctx, http.MethodPost, "/users/"+url.PathEscape(name)+"/tokens",
		map[string]any{"name": "testground", "scopes": []string{"all"}}, &tok,
		func(r *http.Request) { r.SetBasicAuth(name, password) }); err != nil {
		return "", "", err
	}
	if tok.SHA1 == "" {
		return "", "", fmt.Errorf("gitea gave no token for %s", name)
	}
	return password, tok.SHA1, nil
}

// CreateRepo creates an empty private repository owner/name (owner is a user)
// whose default branch will be main; push to it to fill it.
func (s *Gitea) CreateRepo(ctx context.Context, owner, name string) error {
	return s.API(ctx, "", http.MethodPost, "/admin/users/"+url.PathEscape(owner)+"/repos", map[string]any{
		"name":           name,
		"private":        true,
		"auto_init":      false,
		"default_branch": "main",
	}, nil)
}

// AddCollaborator gives user a permission on repo ("owner/name"): read,
// write or admin.
func (s *Gitea) AddCollaborator(ctx context.Context, repo, user, permission string) error {
	return s.API(ctx, "", http.MethodPut, "/repos/"+repoPath(repo)+"/collaborators/"+url.PathEscape(user),
		map[string]string{"permission": permission}, nil)
}

// WebhookEvents are the events CreateWebhook subscribes to. In Gitea's API,
// "pull_request" also covers the pull_request_* events (comments on pull
// requests, synchronisation, review requests…) and "issue_comment" covers
// comments on issues. Deliveries carry X-Gitea-Event (and X-GitHub-Event):
// push, pull_request or issue_comment (comments on pull requests too, with
// X-Gitea-Event-Type: pull_request_comment).
var WebhookEvents = []string{"push", "pull_request", "issue_comment"}

// CreateWebhook adds an active webhook of type gitea to repo ("owner/name")
// that posts JSON to url for WebhookEvents, signed with secret
// (X-Hub-Signature-256: sha256=<hex HMAC of the body>).
func (s *Gitea) CreateWebhook(ctx context.Context, repo, hookURL, secret string) error {
	return s.API(ctx, "", http.MethodPost, "/repos/"+repoPath(repo)+"/hooks", map[string]any{
		"type": "gitea",
		"config": map[string]string{
			"url":          hookURL,
			"content_type": "json",
			"secret":       secret,
		},
		"events":        WebhookEvents,
		"branch_filter": "*",
		"active":        true,
	}, nil)
}

// CloneURL is repo's ("owner/name") clone URL over HTTP, without credentials.
func (s *Gitea) CloneURL(repo string) string { return s.URL + "/" + repo + ".git" }

// AuthCloneURL is the clone URL with user and password (or token) in it, for
// the git command line.
func (s *Gitea) AuthCloneURL(repo, user, password string) string {
	u, _ := url.Parse(s.CloneURL(repo))
	u.User = url.UserPassword(user, password)
	return u.String()
}

// WaitForBranch waits until Gitea has taken in a push of branch at sha
// (any commit when sha is empty) to repo ("owner/name"). Gitea updates its
// database after a push in the background: until then a repository pushed
// to for the first time is still "empty", and its pull request endpoints
// answer 404.
func (s *Gitea) WaitForBranch(ctx context.Context, repo, branch, sha string) error {
	return waitFor(ctx, "gitea branch "+repo+":"+branch, 30*time.Second, nil, func(ctx context.Context) error {
		var r struct {
			Empty bool `json:"empty"`
		}
		if err := s.API(ctx, "", http.MethodGet, "/repos/"+repoPath(repo), nil, &r); err != nil {
			return err
		}
		if r.Empty {
			return errors.New("repository still empty")
		}
		var b struct {
			Commit struct {
				ID string `json:"id"`
			} `json:"commit"`
		}
		if err := s.API(ctx, "", http.MethodGet, "/repos/"+repoPath(repo)+"/branches/"+url.PathEscape(branch), nil, &b); err != nil {
			return err
		}
		if sha != "" && b.Commit.ID != sha {
			return fmt.Errorf("branch at %s, not yet %s", b.Commit.ID, sha)
		}
		return nil
	})
}

// CreatePullRequest opens a pull request from branch head to branch base of
// repo ("owner/name"), as the admin, and returns its number.
func (s *Gitea) CreatePullRequest(ctx context.Context, repo, head, base, title string) (int, error) {
	var pr struct {
		Number int `json:"number"`
	}
	err := s.API(ctx, "", http.MethodPost, "/repos/"+repoPath(repo)+"/pulls",
		map[string]string{"head": head, "base": base, "title": title}, &pr)
	return pr.Number, err
}

// MergePullRequest merges a pull request with a merge commit, as the admin.
// Gitea checks a new pull request's mergeability in the background; until it
// has, it refuses the merge, so this retries for a while.
func (s *Gitea) MergePullRequest(ctx context.Context, repo string, number int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := s.API(ctx, "", http.MethodPost, "/repos/"+repoPath(repo)+"/pulls/"+strconv.Itoa(number)+"/merge",
			map[string]string{"do": "merge"}, nil)
		var apiErr *GiteaAPIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusMethodNotAllowed {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Comment posts a comment on issue or pull request number of repo
// ("owner/name") as the owner of token, and returns the comment's ID.
func (s *Gitea) Comment(ctx context.Context, repo string, number int, token, body string) (int64, error) {
	if token == "" {
		return 0, errors.New("gitea comment: no token")
	}
	var c struct {
		ID int64 `json:"id"`
	}
	err := s.API(ctx, token, http.MethodPost, "/repos/"+repoPath(repo)+"/issues/"+strconv.Itoa(number)+"/comments",
		map[string]string{"body": body}, &c)
	return c.ID, err
}

// repoPath escapes "owner/name" for a URL path.
func repoPath(repo string) string {
	owner, name, _ := strings.Cut(repo, "/")
	return url.PathEscape(owner) + "/" + url.PathEscape(name)
}
