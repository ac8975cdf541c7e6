package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GiteaMaxCommentSize is what MaxCommentSize says for Gitea. Gitea itself
// sets no limit on a comment's body (no binding rule; the column is
// LONGTEXT), so this is GitHub's limit, which keeps comments portable and
// readable.
const GiteaMaxCommentSize = 65536

// Gitea is a Forge on Gitea's API v1 (also Forgejo's), with an access token.
type Gitea struct {
	api    string // base URL + "/api/v1"
	token  string
	client *http.Client
}

var _ Forge = (*Gitea)(nil)

// NewGitea returns a Gitea forge at baseURL (Gitea's root URL, e.g.
// https://gitea.example.com; a trailing /api/v1 is accepted) using token.
// A nil client means one with a 30 s timeout.
func NewGitea(baseURL, token string, client *http.Client) *Gitea {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	base := strings.TrimSuffix(strings.TrimRight(baseURL, "/"), "/api/v1")
	return &Gitea{api: base + "/api/v1", token: token, client: client}
}

// Name is "gitea".
func (g *Gitea) Name() string { return "gitea" }

// MaxCommentSize is GiteaMaxCommentSize.
func (g *Gitea) MaxCommentSize() int { return GiteaMaxCommentSize }

// giteaStates maps commit status states; Gitea has the same four (and
// warning and skipped, which Slipway does not use).
var giteaStates = map[State]string{
	StatePending: "pending",
	StateSuccess: "success",
	StateFailure: "failure",
	StateError:   "error",
}

// SetStatus sets a commit status (POST /repos/{o}/{r}/statuses/{sha}).
func (g *Gitea) SetStatus(ctx context.Context, repo string, s Status) error {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return err
	}
	state, ok := giteaStates[s.State]
	if !ok {
		return fmt.Errorf("gitea: unknown commit status state %q", s.State)
	}
	if s.SHA == "" {
		return errors.New("gitea: commit status without a SHA")
	}
	// Gitea answers with the state under "status" (it takes "state").
	var out struct {
		Status  string `json:"status"`
		Context string `json:"context"`
	}
	if err := g.do(ctx, http.MethodPost, p+"/statuses/"+url.PathEscape(s.SHA), map[string]string{
		"state":       state,
		"target_url":  s.TargetURL,
		"description": s.Description,
		"context":     s.Context,
	}, &out); err != nil {
		return err
	}
	if out.Status != state {
		return fmt.Errorf("gitea: commit status %s on %s: set %q, Gitea says %q", s.Context, s.SHA, state, out.Status)
	}
	return nil
}

type giteaUser struct {
	Login string `json:"login"`
}

type giteaComment struct {
	ID      int64     `json:"id"`
	Body    string    `json:"body"`
	User    giteaUser `json:"user"`
	HTMLURL string    `json:"html_url"`
}

func (c giteaComment) comment() Comment {
	return Comment{ID: c.ID, Body: c.Body, Author: c.User.Login, URL: c.HTMLURL}
}

// Comments lists the comments of an issue or pull request, oldest first.
// Gitea's endpoint is not paginated: it returns them all.
func (g *Gitea) Comments(ctx context.Context, repo string, number int) ([]Comment, error) {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return nil, err
	}
	var list []giteaComment
	if err := g.do(ctx, http.MethodGet, p+"/issues/"+strconv.Itoa(number)+"/comments", nil, &list); err != nil {
		return nil, g.issueError(ctx, p, number, err)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	out := make([]Comment, len(list))
	for i, c := range list {
		out[i] = c.comment()
	}
	return out, nil
}

// Comment posts a comment on an issue or pull request.
func (g *Gitea) Comment(ctx context.Context, repo string, number int, body string) (Comment, error) {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return Comment{}, err
	}
	var c giteaComment
	if err := g.do(ctx, http.MethodPost, p+"/issues/"+strconv.Itoa(number)+"/comments",
		map[string]string{"body": body}, &c); err != nil {
		return Comment{}, g.issueError(ctx, p, number, err)
	}
	return c.comment(), nil
}

