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
	"strconv"
	"strings"
	"time"
)

// gitlabMaxComment is the largest note body GitLab accepts (1,000,000
// characters; counted here as bytes, which is never more).
const gitlabMaxComment = 1000000

// gitlabMaxDescription is the longest commit status description GitLab
// stores, in characters.
const gitlabMaxDescription = 255

// GitLab is the Forge of GitLab (gitlab.com or self-managed), through the
// REST API v4. Its repositories are projects addressed by their full path
// ("group/subgroup/name", URL-encoded); its pull requests are merge
// requests, numbered by their iid, and their comments are notes.
type GitLab struct {
	web   string // https://gitlab.example.com, for links
	api   string // https://gitlab.example.com/api/v4
	token string
	http  *http.Client
}

var _ Forge = (*GitLab)(nil)

// NewGitLab returns the GitLab forge. baseURL is the instance
// ("https://gitlab.com" when empty; a trailing /api/v4 is accepted). token
// is a personal, project or group access token with the api scope, sent as
// PRIVATE-TOKEN. client is the HTTP client to use (nil: one with a 30 s
// timeout).
func NewGitLab(baseURL, token string, client *http.Client) (*GitLab, error) {
	base := strings.TrimRight(baseURL, "/")
	if base == "" {
		base = "https://gitlab.com"
	}
	base = strings.TrimSuffix(base, "/api/v4")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitlab: base URL %q: want http(s)://host[/path]", baseURL)
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &GitLab{web: base, api: base + "/api/v4", token: token, http: client}, nil
}

// Name implements Forge.
func (*GitLab) Name() string { return "gitlab" }

// MaxCommentSize implements Forge.
func (*GitLab) MaxCommentSize() int { return gitlabMaxComment }

// gitlabStates maps Slipway's states to GitLab's (pending, running,
// success, failed, canceled): failure and error are both failed.
var gitlabStates = map[State]string{
	StatePending: "pending",
	StateSuccess: "success",
	StateFailure: "failed",
	StateError:   "failed",
}

// SetStatus implements Forge: POST /projects/:id/statuses/:sha, with the
// status's context as GitLab's name. GitLab refuses to set a status to the
// state it already has ("Cannot transition status via …"); that is success.
func (g *GitLab) SetStatus(ctx context.Context, repo string, s Status) error {
	state, ok := gitlabStates[s.State]
	if !ok {
		return fmt.Errorf("gitlab: status %q of %s@%s: unknown state %q", s.Context, repo, s.SHA, s.State)
	}
	body := map[string]string{"state": state, "name": s.Context}
	if s.Description != "" {
		body["description"] = clipRunes(s.Description, gitlabMaxDescription)
	}
	if s.TargetURL != "" {
		body["target_url"] = s.TargetURL
	}
	_, err := g.do(ctx, http.MethodPost, gitlabProject(repo)+"/statuses/"+url.PathEscape(s.SHA), nil, body, nil)
	var e *gitlabError
	if errors.As(err, &e) && e.status == http.StatusBadRequest && strings.Contains(e.message, "Cannot transition status") {
		return nil
	}
	return wrapGitLab(err, "status %q of %s@%s", s.Context, repo, s.SHA)
}

type gitlabNote struct {
	ID     int64  `json:"id"`
	Body   string `json:"body"`
	System bool   `json:"system"`
	Author struct {
		Username string `json:"username"`
	} `json:"author"`
}

func (g *GitLab) comment(repo string, iid int, n gitlabNote) Comment {
	return Comment{
		ID:     n.ID,
		Body:   n.Body,
		Author: n.Author.Username,
		URL:    fmt.Sprintf("%s/%s/-/merge_requests/%d#note_%d", g.web, repo, iid, n.ID),
	}
}

func gitlabNotes(repo string, iid int) string {
	return gitlabProject(repo) + "/merge_requests/" + strconv.Itoa(iid) + "/notes"
}

// Comments implements Forge: the merge request's notes, all pages, oldest
// first, without system notes ("added 1 commit").
func (g *GitLab) Comments(ctx context.Context, repo string, number int) ([]Comment, error) {
	var out []Comment
	for page := "1"; page != ""; {
		q := url.Values{"sort": {"asc"}, "order_by": {"created_at"}, "per_page": {"100"}, "page": {page}}
		var notes []gitlabNote
		h, err := g.do(ctx, http.MethodGet, gitlabNotes(repo, number), q, nil, &notes)
		if err != nil {
			return nil, wrapGitLab(err, "notes of %s!%d", repo, number)
		}
		for _, n := range notes {
			if !n.System {
				out = append(out, g.comment(repo, number, n))
			}
		}
		next := h.Get("X-Next-Page")
		if next == page {
			break
		}
		page = next
	}
	return out, nil
}

