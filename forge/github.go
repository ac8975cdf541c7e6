package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"
)

// githubAPI is the API root of github.com; any other base URL is GitHub
// Enterprise Server.
const githubAPI = "https://api.github.com"

// githubMaxComment is the largest issue comment body GitHub accepts
// (65,536 characters; counted here as bytes, which is never more).
const githubMaxComment = 65536

// githubMaxDescription is the longest commit or deployment status
// description GitHub accepts, in characters.
const githubMaxDescription = 140

// GitHub is the Forge (and Deployer) of github.com and GitHub Enterprise
// Server, through go-github.
type GitHub struct {
	client *github.Client
}

var (
	_ Forge    = (*GitHub)(nil)
	_ Deployer = (*GitHub)(nil)
)

// NewGitHub returns the GitHub forge. baseURL is empty or
// https://api.github.com for github.com, else the GitHub Enterprise Server
// it names ("https://ghe.example.com" or "https://ghe.example.com/api/v3/";
// the /api/v3/ suffix is added when missing). token is a personal access,
// OAuth or installation token; empty makes unauthenticated requests. client
// is the HTTP client to use (nil: one with a 30 s timeout); it is copied,
// not changed.
func NewGitHub(baseURL, token string, client *http.Client) (*GitHub, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	opts := []github.ClientOptionsFunc{github.WithHTTPClient(client)}
	if token != "" {
		opts = append(opts, github.WithAuthToken(token))
	}
	if base := strings.TrimRight(baseURL, "/"); base != "" && base != githubAPI {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("github: base URL %q: want http(s)://host[/api/v3]", baseURL)
		}
		upload := *u
		upload.Path = strings.TrimSuffix(u.Path, "/api/v3")
		opts = append(opts, github.WithEnterpriseURLs(base+"/", upload.String()+"/"))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	return &GitHub{client: c}, nil
}

// Name implements Forge.
func (*GitHub) Name() string { return "github" }

// MaxCommentSize implements Forge.
func (*GitHub) MaxCommentSize() int { return githubMaxComment }

// SetStatus implements Forge.
func (g *GitHub) SetStatus(ctx context.Context, repo string, s Status) error {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return err
	}
	switch s.State {
	case StatePending, StateSuccess, StateFailure, StateError:
	default:
		return fmt.Errorf("github: status %q of %s@%s: unknown state %q", s.Context, repo, s.SHA, s.State)
	}
	st := github.RepoStatus{
		State:       github.Ptr(string(s.State)),
		Context:     github.Ptr(s.Context),
		Description: github.Ptr(clipRunes(s.Description, githubMaxDescription)),
	}
	if s.TargetURL != "" {
		st.TargetURL = github.Ptr(s.TargetURL)
	}
	_, _, err = g.client.Repositories.CreateStatus(ctx, owner, name, s.SHA, st)
	return ghErr(err, "status %q of %s@%s", s.Context, repo, s.SHA)
}

// Comments implements Forge: all pages, oldest first.
func (g *GitHub) Comments(ctx context.Context, repo string, number int) ([]Comment, error) {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return nil, err
	}
	opts := &github.IssueListCommentsOptions{
		Sort:        github.Ptr("created"),
		Direction:   github.Ptr("asc"),
		ListOptions: github.ListOptions{PerPage: 100},
	}
	var out []Comment
	for {
		page, resp, err := g.client.Issues.ListComments(ctx, owner, name, number, opts)
		if err != nil {
			return nil, ghErr(err, "comments of %s#%d", repo, number)
		}
		for _, c := range page {
			out = append(out, ghComment(c))
		}
		if resp.NextPage == 0 || resp.NextPage == opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Comment implements Forge.
func (g *GitHub) Comment(ctx context.Context, repo string, number int, body string) (Comment, error) {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return Comment{}, err
	}
	c, _, err := g.client.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: github.Ptr(body)})
	if err != nil {
		return Comment{}, ghErr(err, "comment on %s#%d", repo, number)
	}
	return ghComment(c), nil
}