// issueError turns err, from an issue's comments endpoint, into ErrNotFound
// when the issue does not exist: for a missing issue those endpoints answer
// 500 (with the reason only for site admins), where the issue's own endpoint
// answers 404.
func (g *Gitea) issueError(ctx context.Context, repoPath string, number int, err error) error {
	var ge *giteaError
	if !errors.As(err, &ge) || ge.StatusCode != http.StatusInternalServerError {
		return err
	}
	if check := g.do(ctx, http.MethodGet, repoPath+"/issues/"+strconv.Itoa(number), nil, nil); errors.Is(check, ErrNotFound) {
		return fmt.Errorf("gitea: issue or pull request %d of %s: %w", number, strings.TrimPrefix(repoPath, "/repos/"), ErrNotFound)
	}
	return err
}

// EditComment replaces a comment's body. Comment IDs are unique across a
// Gitea, so number is not needed.
func (g *Gitea) EditComment(ctx context.Context, repo string, number int, id int64, body string) error {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return err
	}
	return g.do(ctx, http.MethodPatch, p+"/issues/comments/"+strconv.FormatInt(id, 10),
		map[string]string{"body": body}, nil)
}

// giteaReactions maps Slipway's reaction names (GitHub's) to Gitea's default
// allowed reactions ([ui] REACTIONS), which use the same names; a few common
// aliases are accepted too.
var giteaReactions = map[string]string{
	ReactionPlusOne:  "+1",
	"thumbsup":       "+1",
	"-1":             "-1",
	"thumbsdown":     "-1",
	"laugh":          "laugh",
	"hooray":         "hooray",
	"tada":           "hooray",
	ReactionConfused: "confused",
	"heart":          "heart",
	ReactionRocket:   "rocket",
	ReactionEyes:     "eyes",
}

// React adds a reaction to a comment. Adding one that is there already is
// not an error.
func (g *Gitea) React(ctx context.Context, repo string, number int, commentID int64, reaction string) error {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return err
	}
	name, ok := giteaReactions[reaction]
	if !ok {
		return fmt.Errorf("gitea: reaction %q: %w", reaction, ErrUnsupported)
	}
	return g.do(ctx, http.MethodPost, p+"/issues/comments/"+strconv.FormatInt(commentID, 10)+"/reactions",
		map[string]string{"content": name}, nil)
}

// Permission is the user's permission on the repository, from
// GET /repos/{o}/{r}/collaborators/{user}/permission, which answers for any
// user (not only collaborators): none, read, write, admin or owner. The
// repository's owner and site administrators are admin. The token must be
// the user's own or have admin rights on the repository.
func (g *Gitea) Permission(ctx context.Context, repo, user string) (Permission, error) {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return PermissionNone, err
	}
	var out struct {
		Permission string `json:"permission"`
	}
	if err := g.do(ctx, http.MethodGet, p+"/collaborators/"+url.PathEscape(user)+"/permission", nil, &out); err != nil {
		return PermissionNone, err
	}
	switch out.Permission {
	case "owner", "admin":
		return PermissionAdmin, nil
	case "write":
		return PermissionWrite, nil
	case "read":
		return PermissionRead, nil
	}
	return PermissionNone, nil
}

type giteaBranch struct {
	Ref  string `json:"ref"`
	SHA  string `json:"sha"`
	Repo *struct {
		FullName string `json:"full_name"`
	} `json:"repo"`
}

type giteaPull struct {
	Number  int         `json:"number"`
	Title   string      `json:"title"`
	Body    string      `json:"body"`
	State   string      `json:"state"`
	Merged  bool        `json:"merged"`
	HTMLURL string      `json:"html_url"`
	Head    giteaBranch `json:"head"`
	Base    giteaBranch `json:"base"`
}

func (p giteaPull) pullRequest() PullRequest {
	state := p.State
	if p.Merged {
		state = "merged"
	}
	return PullRequest{Number: p.Number, Title: p.Title, Body: p.Body, Head: p.Head.Ref, Base: p.Base.Ref,
		HeadSHA: p.Head.SHA, URL: p.HTMLURL, State: state}
}

