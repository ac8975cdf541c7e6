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
	"sync"
	"time"
)

// CODING (Tencent's DevOps platform, coding.net) through its open API:
// every call is POST <base>/open-api?Action=<Action> with a JSON body that
// repeats "Action", authorised by "Authorization: token <token>", and
// answered {"Response": {…, "RequestId": …}} or {"Response": {"Error":
// {"Code": …, "Message": …}}}, usually with HTTP 200 either way.
//
// The actions used, as CODING's open API reference names them:
//
//   - ModifyGitCommitStatus (Git提交-修改提交对应的流水线状态): commit
//     statuses, by DepotPath.
//   - DescribeSingeMergeRequestNotes (合并请求-获取单个合并请求行评论和改动文件diff行评论,
//     "Singe" is CODING's spelling): a merge request's comments.
//   - CreateMergeRequestNote (合并请求-创建合并请求行评论和改动文件diff行评论):
//     a comment; without the diff-position Form it is a general comment.
//   - DescribeDepotByNameInfo: a depot's id and project id, from the team,
//     project and depot names.
//   - DescribeProjectMembers (项目成员列表查询): members and their roles.
//   - DescribeDepotMergeRequests (合并请求-查询仓库合并请求列表),
//     CreateGitMergeReq (合并请求-创建git合并请求) and ModifyGitMergeRequest
//     (合并请求-修改合并请求的标题和描述信息): merge requests.
//
// The reference has no action to edit a merge request comment (only
// Create, Delete and Describe…MergeRequestNote[s]) and none for reactions:
// EditComment and React return ErrUnsupported.

// codingMaxComment is the largest comment Slipway posts on CODING. CODING
// documents no limit for merge request comments; this is a conservative
// 64 KiB.
const codingMaxComment = 65535

// codingStates maps Slipway's states to ModifyGitCommitStatus's State.
// CODING's reference shows COMMIT_STATE_ERROR (in its examples of
// ModifyGitCommitStatus and DescribeGitCommitStatus) and no list of the
// others; they are taken to follow the same pattern as GitHub's states.
var codingStates = map[State]string{
	StatePending: "COMMIT_STATE_PENDING",
	StateSuccess: "COMMIT_STATE_SUCCESS",
	StateFailure: "COMMIT_STATE_FAILURE",
	StateError:   "COMMIT_STATE_ERROR",
}

// Coding is the Forge of CODING. Its repositories ("depots") are
// "team/project/depot"; "project/depot" is accepted when the base URL names
// the team (https://<team>.coding.net). Its pull requests are merge
// requests, numbered by their MergeId.
type Coding struct {
	endpoint string // https://<team>.coding.net/open-api
	team     string // from the base URL's host, if it names one
	token    string
	http     *http.Client

	mu     sync.Mutex
	depots map[string]codingDepot // by DepotPath
}

var _ Forge = (*Coding)(nil)

