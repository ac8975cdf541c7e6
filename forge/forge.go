// Package forge is Slipway's outbound side towards Git forges: commit
// statuses on config repo commits, comments on pull requests and issues
// (posted once, then edited in place), reactions that acknowledge a
// chat-ops command, pull requests for image bumps, the permission a user
// has on a repository, and (GitHub) deployments. One small interface,
// Forge, with an implementation per forge: GitHub (and GitHub
// Enterprise), Gitea, GitLab and CODING.
package forge

import (
	"context"
	"errors"
)

// State is a commit status state.
type State string

// Commit status states, as GitHub names them; each forge maps them.
const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateFailure State = "failure"
	StateError   State = "error"
)

// Status is a commit status: one line on a commit, keyed by Context.
type Status struct {
	SHA         string
	Context     string // e.g. "slipway/plan", "slipway/sync"
	State       State
	Description string // one line; forges cut it at about 140 characters
	TargetURL   string
}

// Comment is a comment on an issue or pull request.
type Comment struct {
	ID     int64
	Body   string
	Author string
	URL    string
}

// PullRequest is a pull (merge) request.
type PullRequest struct {
	Number  int
	Title   string
	Body    string
	Head    string // branch
	Base    string // branch
	HeadSHA string
	URL     string
	State   string // open, closed, merged
}

// Permission is what a user may do in a repository, from least to most.
type Permission string

// Permissions, ordered.
const (
	PermissionNone  Permission = "none"
	PermissionRead  Permission = "read"
	PermissionWrite Permission = "write"
	PermissionAdmin Permission = "admin"
)

// AtLeast reports whether p grants at least q.
func (p Permission) AtLeast(q Permission) bool { return p.rank() >= q.rank() }

func (p Permission) rank() int {
	switch p {
	case PermissionRead:
		return 1
	case PermissionWrite:
		return 2
	case PermissionAdmin:
		return 3
	}
	return 0
}

// Reactions Slipway uses (GitHub's names; each forge maps them).
const (
	ReactionEyes     = "eyes"     // seen, working on it
	ReactionPlusOne  = "+1"       // done
	ReactionConfused = "confused" // refused or failed
	ReactionRocket   = "rocket"   // deployed
)

// ErrUnsupported is returned for what a forge cannot do (reactions on
// CODING, deployments outside GitHub); callers carry on without it.
var ErrUnsupported = errors.New("not supported by this forge")

// ErrNotFound is returned for a repository, pull request or comment that
// does not exist (or that the token cannot see).
var ErrNotFound = errors.New("not found")

// Forge is what Slipway asks of a forge. repo is always "owner/name".
type Forge interface {
	// Name is the forge's kind: github, gitea, gitlab or coding.
	Name() string
	// SetStatus sets a commit status.
	SetStatus(ctx context.Context, repo string, s Status) error
	// Comments lists the comments of an issue or pull request, oldest first.
	Comments(ctx context.Context, repo string, number int) ([]Comment, error)
	// Comment posts a comment on an issue or pull request.
	Comment(ctx context.Context, repo string, number int, body string) (Comment, error)
	// EditComment replaces a comment's body.
	EditComment(ctx context.Context, repo string, number int, id int64, body string) error
	// React adds a reaction to a comment (ErrUnsupported where the forge has none).
	React(ctx context.Context, repo string, number int, commentID int64, reaction string) error
	// Permission is the user's permission on the repository.
	Permission(ctx context.Context, repo, user string) (Permission, error)
	// EnsurePullRequest opens a pull request from pr.Head to pr.Base, or
	// updates the title and body of the open one between them.
	EnsurePullRequest(ctx context.Context, repo string, pr PullRequest) (PullRequest, error)
	// MaxCommentSize is the largest comment body the forge accepts, in bytes.
	MaxCommentSize() int
}

// Deployment is a GitHub deployment of a ref to an environment.
type Deployment struct {
	Ref         string
	Environment string
	Description string
}

// Deployer is implemented by forges with deployments (GitHub).
type Deployer interface {
	CreateDeployment(ctx context.Context, repo string, d Deployment) (id int64, err error)
	SetDeploymentStatus(ctx context.Context, repo string, id int64, state, logURL, description string) error
}
