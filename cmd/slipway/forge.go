package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/secrets"
)

// forgeFlags say which forge hosts the config repo, for pull request
// plans, chat-ops, commit statuses and image-bump pull requests.
type forgeFlags struct {
	kind        string
	url         string
	tokenSecret string
	repo        string
}

func (f *forgeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "forge", "", "forge hosting the config repo: github, gitea, gitlab or coding (enables pull request plans, chat-ops and commit statuses)")
	fl.StringVar(&f.url, "forge-url", "", "the forge's base URL (GitHub Enterprise, Gitea, GitLab or CODING; default https://api.github.com for github)")
	fl.StringVar(&f.tokenSecret, "forge-token-secret", "", "name of the secret holding the forge API token")
	fl.StringVar(&f.repo, "forge-repo", "", "the config repo on the forge as owner/name (default: from --repo's URL)")
}

// open returns the forge, or nil when none is configured.
func (f *forgeFlags) open(ctx context.Context, sec secrets.Store, repoURL string) (forge.Forge, string, error) {
	if f.kind == "" {
		return nil, "", nil
	}
	if f.tokenSecret == "" {
		return nil, "", fmt.Errorf("--forge %s needs --forge-token-secret", f.kind)
	}
	token, err := sec.Get(ctx, f.tokenSecret)
	if err != nil {
		return nil, "", fmt.Errorf("--forge-token-secret: %w", err)
	}
	tok := strings.TrimSpace(string(token))
	if tok == "" {
		return nil, "", fmt.Errorf("--forge-token-secret: secret %q is empty", f.tokenSecret)
	}
	repo := f.repo
	if repo == "" {
		repo = repoPath(repoURL)
	}
	if strings.Count(repo, "/") < 1 {
		return nil, "", fmt.Errorf("--forge-repo: want owner/name, got %q (it cannot be derived from --repo %q)", repo, repoURL)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	fg, err := forge.New(f.kind, f.url, tok, client)
	if err != nil {
		return nil, "", err
	}
	return fg, repo, nil
}

// repoPath derives owner/name from a clone URL such as
// https://host/owner/name.git.
func repoPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" {
		return ""
	}
	return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}
