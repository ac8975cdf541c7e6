package webhooks

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// GitHub and Gitea send the same payload shapes for the events Slipway
// reads; these structs hold only the fields we read, so a provider adding or
// changing other fields never breaks decoding.

type ghUser struct {
	Login    string `json:"login"`
	Username string `json:"username"` // Gitea
	Name     string `json:"name"`     // GitHub push "pusher"
}

func (u ghUser) handle() string {
	switch {
	case u.Login != "":
		return u.Login
	case u.Username != "":
		return u.Username
	}
	return u.Name
}

type ghRepo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	HTMLURL  string `json:"html_url"`
}

type ghCommit struct {
	Added    []string `json:"added"`
	Removed  []string `json:"removed"`
	Modified []string `json:"modified"`
}

type ghPush struct {
	Ref        string     `json:"ref"`
	Before     string     `json:"before"`
	After      string     `json:"after"`
	Repository ghRepo     `json:"repository"`
	Commits    []ghCommit `json:"commits"`
	Pusher     ghUser     `json:"pusher"`
	Sender     ghUser     `json:"sender"`
}

type ghPullRequest struct {
	Number  int    `json:"number"`
	Title   string `json:"title"`
	HTMLURL string `json:"html_url"`
	Merged  bool   `json:"merged"`
	User    ghUser `json:"user"`
	Head    struct {
		SHA string `json:"sha"`
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

type ghPullRequestPayload struct {
	Action      string        `json:"action"`
	Number      int           `json:"number"`
	PullRequest ghPullRequest `json:"pull_request"`
	Repository  ghRepo        `json:"repository"`
	Sender      ghUser        `json:"sender"`
}

type ghCommentPayload struct {
	Action string `json:"action"`
	IsPull *bool  `json:"is_pull"` // Gitea
	Issue  struct {
		Number      int             `json:"number"`
		PullRequest *map[string]any `json:"pull_request"`
	} `json:"issue"`
	Comment struct {
		ID      int64  `json:"id"`
		Body    string `json:"body"`
		HTMLURL string `json:"html_url"`
		User    ghUser `json:"user"`
	} `json:"comment"`
	Repository ghRepo `json:"repository"`
}

// parseGitHub translates GitHub deliveries; event is X-GitHub-Event.
func parseGitHub(o Origin, event string, body []byte) ([]Event, error) {
	switch event {
	case "push":
		return parseGHPush(o, "github push", body)
	case "pull_request":
		return parseGHPullRequest(o, "github pull_request", body)
	case "issue_comment":
		return parseGHComment(o, "github issue_comment", body)
	case "package", "registry_package":
		return parseGHCR(o, event, body)
	case "ping":
		var p struct {
			Zen    string `json:"zen"`
			HookID int64  `json:"hook_id"`
		}
		if err := decodeJSON("github ping", body, &p); err != nil {
			return nil, err
		}
		return []Event{Ping{Origin: o}}, nil
	case "":
		return nil, badRequest("missing X-GitHub-Event header")
	}
	return nil, ignore("github event %q is not one Slipway acts on", event)
}

// parseGitea translates Gitea deliveries; event is X-Gitea-Event.
func parseGitea(o Origin, event string, body []byte) ([]Event, error) {
	switch event {
	case "push":
		return parseGHPush(o, "gitea push", body)
	case "pull_request":
		return parseGHPullRequest(o, "gitea pull_request", body)
	case "issue_comment", "pull_request_comment":
		return parseGHComment(o, "gitea "+event, body)
	case "":
		return nil, badRequest("missing X-Gitea-Event header")
	}
	return nil, ignore("gitea event %q is not one Slipway acts on", event)
}

func parseGHPush(o Origin, what string, body []byte) ([]Event, error) {
	var p ghPush
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	if err := require(what, "ref", p.Ref, "after", p.After, "repository.full_name", p.Repository.FullName); err != nil {
		return nil, err
	}
	var paths [][]string
	for _, c := range p.Commits {
		paths = append(paths, c.Added, c.Modified, c.Removed)
	}
	pusher := p.Sender.handle()
	if pusher == "" {
		pusher = p.Pusher.handle()
	}
	branch, _ := strings.CutPrefix(p.Ref, "refs/heads/")
	if branch == p.Ref {
		branch = ""
	}
	return []Event{GitPushed{
		Origin:  o,
		RepoURL: p.Repository.CloneURL,
		Repo:    p.Repository.FullName,
		Ref:     p.Ref,
		Branch:  branch,
		Before:  p.Before,
		After:   p.After,
		Paths:   uniqueSorted(paths...),
		Pusher:  pusher,
	}}, nil
}

func parseGHPullRequest(o Origin, what string, body []byte) ([]Event, error) {
	var p ghPullRequestPayload
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	pr := p.PullRequest
	number := pr.Number
	if number == 0 {
		number = p.Number
	}
	if number <= 0 {
		return nil, badRequest("%s payload: missing required field pull_request.number", what)
	}
	if err := require(what, "action", p.Action, "repository.full_name", p.Repository.FullName,
		"pull_request.head.sha", pr.Head.SHA, "pull_request.base.ref", pr.Base.Ref); err != nil {
		return nil, err
	}
	action := p.Action
	if action == "synchronized" { // Gitea
		action = ActionSynchronize
	}
	return []Event{PullRequestEvent{
		Origin:  o,
		Action:  action,
		Repo:    p.Repository.FullName,
		Number:  number,
		HeadSHA: pr.Head.SHA,
		HeadRef: pr.Head.Ref,
		BaseRef: pr.Base.Ref,
		Title:   pr.Title,
		Author:  pr.User.handle(),
		Sender:  p.Sender.handle(),
		URL:     pr.HTMLURL,
		Merged:  pr.Merged,
	}}, nil
}

func parseGHComment(o Origin, what string, body []byte) ([]Event, error) {
	var p ghCommentPayload
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	if p.Issue.Number <= 0 {
		return nil, badRequest("%s payload: missing required field issue.number", what)
	}
	if p.Comment.ID <= 0 {
		return nil, badRequest("%s payload: missing required field comment.id", what)
	}
	if err := require(what, "action", p.Action, "repository.full_name", p.Repository.FullName,
		"comment.user.login", p.Comment.User.handle()); err != nil {
		return nil, err
	}
	isPR := p.Issue.PullRequest != nil && *p.Issue.PullRequest != nil
	if p.IsPull != nil {
		isPR = *p.IsPull
	}
	return []Event{CommentEvent{
		Origin:        o,
		Action:        p.Action,
		Repo:          p.Repository.FullName,
		Number:        p.Issue.Number,
		IsPullRequest: isPR,
		CommentID:     p.Comment.ID,
		Body:          p.Comment.Body,
		Author:        p.Comment.User.handle(),
		URL:           p.Comment.HTMLURL,
	}}, nil
}

// ghPackage is the "package" / "registry_package" object of GitHub's
// package events; GHCR container pushes arrive as these.
type ghPackage struct {
	Name           string `json:"name"`
	Ecosystem      string `json:"ecosystem"`
	PackageType    string `json:"package_type"`
	Owner          ghUser `json:"owner"`
	PackageVersion struct {
		Version           string `json:"version"`
		PackageURL        string `json:"package_url"`
		CreatedAt         string `json:"created_at"`
		ContainerMetadata struct {
			Tag struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
			} `json:"tag"`
		} `json:"container_metadata"`
	} `json:"package_version"`
}

// parseGHCR translates GitHub "package" and "registry_package" events of
// container packages into ImagePushed. Non-container packages, untagged
// pushes and actions other than published/updated are ignored.
func parseGHCR(o Origin, event string, body []byte) ([]Event, error) {
	what := "github " + event
	var p struct {
		Action          string     `json:"action"`
		Package         *ghPackage `json:"package"`
		RegistryPackage *ghPackage `json:"registry_package"`
		Sender          ghUser     `json:"sender"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	pkg := p.Package
	if event == "registry_package" {
		pkg = p.RegistryPackage
	}
	if pkg == nil {
		return nil, badRequest("%s payload: missing required field %s", what, event)
	}
	if p.Action != "published" && p.Action != "updated" {
		return nil, ignore("%s action %q", what, p.Action)
	}
	if !isContainerPackage(pkg) {
		return nil, ignore("%s of a %s package, not a container", what, pkg.PackageType)
	}
	v := pkg.PackageVersion
	tag := v.ContainerMetadata.Tag.Name
	repo, urlTag := splitImageRef(v.PackageURL)
	if tag == "" {
		tag = urlTag
	}
	if tag == "" {
		return nil, ignore("%s: untagged container version", what)
	}
	host := "ghcr.io"
	if h, path, ok := strings.Cut(repo, "/"); ok && strings.ContainsAny(h, ".:") {
		host, repo = h, path
	}
	if repo == "" {
		repo = pkg.Owner.handle() + "/" + pkg.Name
	}
	if err := require(what, "package.name", pkg.Name, "package.owner.login", pkg.Owner.handle()); err != nil {
		return nil, err
	}
	digest := v.ContainerMetadata.Tag.Digest
	if digest == "" && isDigest(v.Version) {
		digest = v.Version
	}
	return []Event{ImagePushed{
		Origin:     o,
		Registry:   host,
		Repository: strings.ToLower(repo),
		Tag:        tag,
		Digest:     digest,
		PushedAt:   parseTime(v.CreatedAt),
		Pusher:     p.Sender.handle(),
	}}, nil
}

func isContainerPackage(p *ghPackage) bool {
	for _, s := range []string{p.PackageType, p.Ecosystem} {
		if strings.EqualFold(s, "container") || strings.EqualFold(s, "docker") {
			return true
		}
	}
	return false
}

// formPayload returns the "payload" form value of a form-encoded delivery
// (GitHub, Gitea and CODING can be set to send that), or body unchanged.
func formPayload(h http.Header, body []byte) ([]byte, error) {
	ct := strings.ToLower(h.Get("Content-Type"))
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return body, nil
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("malformed form body: %v", err)
	}
	if !q.Has("payload") {
		return nil, badRequest("form body without a payload field")
	}
	return []byte(q.Get("payload")), nil
}

// uniqueSorted merges string lists into one sorted list without duplicates
// or empty strings; nil when there are none.
func uniqueSorted(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}