// Comment implements Forge: a note on merge request number (its iid).
func (g *GitLab) Comment(ctx context.Context, repo string, number int, body string) (Comment, error) {
	var n gitlabNote
	if _, err := g.do(ctx, http.MethodPost, gitlabNotes(repo, number), nil, map[string]string{"body": body}, &n); err != nil {
		return Comment{}, wrapGitLab(err, "note on %s!%d", repo, number)
	}
	return g.comment(repo, number, n), nil
}

// EditComment implements Forge.
func (g *GitLab) EditComment(ctx context.Context, repo string, number int, id int64, body string) error {
	path := gitlabNotes(repo, number) + "/" + strconv.FormatInt(id, 10)
	_, err := g.do(ctx, http.MethodPut, path, nil, map[string]string{"body": body}, nil)
	return wrapGitLab(err, "edit of note %d on %s!%d", id, repo, number)
}

// gitlabEmoji maps GitHub's reaction names to GitLab's award emoji.
var gitlabEmoji = map[string]string{
	"eyes": "eyes", "+1": "thumbsup", "-1": "thumbsdown", "confused": "confused",
	"rocket": "rocket", "heart": "heart", "hooray": "tada", "laugh": "laughing",
}

// React implements Forge: an award emoji on the note. Awarding one the
// token's user already gave ("has already been taken") is success.
func (g *GitLab) React(ctx context.Context, repo string, number int, commentID int64, reaction string) error {
	name, ok := gitlabEmoji[reaction]
	if !ok {
		return fmt.Errorf("gitlab: reaction %q on note %d of %s!%d: no GitLab emoji for it", reaction, commentID, repo, number)
	}
	path := gitlabNotes(repo, number) + "/" + strconv.FormatInt(commentID, 10) + "/award_emoji"
	_, err := g.do(ctx, http.MethodPost, path, nil, map[string]string{"name": name}, nil)
	var e *gitlabError
	if errors.As(err, &e) && strings.Contains(e.message, "already been taken") {
		return nil
	}
	return wrapGitLab(err, "award %q on note %d of %s!%d", name, commentID, repo, number)
}

// Permission implements Forge: the user's access level on the project,
// inherited memberships included (GET /projects/:id/members/all/:user_id,
// after GET /users?username=). Owner (50) and maintainer (40) are admin,
// developer (30) is write, reporter (20), planner (15) and guest (10) are
// read; minimal access and no membership are none. A user GitLab does not
// know has no permission.
func (g *GitLab) Permission(ctx context.Context, repo, user string) (Permission, error) {
	var users []struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	}
	if _, err := g.do(ctx, http.MethodGet, "/users", url.Values{"username": {user}}, nil, &users); err != nil {
		return PermissionNone, wrapGitLab(err, "user %s", user)
	}
	var id int64
	for _, u := range users {
		if strings.EqualFold(u.Username, user) {
			id = u.ID
		}
	}
	if id == 0 {
		return PermissionNone, nil
	}
	var m struct {
		AccessLevel int `json:"access_level"`
	}
	_, err := g.do(ctx, http.MethodGet, gitlabProject(repo)+"/members/all/"+strconv.FormatInt(id, 10), nil, nil, &m)
	var e *gitlabError
	if errors.As(err, &e) && e.status == http.StatusNotFound && !strings.Contains(strings.ToLower(e.message), "project") {
		return PermissionNone, nil // not a member ("404 Not found")
	}
	if err != nil {
		return PermissionNone, wrapGitLab(err, "membership of %s in %s", user, repo)
	}
	return gitlabPermission(m.AccessLevel), nil
}

func gitlabPermission(level int) Permission {
	switch {
	case level >= 40:
		return PermissionAdmin
	case level >= 30:
		return PermissionWrite
	case level >= 10:
		return PermissionRead
	}
	return PermissionNone
}