// NewCoding returns the CODING forge. baseURL is the team's
// https://<team>.coding.net (or https://e.coding.net, with the team in
// every repository name; a trailing /open-api is accepted). token is a
// personal access token (or project token) with the scopes of the actions
// above. client is the HTTP client to use (nil: one with a 30 s timeout).
func NewCoding(baseURL, token string, client *http.Client) (*Coding, error) {
	base := strings.TrimSuffix(strings.TrimRight(baseURL, "/"), "/open-api")
	if base == "" {
		base = "https://e.coding.net"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("coding: base URL %q: want https://<team>.coding.net", baseURL)
	}
	team := ""
	if t, rest, ok := strings.Cut(u.Hostname(), "."); ok && t != "e" && rest == "coding.net" {
		team = t
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Coding{endpoint: base + "/open-api", team: team, token: token, http: client, depots: map[string]codingDepot{}}, nil
}

// Name implements Forge.
func (*Coding) Name() string { return "coding" }

// MaxCommentSize implements Forge.
func (*Coding) MaxCommentSize() int { return codingMaxComment }

// depotPath is "team/project/depot" of repo.
func (c *Coding) depotPath(repo string) (string, error) {
	parts := strings.Split(repo, "/")
	for _, p := range parts {
		if p == "" {
			parts = nil
		}
	}
	switch {
	case len(parts) == 3:
		return repo, nil
	case len(parts) == 2 && c.team != "":
		return c.team + "/" + repo, nil
	}
	return "", fmt.Errorf("coding: repository %q: want team/project/depot (or project/depot with a https://<team>.coding.net base URL)", repo)
}

// SetStatus implements Forge (ModifyGitCommitStatus).
func (c *Coding) SetStatus(ctx context.Context, repo string, s Status) error {
	path, err := c.depotPath(repo)
	if err != nil {
		return err
	}
	state, ok := codingStates[s.State]
	if !ok {
		return fmt.Errorf("coding: status %q of %s@%s: unknown state %q", s.Context, repo, s.SHA, s.State)
	}
	req := map[string]any{
		"DepotPath":   path,
		"CommitSha":   s.SHA,
		"Context":     s.Context,
		"State":       state,
		"Description": s.Description,
		"TargetURL":   s.TargetURL,
	}
	return wrapCoding(c.call(ctx, "ModifyGitCommitStatus", req, nil), "status %q of %s@%s", s.Context, repo, s.SHA)
}

type codingNote struct {
	ID        int64  `json:"Id"`
	ParentID  int64  `json:"ParentId"`
	Content   string `json:"Content"`
	CreatedAt int64  `json:"CreatedAt"`
	Author    struct {
		GlobalKey string `json:"GlobalKey"`
		Name      string `json:"Name"`
	} `json:"Author"`
}

func (n codingNote) comment() Comment {
	author := n.Author.GlobalKey
	if author == "" {
		author = n.Author.Name
	}
	return Comment{ID: n.ID, Body: n.Content, Author: author}
}

// Comments implements Forge (DescribeSingeMergeRequestNotes): the merge
// request's comments, line comments included, oldest first. CODING gives
// no link to a comment.
func (c *Coding) Comments(ctx context.Context, repo string, number int) ([]Comment, error) {
	path, err := c.depotPath(repo)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Notes []struct {
			Note []codingNote `json:"Note"`
		} `json:"Notes"`
	}
	req := map[string]any{"DepotPath": path, "MergeId": number}
	if err := c.call(ctx, "DescribeSingeMergeRequestNotes", req, &resp); err != nil {
		return nil, wrapCoding(err, "comments of %s!%d", repo, number)
	}
	var notes []codingNote
	for _, l := range resp.Notes {
		notes = append(notes, l.Note...)
	}
	sort.SliceStable(notes, func(i, j int) bool {
		if notes[i].CreatedAt != notes[j].CreatedAt {
			return notes[i].CreatedAt < notes[j].CreatedAt
		}
		return notes[i].ID < notes[j].ID
	})
	out := make([]Comment, 0, len(notes))
	for _, n := range notes {
		out = append(out, n.comment())
	}
	return out, nil
}

// Comment implements Forge (CreateMergeRequestNote, without a diff position).
func (c *Coding) Comment(ctx context.Context, repo string, number int, body string) (Comment, error) {
	path, err := c.depotPath(repo)
	if err != nil {
		return Comment{}, err
	}
	var resp struct {
		Note codingNote `json:"Note"`
	}
	req := map[string]any{"DepotPath": path, "MergeId": number, "ParentId": 0, "Content": body}
	if err := c.call(ctx, "CreateMergeRequestNote", req, &resp); err != nil {
		return Comment{}, wrapCoding(err, "comment on %s!%d", repo, number)
	}
	return resp.Note.comment(), nil
}

// EditComment implements Forge: CODING's open API has no action that edits
// a merge request comment (CreateMergeRequestNote, DeleteMergeRequestNote,
// DescribeAllMergeRequestNotes and DescribeSingeMergeRequestNotes only).
func (c *Coding) EditComment(context.Context, string, int, int64, string) error {
	return fmt.Errorf("coding: editing a merge request comment: %w", ErrUnsupported)
}

// React implements Forge: CODING's open API has no reactions.
func (c *Coding) React(context.Context, string, int, int64, string) error {
	return fmt.Errorf("coding: reactions: %w", ErrUnsupported)
}

// codingDepot is what DescribeDepotByNameInfo says of a depot.
type codingDepot struct {
	ID        int64  `json:"Id"`
	ProjectID int64  `json:"ProjectId"`
	Name      string `json:"Name"`
	WebURL    string `json:"WebUrl"`
}