// EditComment implements Forge. GitHub addresses a comment by its id alone;
// number is only for messages.
func (g *GitHub) EditComment(ctx context.Context, repo string, number int, id int64, body string) error {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return err
	}
	_, _, err = g.client.Issues.EditComment(ctx, owner, name, id, &github.IssueComment{Body: github.Ptr(body)})
	return ghErr(err, "edit of comment %d on %s#%d", id, repo, number)
}

// githubReactions are the reaction contents GitHub accepts.
var githubReactions = map[string]bool{
	"+1": true, "-1": true, "laugh": true, "confused": true,
	"heart": true, "hooray": true, "rocket": true, "eyes": true,
}

// React implements Forge (reactions on issue and pull request comments).
func (g *GitHub) React(ctx context.Context, repo string, number int, commentID int64, reaction string) error {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return err
	}
	if !githubReactions[reaction] {
		return fmt.Errorf("github: reaction %q on comment %d of %s#%d: not a GitHub reaction", reaction, commentID, repo, number)
	}
	_, _, err = g.client.Reactions.CreateIssueCommentReaction(ctx, owner, name, commentID, reaction)
	return ghErr(err, "reaction %q on comment %d of %s#%d", reaction, commentID, repo, number)
}

// Permission implements Forge. GitHub's role_name (admin, maintain, write,
// triage, read) is finer than its permission (admin, write, read, none):
// admin and maintain are admin, write is write, triage and read are read.
func (g *GitHub) Permission(ctx context.Context, repo, user string) (Permission, error) {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return PermissionNone, err
	}
	level, _, err := g.client.Repositories.GetPermissionLevel(ctx, owner, name, user)
	if err != nil {
		return PermissionNone, ghErr(err, "permission of %s on %s", user, repo)
	}
	return githubPermission(level.GetRoleName(), level.GetPermission()), nil
}

func githubPermission(role, permission string) Permission {
	for _, p := range []string{role, permission} {
		switch p {
		case "admin", "maintain":
			return PermissionAdmin
		case "write", "push":
			return PermissionWrite
		case "triage", "read", "pull":
			return PermissionRead
		case "none":
			return PermissionNone
		}
	}
	return PermissionNone
}

// EnsurePullRequest implements Forge: the open pull request from pr.Head
// to pr.Base gets pr's title and body (unless it has them already), or one
// is opened. pr.Head may be "owner:branch" for a branch of a fork.
func (g *GitHub) EnsurePullRequest(ctx context.Context, repo string, pr PullRequest) (PullRequest, error) {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return PullRequest{}, err
	}
	if pr.Head == "" || pr.Base == "" {
		return PullRequest{}, fmt.Errorf("github: pull request on %s: head and base branches are required", repo)
	}
	head := pr.Head
	if !strings.Contains(head, ":") {
		head = owner + ":" + head
	}
	open, _, err := g.client.PullRequests.List(ctx, owner, name, &github.PullRequestListOptions{
		State: "open", Head: head, Base: pr.Base, ListOptions: github.ListOptions{PerPage: 10},
	})
	if err != nil {
		return PullRequest{}, ghErr(err, "pull requests %s→%s of %s", pr.Head, pr.Base, repo)
	}
	if len(open) > 0 {
		cur := open[0]
		if cur.GetTitle() == pr.Title && cur.GetBody() == pr.Body {
			return ghPullRequest(cur), nil
		}
		edited, _, err := g.client.PullRequests.Edit(ctx, owner, name, cur.GetNumber(), &github.PullRequest{
			Title: github.Ptr(pr.Title), Body: github.Ptr(pr.Body),
		})
		if err != nil {
			return PullRequest{}, ghErr(err, "edit of %s#%d", repo, cur.GetNumber())
		}
		return ghPullRequest(edited), nil
	}
	created, _, err := g.client.PullRequests.Create(ctx, owner, name, &github.NewPullRequest{
		Title: github.Ptr(pr.Title), Head: github.Ptr(pr.Head), Base: github.Ptr(pr.Base), Body: github.Ptr(pr.Body),
	})
	if err != nil {
		return PullRequest{}, ghErr(err, "pull request %s→%s of %s", pr.Head, pr.Base, repo)
	}
	return ghPullRequest(created), nil
}

