package forge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNewGitHubBaseURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "https://api.github.com/"},
		{"https://api.github.com", "https://api.github.com/"},
		{"https://api.github.com/", "https://api.github.com/"},
		{"https://ghe.example.com", "https://ghe.example.com/api/v3/"},
		{"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3/"},
	}
	for _, tt := range tests {
		g, err := NewGitHub(tt.in, "t", nil)
		if err != nil {
			t.Fatalf("NewGitHub(%q): %v", tt.in, err)
		}
		if got := g.client.BaseURL(); got != tt.want {
			t.Errorf("NewGitHub(%q): base URL %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"ghe.example.com", "ftp://ghe.example.com", "https://"} {
		if _, err := NewGitHub(bad, "t", nil); err == nil {
			t.Errorf("NewGitHub(%q): no error", bad)
		}
	}
	// No token: unauthenticated, but valid.
	if _, err := NewGitHub("", "", nil); err != nil {
		t.Error(err)
	}
}

// TestNewGitHubKeepsClient: the caller's HTTP client is not changed.
func TestNewGitHubKeepsClient(t *testing.T) {
	c := &http.Client{}
	if _, err := NewGitHub("", "secret", c); err != nil {
		t.Fatal(err)
	}
	if c.Transport != nil {
		t.Error("NewGitHub set the caller's transport")
	}
}

func TestGitHubPermissionMapping(t *testing.T) {
	tests := []struct {
		role, permission string
		want             Permission
	}{
		{"admin", "admin", PermissionAdmin},
		{"maintain", "write", PermissionAdmin},
		{"write", "write", PermissionWrite},
		{"triage", "read", PermissionRead},
		{"read", "read", PermissionRead},
		{"", "none", PermissionNone},
		{"custom-role", "write", PermissionWrite}, // a custom role falls back on permission
		{"", "", PermissionNone},
	}
	for _, tt := range tests {
		if got := githubPermission(tt.role, tt.permission); got != tt.want {
			t.Errorf("githubPermission(%q, %q) = %q, want %q", tt.role, tt.permission, got, tt.want)
		}
	}
}

// TestGitHubRefusesLocally: what GitHub would refuse is refused before a
// request is sent.
func TestGitHubRefusesLocally(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	g, err := NewGitHub(srv.URL, "t", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checks := map[string]error{
		"repository without owner": g.SetStatus(ctx, "config", Status{SHA: "a", State: StateSuccess}),
		"nested repository":        g.EditComment(ctx, "a/b/c", 1, 1, "x"),
		"unknown state":            g.SetStatus(ctx, "o/r", Status{SHA: "a", State: "done"}),
		"unknown reaction":         g.React(ctx, "o/r", 1, 1, "shrug"),
		"unknown deployment state": g.SetDeploymentStatus(ctx, "o/r", 1, "done", "", ""),
	}
	_, prErr := g.EnsurePullRequest(ctx, "o/r", PullRequest{Title: "t"})
	checks["pull request without branches"] = prErr
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if g.Name() != "github" || g.MaxCommentSize() != 65536 {
		t.Error("Name or MaxCommentSize")
	}
}

func TestClipRunes(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"日本語です", 2, "日本"},
		{"", 3, ""},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := clipRunes(tt.in, tt.n); got != tt.want {
			t.Errorf("clipRunes(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