// EnsurePullRequest opens a pull request from pr.Head to pr.Base (branches
// of repo), or updates the title and body of the open one between them.
func (g *Gitea) EnsurePullRequest(ctx context.Context, repo string, pr PullRequest) (PullRequest, error) {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return PullRequest{}, err
	}
	if pr.Head == "" || pr.Base == "" {
		return PullRequest{}, errors.New("gitea: a pull request needs a head and a base branch")
	}
	open, err := g.openPull(ctx, repo, pr.Head, pr.Base)
	if err != nil {
		return PullRequest{}, err
	}
	if open == nil {
		var created giteaPull
		err := g.do(ctx, http.MethodPost, p+"/pulls", map[string]string{
			"head": pr.Head, "base": pr.Base, "title": pr.Title, "body": pr.Body,
		}, &created)
		if err == nil {
			return created.pullRequest(), nil
		}
		// 409: one was opened meanwhile; update it.
		var ge *giteaError
		if !errors.As(err, &ge) || ge.StatusCode != http.StatusConflict {
			return PullRequest{}, err
		}
		if open, err = g.openPull(ctx, repo, pr.Head, pr.Base); err != nil {
			return PullRequest{}, err
		}
		if open == nil {
			return PullRequest{}, fmt.Errorf("gitea: pull request %s→%s: conflict, but no open one found", pr.Head, pr.Base)
		}
	}
	if open.Title == pr.Title && open.Body == pr.Body {
		return open.pullRequest(), nil
	}
	var edited giteaPull
	if err := g.do(ctx, http.MethodPatch, p+"/pulls/"+strconv.Itoa(open.Number), map[string]string{
		"title": pr.Title, "body": pr.Body,
	}, &edited); err != nil {
		return PullRequest{}, err
	}
	return edited.pullRequest(), nil
}

// openPull finds the open pull request from head to base within repo. The
// list endpoint filters on the base branch only; head is matched here.
func (g *Gitea) openPull(ctx context.Context, repo, head, base string) (*giteaPull, error) {
	p, err := giteaRepoPath(repo)
	if err != nil {
		return nil, err
	}
	const limit = 50 // Gitea's default MAX_RESPONSE_ITEMS
	for page := 1; page <= 100; page++ {
		q := url.Values{"state": {"open"}, "base_branch": {base}, "limit": {strconv.Itoa(limit)}, "page": {strconv.Itoa(page)}}
		var list []giteaPull
		if err := g.do(ctx, http.MethodGet, p+"/pulls?"+q.Encode(), nil, &list); err != nil {
			return nil, err
		}
		for i := range list {
			pr := &list[i]
			sameRepo := pr.Head.Repo == nil || strings.EqualFold(pr.Head.Repo.FullName, repo)
			if pr.State == "open" && pr.Head.Ref == head && pr.Base.Ref == base && sameRepo {
				return pr, nil
			}
		}
		if len(list) < limit {
			break
		}
	}
	return nil, nil
}

// giteaError is an answer of Gitea's API other than 2xx. A 404 unwraps to
// ErrNotFound.
type giteaError struct {
	Method, Path string
	StatusCode   int
	Message      string
}

func (e *giteaError) Error() string {
	return fmt.Sprintf("gitea %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

func (e *giteaError) Unwrap() error {
	if e.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// do calls the API: path is under /api/v1, in is sent as JSON when not nil,
// and a 2xx answer is decoded into out when not nil.
func (g *Gitea) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.api+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "slipway")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if g.token != "" {
		req.Header.Set("Authorization", "token "+g.token)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("gitea %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("gitea %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.TrimSpace(string(b))
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return &giteaError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: msg}
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("gitea %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// giteaRepoPath is "/repos/{owner}/{name}" for "owner/name".
func giteaRepoPath(repo string) (string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("gitea: repository %q is not owner/name", repo)
	}
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}