type gitlabMR struct {
	IID          int    `json:"iid"`
	Title        string `json:"title"`
	Description  string `json:"description"`
	SourceBranch string `json:"source_branch"`
	TargetBranch string `json:"target_branch"`
	SHA          string `json:"sha"`
	WebURL       string `json:"web_url"`
	State        string `json:"state"`
}

func (m gitlabMR) pullRequest() PullRequest {
	state := m.State
	switch state {
	case "opened", "locked":
		state = "open"
	}
	return PullRequest{
		Number: m.IID, Title: m.Title, Body: m.Description,
		Head: m.SourceBranch, Base: m.TargetBranch, HeadSHA: m.SHA,
		URL: m.WebURL, State: state,
	}
}

// EnsurePullRequest implements Forge with merge requests: the open one from
// pr.Head to pr.Base gets pr's title and description (unless it has them),
// or one is created.
func (g *GitLab) EnsurePullRequest(ctx context.Context, repo string, pr PullRequest) (PullRequest, error) {
	if pr.Head == "" || pr.Base == "" {
		return PullRequest{}, fmt.Errorf("gitlab: merge request on %s: source and target branches are required", repo)
	}
	mrs := gitlabProject(repo) + "/merge_requests"
	var open []gitlabMR
	q := url.Values{"state": {"opened"}, "source_branch": {pr.Head}, "target_branch": {pr.Base}}
	if _, err := g.do(ctx, http.MethodGet, mrs, q, nil, &open); err != nil {
		return PullRequest{}, wrapGitLab(err, "merge requests %s→%s of %s", pr.Head, pr.Base, repo)
	}
	if len(open) > 0 {
		cur := open[0]
		if cur.Title == pr.Title && cur.Description == pr.Body {
			return cur.pullRequest(), nil
		}
		var edited gitlabMR
		body := map[string]string{"title": pr.Title, "description": pr.Body}
		if _, err := g.do(ctx, http.MethodPut, mrs+"/"+strconv.Itoa(cur.IID), nil, body, &edited); err != nil {
			return PullRequest{}, wrapGitLab(err, "edit of %s!%d", repo, cur.IID)
		}
		return edited.pullRequest(), nil
	}
	var created gitlabMR
	body := map[string]string{"source_branch": pr.Head, "target_branch": pr.Base, "title": pr.Title, "description": pr.Body}
	if _, err := g.do(ctx, http.MethodPost, mrs, nil, body, &created); err != nil {
		return PullRequest{}, wrapGitLab(err, "merge request %s→%s of %s", pr.Head, pr.Base, repo)
	}
	return created.pullRequest(), nil
}

// gitlabProject is the API path of a project: /projects/<path, URL-encoded>.
func gitlabProject(repo string) string { return "/projects/" + url.PathEscape(repo) }

// gitlabError is a response outside 2xx.
type gitlabError struct {
	status  int
	message string
}

func (e *gitlabError) Error() string {
	if e.message == "" {
		return fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))
	}
	return fmt.Sprintf("%d %s: %s", e.status, http.StatusText(e.status), e.message)
}

// do sends a request to the API (path below /api/v4, already escaped) with
// in as its JSON body, decodes a 2xx JSON answer into out and returns the
// answer's header.
func (g *GitLab) do(ctx context.Context, method, path string, query url.Values, in, out any) (http.Header, error) {
	u := g.api + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if g.token != "" {
		req.Header.Set("PRIVATE-TOKEN", g.token)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp.Header, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, &gitlabError{status: resp.StatusCode, message: gitlabMessage(data)}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("decoding the answer: %w", err)
		}
	}
	return resp.Header, nil
}

// gitlabMessage is the message of an error answer: {"message": …} (a
// string, or an object of field errors) or {"error": …}, else the body.
func gitlabMessage(data []byte) string {
	var e struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		var s string
		switch {
		case len(e.Message) > 0 && json.Unmarshal(e.Message, &s) == nil:
			return s
		case len(e.Message) > 0:
			return string(e.Message)
		case e.Error != "":
			return e.Error
		}
	}
	return clipRunes(strings.TrimSpace(string(data)), 200)
}

// wrapGitLab says what was asked; a 404 becomes ErrNotFound. nil stays nil.
func wrapGitLab(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	var e *gitlabError
	if errors.As(err, &e) && e.status == http.StatusNotFound {
		return fmt.Errorf("gitlab: %s: %w (%s)", what, ErrNotFound, e.message)
	}
	return fmt.Errorf("gitlab: %s: %w", what, err)
}