// CreateDeployment implements Deployer. The deployment records what
// Slipway deploys; it neither merges the default branch into the ref
// (auto_merge false) nor waits for commit statuses (no required contexts).
func (g *GitHub) CreateDeployment(ctx context.Context, repo string, d Deployment) (int64, error) {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return 0, err
	}
	req := github.DeploymentRequest{
		Ref:              d.Ref,
		Task:             github.Ptr("deploy"),
		AutoMerge:        github.Ptr(false),
		RequiredContexts: []string{},
		Environment:      github.Ptr(d.Environment),
	}
	if d.Description != "" {
		req.Description = github.Ptr(clipRunes(d.Description, githubMaxDescription))
	}
	dep, _, err := g.client.Repositories.CreateDeployment(ctx, owner, name, req)
	if err != nil {
		return 0, ghErr(err, "deployment of %s to %s in %s", d.Ref, d.Environment, repo)
	}
	return dep.GetID(), nil
}

// githubDeploymentStates are the deployment status states GitHub accepts.
var githubDeploymentStates = map[string]bool{
	"error": true, "failure": true, "inactive": true, "in_progress": true,
	"queued": true, "pending": true, "success": true,
}

// SetDeploymentStatus implements Deployer. state is one of GitHub's:
// error, failure, inactive, in_progress, queued, pending or success.
func (g *GitHub) SetDeploymentStatus(ctx context.Context, repo string, id int64, state, logURL, description string) error {
	owner, name, err := ghOwnerName(repo)
	if err != nil {
		return err
	}
	if !githubDeploymentStates[state] {
		return fmt.Errorf("github: status of deployment %d in %s: unknown state %q", id, repo, state)
	}
	req := github.DeploymentStatusRequest{State: state}
	if logURL != "" {
		req.LogURL = github.Ptr(logURL)
	}
	if description != "" {
		req.Description = github.Ptr(clipRunes(description, githubMaxDescription))
	}
	_, _, err = g.client.Repositories.CreateDeploymentStatus(ctx, owner, name, id, req)
	return ghErr(err, "status %q of deployment %d in %s", state, id, repo)
}

func ghComment(c *github.IssueComment) Comment {
	return Comment{ID: c.GetID(), Body: c.GetBody(), Author: c.GetUser().GetLogin(), URL: c.GetHTMLURL()}
}

func ghPullRequest(p *github.PullRequest) PullRequest {
	state := p.GetState()
	if p.GetMerged() || p.MergedAt != nil {
		state = "merged"
	}
	return PullRequest{
		Number:  p.GetNumber(),
		Title:   p.GetTitle(),
		Body:    p.GetBody(),
		Head:    p.GetHead().GetRef(),
		Base:    p.GetBase().GetRef(),
		HeadSHA: p.GetHead().GetSHA(),
		URL:     p.GetHTMLURL(),
		State:   state,
	}
}

// ghOwnerName splits "owner/name".
func ghOwnerName(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("github: repository %q: want owner/name", repo)
	}
	return owner, name, nil
}

// ghErr wraps a go-github error with what was asked; a 404 becomes
// ErrNotFound. nil stays nil.
func ghErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	var resp *github.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == http.StatusNotFound {
		return fmt.Errorf("github: %s: %w (%s)", what, ErrNotFound, resp.Message)
	}
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) {
		return fmt.Errorf("github: %s: accepted but not done (202): %s", what, strings.TrimSpace(string(accepted.Raw)))
	}
	return fmt.Errorf("github: %s: %w", what, err)
}

// clipRunes cuts s to at most n runes.
func clipRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
