package webhooks

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// CODING's forge (code hosting) webhooks are GitHub-like, but the field
// names have varied between CODING's webhook versions and documentation
// pages. These structs read every plausible spelling of the fields Slipway
// uses and take the first one that is set. Numbers are json.Number so that
// a number sent as a string ("12") is read too.

type codingUser struct {
	Login     string `json:"login"`
	Username  string `json:"username"`
	GlobalKey string `json:"global_key"`
	Name      string `json:"name"`
}

func (u *codingUser) handle() string {
	if u == nil {
		return ""
	}
	return firstOf(u.Login, u.Username, u.GlobalKey, u.Name)
}

type codingRepo struct {
	Name     string      `json:"name"`
	FullName string      `json:"full_name"`
	HTMLURL  string      `json:"html_url"`
	WebURL   string      `json:"web_url"`
	CloneURL string      `json:"clone_url"`
	HTTPSURL string      `json:"https_url"`
	GitURL   string      `json:"git_http_url"`
	Owner    *codingUser `json:"owner"`
	Project  *struct {
		Name string `json:"name"`
	} `json:"project"`
}

// fullName is full_name, else the path of the clone URL
// ("https://e.coding.net/<team>/<project>/<repo>.git" gives
// "<team>/<project>/<repo>", as CODING spells full_name), else
// "<project>/<name>" or "<owner>/<name>".
func (r codingRepo) fullName() string {
	if r.FullName != "" {
		return r.FullName
	}
	if u, err := url.Parse(r.cloneURL()); err == nil && u.Host != "" {
		path := strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
		if strings.Contains(path, "/") {
			return path
		}
	}
	if r.Name == "" {
		return ""
	}
	if r.Project != nil && r.Project.Name != "" {
		return r.Project.Name + "/" + r.Name
	}
	if owner := r.Owner.handle(); owner != "" {
		return owner + "/" + r.Name
	}
	return r.Name
}

func (r codingRepo) cloneURL() string { return firstOf(r.CloneURL, r.HTTPSURL, r.GitURL) }

type codingMergeRequest struct {
	Number         json.Number `json:"number"`
	IID            json.Number `json:"iid"`
	Title          string      `json:"title"`
	Status         string      `json:"status"`
	State          string      `json:"state"`
	Merged         bool        `json:"merged"`
	HTMLURL        string      `json:"html_url"`
	WebURL         string      `json:"web_url"`
	SourceBranch   string      `json:"source_branch"`
	TargetBranch   string      `json:"target_branch"`
	SourceSHA      string      `json:"source_sha"`
	MergeCommitSHA string      `json:"merge_commit_sha"`
	Head           struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
	User   *codingUser `json:"user"`
	Author *codingUser `json:"author"`
}

func (m *codingMergeRequest) number() int { return positiveInt(m.Number, m.IID) }

type codingPayload struct {
	Action     string     `json:"action"`
	Repository codingRepo `json:"repository"`
	Sender     codingUser `json:"sender"`
	User       codingUser `json:"user"`
	// merge request and note events
	MergeRequest      *codingMergeRequest `json:"merge_request"`
	MergeRequestCamel *codingMergeRequest `json:"mergeRequest"`
}

func (p *codingPayload) mergeRequest() *codingMergeRequest {
	if p.MergeRequest != nil {
		return p.MergeRequest
	}
	return p.MergeRequestCamel
}

func (p *codingPayload) sender() string { return firstOf(p.Sender.handle(), p.User.handle()) }

