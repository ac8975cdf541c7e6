package testground

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// GitServer serves bare repositories over smart HTTP (git http-backend) with
// basic auth, like a forge's Git endpoint.
type GitServer struct {
	// BaseURL is http://127.0.0.1:port, without credentials.
	BaseURL  string
	User     string
	Password string
	// Root holds the bare repositories, one <name>.git each.
	Root string
}

func (g *Ground) startGit() error {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("the git server needs git on PATH: %w", err)
	}
	s := &GitServer{User: "slipway", Password: randomString(20), Root: filepath.Join(g.Dir, "git")}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return err
	}
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Dir:  s.Root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + s.Root,
		},
		Stderr: os.Stderr,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.BaseURL = "http://" + l.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.User)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="testground"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})}
	g.serve(srv, l)
	g.Git = s
	return nil
}

// CreateRepo makes an empty bare repository whose default branch is main and
// returns its clone URL (without credentials).
func (s *GitServer) CreateRepo(ctx context.Context, name string) (string, error) {
	dir := filepath.Join(s.Root, name+".git")
	if err := runGit(ctx, "", "init", "--bare", "--initial-branch=main", dir); err != nil {
		return "", err
	}
	if err := runGit(ctx, dir, "config", "http.receivepack", "true"); err != nil {
		return "", err
	}
	return s.RepoURL(name), nil
}

// RepoURL is the clone URL of a repository, without credentials.
func (s *GitServer) RepoURL(name string) string { return s.BaseURL + "/" + name + ".git" }

// AuthRepoURL is the clone URL with the basic-auth credentials in it, for
// the git command line.
func (s *GitServer) AuthRepoURL(name string) string {
	u, _ := url.Parse(s.RepoURL(name))
	u.User = url.UserPassword(s.User, s.Password)
	return u.String()
}

func runGit(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
