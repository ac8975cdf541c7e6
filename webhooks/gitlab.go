package webhooks

import "strings"

type glProject struct {
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
	WebURL            string `json:"web_url"`
}

type glUser struct {
	Username string `json:"username"`
}

// parseGitLab translates GitLab deliveries; event is X-Gitlab-Event.
func parseGitLab(o Origin, event string, body []byte) ([]Event, error) {
	switch event {
	case "Push Hook", "Tag Push Hook":
		return parseGLPush(o, body)
	case "Merge Request Hook":
		return parseGLMergeRequest(o, body)
	case "Note Hook":
		return parseGLNote(o, body)
	case "":
		return nil, badRequest("missing X-Gitlab-Event header")
	}
	return nil, ignore("gitlab event %q is not one Slipway acts on", event)
}

func parseGLPush(o Origin, body []byte) ([]Event, error) {
	const what = "gitlab push"
	var p struct {
		Ref          string    `json:"ref"`
		Before       string    `json:"before"`
		After        string    `json:"after"`
		UserUsername string    `json:"user_username"`
		Project      glProject `json:"project"`
		Commits      []struct {
			Added    []string `json:"added"`
			Modified []string `json:"modified"`
			Removed  []string `json:"removed"`
		} `json:"commits"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	if err := require(what, "ref", p.Ref, "after", p.After, "project.path_with_namespace", p.Project.PathWithNamespace); err != nil {
		return nil, err
	}
	var paths [][]string
	for _, c := range p.Commits {
		paths = append(paths, c.Added, c.Modified, c.Removed)
	}
	branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
	if !ok {
		branch = ""
	}
	return []Event{GitPushed{
		Origin:  o,
		RepoURL: p.Project.GitHTTPURL,
		Repo:    p.Project.PathWithNamespace,
		Ref:     p.Ref,
		Branch:  branch,
		Before:  p.Before,
		After:   p.After,
		Paths:   uniqueSorted(paths...),
		Pusher:  p.UserUsername,
	}}, nil
}

// glActions maps GitLab merge request actions onto GitHub's words.
var glActions = map[string]string{
	"open":   ActionOpened,
	"close":  ActionClosed,
	"reopen": ActionReopened,
	"merge":  ActionClosed,
}

func parseGLMergeRequest(o Origin, body []byte) ([]Event, error) {
	const what = "gitlab merge request"
	var p struct {
		User             glUser    `json:"user"`
		Project          glProject `json:"project"`
		ObjectAttributes struct {
			IID          int    `json:"iid"`
			Action       string `json:"action"`
			State        string `json:"state"`
			Title        string `json:"title"`
			SourceBranch string `json:"source_branch"`
			TargetBranch string `json:"target_branch"`
			URL          string `json:"url"`
			OldRev       string `json:"oldrev"`
			LastCommit   struct {
				ID string `json:"id"`
			} `json:"last_commit"`
		} `json:"object_attributes"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	a := p.ObjectAttributes
	if a.IID <= 0 {
		return nil, badRequest("%s payload: missing required field object_attributes.iid", what)
	}
	if err := require(what, "project.path_with_namespace", p.Project.PathWithNamespace,
		"object_attributes.last_commit.id", a.LastCommit.ID, "object_attributes.target_branch", a.TargetBranch); err != nil {
		return nil, err
	}
	action, ok := glActions[a.Action]
	switch {
	case ok:
	case a.Action == "update" && a.OldRev != "":
		action = ActionSynchronize
	case a.Action == "update":
		action = ActionEdited
	default:
		action = a.Action
	}
	return []Event{PullRequestEvent{
		Origin:  o,
		Action:  action,
		Repo:    p.Project.PathWithNamespace,
		Number:  a.IID,
		HeadSHA: a.LastCommit.ID,
		HeadRef: a.SourceBranch,
		BaseRef: a.TargetBranch,
		Title:   a.Title,
		Sender:  p.User.Username,
		URL:     a.URL,
		Merged:  a.Action == "merge" || a.State == "merged",
	}}, nil
}

func parseGLNote(o Origin, body []byte) ([]Event, error) {
	const what = "gitlab note"
	var p struct {
		User             glUser    `json:"user"`
		Project          glProject `json:"project"`
		ObjectAttributes struct {
			ID           int64  `json:"id"`
			Note         string `json:"note"`
			NoteableType string `json:"noteable_type"`
			URL          string `json:"url"`
			Action       string `json:"action"`
		} `json:"object_attributes"`
		MergeRequest *struct {
			IID int `json:"iid"`
		} `json:"merge_request"`
		Issue *struct {
			IID int `json:"iid"`
		} `json:"issue"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	a := p.ObjectAttributes
	var number int
	switch a.NoteableType {
	case "MergeRequest":
		if p.MergeRequest != nil {
			number = p.MergeRequest.IID
		}
	case "Issue":
		if p.Issue != nil {
			number = p.Issue.IID
		}
	default:
		return nil, ignore("gitlab note on a %q", a.NoteableType)
	}
	if number <= 0 {
		return nil, badRequest("%s payload: missing %s iid", what, a.NoteableType)
	}
	if a.ID <= 0 {
		return nil, badRequest("%s payload: missing required field object_attributes.id", what)
	}
	if err := require(what, "project.path_with_namespace", p.Project.PathWithNamespace, "user.username", p.User.Username); err != nil {
		return nil, err
	}
	action := "created"
	if a.Action == "update" {
		action = ActionEdited
	}
	return []Event{CommentEvent{
		Origin:        o,
		Action:        action,
		Repo:          p.Project.PathWithNamespace,
		Number:        number,
		IsPullRequest: a.NoteableType == "MergeRequest",
		CommentID:     a.ID,
		Body:          a.Note,
		Author:        p.User.Username,
		URL:           a.URL,
	}}, nil
}