func parseCodingPush(o Origin, body []byte) ([]Event, error) {
	const what = "coding push"
	var p struct {
		codingPayload
		Ref     string     `json:"ref"`
		Before  string     `json:"before"`
		After   string     `json:"after"`
		Commits []ghCommit `json:"commits"`
		Pusher  codingUser `json:"pusher"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	repo := p.Repository.fullName()
	if err := require(what, "ref", p.Ref, "after", p.After, "repository.full_name", repo); err != nil {
		return nil, err
	}
	var paths [][]string
	for _, c := range p.Commits {
		paths = append(paths, c.Added, c.Modified, c.Removed)
	}
	branch, _ := strings.CutPrefix(p.Ref, "refs/heads/")
	if branch == p.Ref {
		branch = ""
	}
	return []Event{GitPushed{
		Origin:  o,
		RepoURL: p.Repository.cloneURL(),
		Repo:    repo,
		Ref:     p.Ref,
		Branch:  branch,
		Before:  p.Before,
		After:   p.After,
		Paths:   uniqueSorted(paths...),
		Pusher:  firstOf(p.sender(), p.Pusher.handle()),
	}}, nil
}

// codingActions maps CODING's merge request actions (lower-cased) onto
// GitHub's words; "merge" also sets Merged.
var codingActions = map[string]string{
	"open":        ActionOpened,
	"opened":      ActionOpened,
	"create":      ActionOpened,
	"created":     ActionOpened,
	"update":      ActionSynchronize,
	"updated":     ActionSynchronize,
	"synchronize": ActionSynchronize,
	"push":        ActionSynchronize,
	"merge":       ActionClosed,
	"merged":      ActionClosed,
	"close":       ActionClosed,
	"closed":      ActionClosed,
	"refuse":      ActionClosed,
	"refused":     ActionClosed,
	"cancel":      ActionClosed,
	"reopen":      ActionReopened,
	"reopened":    ActionReopened,
	"edit":        ActionEdited,
	"edited":      ActionEdited,
}

// codingStatuses gives the action of a merge request event without one,
// from the request's status (CODING's own words or GitHub-like states).
var codingStatuses = map[string]string{
	"canmerge":    ActionSynchronize,
	"cannotmerge": ActionSynchronize,
	"open":        ActionSynchronize,
	"opened":      ActionSynchronize,
	"accepted":    "merge",
	"merged":      "merge",
	"refused":     ActionClosed,
	"cancel":      ActionClosed,
	"canceled":    ActionClosed,
	"closed":      ActionClosed,
}

func parseCodingMergeRequest(o Origin, body []byte) ([]Event, error) {
	const what = "coding merge request"
	var p codingPayload
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	mr := p.mergeRequest()
	if mr == nil {
		return nil, badRequest("%s payload: missing required field merge_request", what)
	}
	number := mr.number()
	if number <= 0 {
		return nil, badRequest("%s payload: missing required field merge_request.number", what)
	}
	status := strings.ToLower(firstOf(mr.Status, mr.State))
	raw := strings.ToLower(p.Action)
	if raw == "" {
		raw = codingStatuses[status]
	}
	headSHA := firstOf(mr.Head.SHA, mr.SourceSHA, mr.MergeCommitSHA)
	baseRef := firstOf(mr.Base.Ref, mr.TargetBranch)
	repo := p.Repository.fullName()
	if err := require(what, "action", raw, "repository.full_name", repo,
		"merge_request.head.sha", headSHA, "merge_request.target_branch", baseRef); err != nil {
		return nil, err
	}
	action, ok := codingActions[raw]
	if !ok {
		action = p.Action // passed through as CODING spells it
	}
	merged := mr.Merged || raw == "merge" || raw == "merged" || status == "merged" || status == "accepted"
	return []Event{PullRequestEvent{
		Origin:  o,
		Action:  action,
		Repo:    repo,
		Number:  number,
		HeadSHA: headSHA,
		HeadRef: firstOf(mr.Head.Ref, mr.SourceBranch),
		BaseRef: baseRef,
		Title:   mr.Title,
		Author:  firstOf(mr.User.handle(), mr.Author.handle()),
		Sender:  p.sender(),
		URL:     firstOf(mr.HTMLURL, mr.WebURL),
		Merged:  merged && action == ActionClosed,
	}}, nil
}

type codingComment struct {
	ID      json.Number `json:"id"`
	Body    string      `json:"body"`
	Content string      `json:"content"`
	HTMLURL string      `json:"html_url"`
	WebURL  string      `json:"web_url"`
	User    *codingUser `json:"user"`
	Author  *codingUser `json:"author"`
}

// codingCommentActions maps a note's action onto CommentEvent's words.
var codingCommentActions = map[string]string{
	"":        "created", // CODING sends note events when a note is created
	"create":  "created",
	"created": "created",
	"update":  "edited",
	"updated": "edited",
	"edit":    "edited",
	"edited":  "edited",
	"delete":  "deleted",
	"deleted": "deleted",
}

func parseCodingNote(o Origin, body []byte) ([]Event, error) {
	const what = "coding note"
	var p struct {
		codingPayload
		Comment *codingComment `json:"comment"`
		Note    *codingComment `json:"note"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	c := p.Comment
	if c == nil {
		c = p.Note
	}
	if c == nil {
		return nil, badRequest("%s payload: missing required field comment", what)
	}
	mr := p.mergeRequest()
	if mr == nil {
		return nil, ignore("coding note not on a merge request")
	}
	number := mr.number()
	if number <= 0 {
		return nil, badRequest("%s payload: missing required field merge_request.number", what)
	}
	id, err := c.ID.Int64()
	if err != nil || id <= 0 {
		return nil, badRequest("%s payload: missing required field comment.id", what)
	}
	author := firstOf(c.User.handle(), c.Author.handle(), p.sender())
	repo := p.Repository.fullName()
	if err := require(what, "repository.full_name", repo, "comment.user.login", author); err != nil {
		return nil, err
	}
	action, ok := codingCommentActions[strings.ToLower(p.Action)]
	if !ok {
		action = p.Action
	}
	return []Event{CommentEvent{
		Origin:        o,
		Action:        action,
		Repo:          repo,
		Number:        number,
		IsPullRequest: true,
		CommentID:     id,
		Body:          firstOf(c.Body, c.Content),
		Author:        author,
		URL:           firstOf(c.HTMLURL, c.WebURL),
	}}, nil
}

// positiveInt is the first of ns that is a positive integer that fits an
// int32, else 0.
func positiveInt(ns ...json.Number) int {
	for _, n := range ns {
		if v, err := strconv.ParseInt(string(n), 10, 32); err == nil && v > 0 {
			return int(v)
		}
	}
	return 0
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