// depot looks a depot up once (DescribeDepotByNameInfo).
func (c *Coding) depot(ctx context.Context, repo string) (codingDepot, error) {
	path, err := c.depotPath(repo)
	if err != nil {
		return codingDepot{}, err
	}
	c.mu.Lock()
	d, ok := c.depots[path]
	c.mu.Unlock()
	if ok {
		return d, nil
	}
	parts := strings.Split(path, "/")
	var resp struct {
		Depot *codingDepot `json:"Depot"`
	}
	req := map[string]any{"TeamGk": parts[0], "ProjectName": parts[1], "DepotName": parts[2]}
	if err := c.call(ctx, "DescribeDepotByNameInfo", req, &resp); err != nil {
		return codingDepot{}, wrapCoding(err, "depot %s", path)
	}
	if resp.Depot == nil || resp.Depot.ID == 0 {
		return codingDepot{}, fmt.Errorf("coding: depot %s: %w", path, ErrNotFound)
	}
	c.mu.Lock()
	c.depots[path] = *resp.Depot
	c.mu.Unlock()
	return *resp.Depot, nil
}

// Permission implements Forge (DescribeProjectMembers of the depot's
// project): a member is matched by global key (or name); project owners
// and admins (RoleType ProjectOwner, ProjectAdmin) are admin, developers
// (ProjectMember) are write, any other role is read, and someone who is not
// a member has none.
func (c *Coding) Permission(ctx context.Context, repo, user string) (Permission, error) {
	d, err := c.depot(ctx, repo)
	if err != nil {
		return PermissionNone, err
	}
	const size = 100
	for page := 1; ; page++ {
		var resp struct {
			Data struct {
				ProjectMembers []struct {
					GlobalKey string `json:"GlobalKey"`
					Name      string `json:"Name"`
					Roles     []struct {
						RoleType string `json:"RoleType"`
					} `json:"Roles"`
				} `json:"ProjectMembers"`
				TotalCount int `json:"TotalCount"`
			} `json:"Data"`
		}
		req := map[string]any{"ProjectId": d.ProjectID, "PageNumber": page, "PageSize": size}
		if err := c.call(ctx, "DescribeProjectMembers", req, &resp); err != nil {
			return PermissionNone, wrapCoding(err, "members of %s", repo)
		}
		for _, m := range resp.Data.ProjectMembers {
			if !strings.EqualFold(m.GlobalKey, user) && !(m.GlobalKey == "" && m.Name == user) {
				continue
			}
			best := PermissionRead
			for _, r := range m.Roles {
				if p := codingRole(r.RoleType); p.AtLeast(best) {
					best = p
				}
			}
			return best, nil
		}
		if len(resp.Data.ProjectMembers) < size || page*size >= resp.Data.TotalCount {
			return PermissionNone, nil
		}
	}
}

func codingRole(roleType string) Permission {
	switch {
	case strings.Contains(roleType, "Owner"), strings.Contains(roleType, "Admin"):
		return PermissionAdmin
	case roleType == "ProjectMember":
		return PermissionWrite
	}
	return PermissionRead
}

// EnsurePullRequest implements Forge with merge requests: the open one
// from pr.Head to pr.Base (DescribeDepotMergeRequests) gets pr's title and
// description (ModifyGitMergeRequest; CODING's list does not carry the
// description, so it is always set), or one is created (CreateGitMergeReq).
// CODING's list gives no head commit: HeadSHA stays empty.
func (c *Coding) EnsurePullRequest(ctx context.Context, repo string, pr PullRequest) (PullRequest, error) {
	if pr.Head == "" || pr.Base == "" {
		return PullRequest{}, fmt.Errorf("coding: merge request on %s: source and target branches are required", repo)
	}
	d, err := c.depot(ctx, repo)
	if err != nil {
		return PullRequest{}, err
	}
	var list struct {
		Data struct {
			List []struct {
				MergeID   int    `json:"MergeId"`
				Title     string `json:"Title"`
				SrcBranch string `json:"SrcBranch"`
				DesBranch string `json:"DesBranch"`
			} `json:"List"`
		} `json:"Data"`
	}
	req := map[string]any{
		"DepotId": d.ID, "Status": "OPEN", "SourceBranches": []string{pr.Head}, "TargetBranches": []string{pr.Base},
		"PageNumber": 1, "PageSize": 10,
	}
	if err := c.call(ctx, "DescribeDepotMergeRequests", req, &list); err != nil {
		return PullRequest{}, wrapCoding(err, "merge requests %s→%s of %s", pr.Head, pr.Base, repo)
	}
	out := PullRequest{Title: pr.Title, Body: pr.Body, Head: pr.Head, Base: pr.Base, State: "open"}
	for _, m := range list.Data.List {
		if m.SrcBranch != pr.Head || m.DesBranch != pr.Base {
			continue
		}
		req := map[string]any{"DepotId": d.ID, "MergeId": m.MergeID, "Title": pr.Title, "Content": pr.Body}
		if err := c.call(ctx, "ModifyGitMergeRequest", req, nil); err != nil {
			return PullRequest{}, wrapCoding(err, "edit of %s!%d", repo, m.MergeID)
		}
		out.Number, out.URL = m.MergeID, codingMergeURL(d, m.MergeID)
		return out, nil
	}
	var created struct {
		MergeInfo struct {
			MergeRequestID int `json:"MergeRequestId"`
		} `json:"MergeInfo"`
	}
	req = map[string]any{"DepotId": d.ID, "SrcBranch": pr.Head, "DestBranch": pr.Base, "Title": pr.Title, "Content": pr.Body}
	if err := c.call(ctx, "CreateGitMergeReq", req, &created); err != nil {
		return PullRequest{}, wrapCoding(err, "merge request %s→%s of %s", pr.Head, pr.Base, repo)
	}
	out.Number = created.MergeInfo.MergeRequestID
	out.URL = codingMergeURL(d, out.Number)
	return out, nil
}

// codingMergeURL is a merge request's page: the depot's page + /git/merge/<id>.
func codingMergeURL(d codingDepot, id int) string {
	if d.WebURL == "" || id == 0 {
		return ""
	}
	return strings.TrimRight(d.WebURL, "/") + "/git/merge/" + strconv.Itoa(id)
}

// codingError is an answer with Response.Error, or outside 2xx.
type codingError struct {
	status  int
	code    string
	message string
}

func (e *codingError) Error() string {
	s := e.code
	if s == "" {
		s = fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// notFound: HTTP 404, or an error code that says so.
func (e *codingError) notFound() bool {
	code := strings.ToLower(strings.ReplaceAll(e.code, "_", ""))
	return e.status == http.StatusNotFound || strings.Contains(code, "notfound") || strings.Contains(code, "notexist")
}

// call runs an action: req (a JSON object) gets "Action", and the
// answer's Response is decoded into out.
func (c *Coding) call(ctx context.Context, action string, req map[string]any, out any) error {
	body := make(map[string]any, len(req)+1)
	for k, v := range req {
		body[k] = v
	}
	body["Action"] = action
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"?Action="+url.QueryEscape(action), bytes.NewReader(b))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	if c.token != "" {
		r.Header.Set("Authorization", "token "+c.token)
	}
	resp, err := c.http.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	var env struct {
		Response json.RawMessage `json:"Response"`
	}
	var e struct {
		Error *struct {
			Code    string `json:"Code"`
			Message string `json:"Message"`
		} `json:"Error"`
	}
	decodeErr := json.Unmarshal(data, &env)
	if decodeErr == nil && len(env.Response) > 0 {
		_ = json.Unmarshal(env.Response, &e)
	}
	switch {
	case e.Error != nil:
		return &codingError{status: resp.StatusCode, code: e.Error.Code, message: e.Error.Message}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return &codingError{status: resp.StatusCode, message: clipRunes(strings.TrimSpace(string(data)), 200)}
	case decodeErr != nil || len(env.Response) == 0:
		return fmt.Errorf("%s: no Response in the answer: %s", action, clipRunes(strings.TrimSpace(string(data)), 200))
	}
	if out != nil {
		if err := json.Unmarshal(env.Response, out); err != nil {
			return fmt.Errorf("%s: decoding the answer: %w", action, err)
		}
	}
	return nil
}

// wrapCoding says what was asked; not-found errors become ErrNotFound.
func wrapCoding(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	var e *codingError
	if errors.As(err, &e) && e.notFound() {
		return fmt.Errorf("coding: %s: %w (%s)", what, ErrNotFound, e)
	}
	return fmt.Errorf("coding: %s: %w", what, err)
}
