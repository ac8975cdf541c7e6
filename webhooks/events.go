package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Kind names an event type; it is what a store records and what a consumer
// switches on without a type switch.
type Kind string

// The kinds of normalised events.
const (
	KindImagePushed Kind = "image_pushed"
	KindGitPushed   Kind = "git_pushed"
	KindPullRequest Kind = "pull_request"
	KindComment     Kind = "comment"
	KindPing        Kind = "ping"
	KindWebhook     Kind = "webhook"
)

// Event is one normalised event: *exactly* one of ImagePushed, GitPushed,
// PullRequestEvent, CommentEvent, Ping or WebhookReceived, always held as a
// value.
type Event interface {
	Kind() Kind
}

// Origin says where an event came from. It is embedded in every event so a
// consumer can trace an event back to its delivery without the Delivery.
type Origin struct {
	Provider   string `json:"provider"`
	Receiver   string `json:"receiver"`
	DeliveryID string `json:"deliveryId"`
}

// ImagePushed is a tag pushed to a container registry. A registry envelope
// may carry several; only tagged manifest pushes become ImagePushed.
type ImagePushed struct {
	Origin
	// Registry is the host clients pull from, e.g. "ghcr.io" or "docker.io".
	Registry string `json:"registry"`
	// Repository is the path inside the registry, e.g. "acme/web".
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// Digest is the manifest digest ("sha256:…") when the provider sends one.
	Digest   string    `json:"digest,omitempty"`
	PushedAt time.Time `json:"pushedAt,omitzero"`
	Pusher   string    `json:"pusher,omitempty"`
}

// GitPushed is a push of one ref to a Git repository.
type GitPushed struct {
	Origin
	// RepoURL is the HTTP(S) clone URL; Repo is "owner/name".
	RepoURL string `json:"repoUrl,omitempty"`
	Repo    string `json:"repo"`
	// Ref is the full ref ("refs/heads/main"); Branch is set only for branches.
	Ref    string `json:"ref"`
	Branch string `json:"branch,omitempty"`
	// Before and After are commit SHAs; After is all zeros when the ref was deleted.
	Before string `json:"before,omitempty"`
	After  string `json:"after"`
	// Paths are the files added, modified or removed by the listed commits,
	// sorted and unique. Providers truncate commit lists on big pushes, so an
	// empty or short list means "unknown", not "nothing changed".
	Paths  []string `json:"paths,omitempty"`
	Pusher string   `json:"pusher,omitempty"`
}

// Pull request actions after normalisation; other provider actions are
// passed through as the provider spells them.
const (
	ActionOpened      = "opened"
	ActionClosed      = "closed" // see PullRequestEvent.Merged
	ActionReopened    = "reopened"
	ActionSynchronize = "synchronize" // new commits on the head branch
	ActionEdited      = "edited"
)

// PullRequestEvent is a change to a pull (merge) request.
type PullRequestEvent struct {
	Origin
	Action  string `json:"action"`
	Repo    string `json:"repo"`
	Number  int    `json:"number"`
	HeadSHA string `json:"headSha"`
	HeadRef string `json:"headRef"`
	BaseRef string `json:"baseRef"`
	Title   string `json:"title,omitempty"`
	// Author opened the pull request (empty where the provider does not say,
	// as in GitLab hooks); Sender caused this event.
	Author string `json:"author,omitempty"`
	Sender string `json:"sender,omitempty"`
	URL    string `json:"url,omitempty"`
	Merged bool   `json:"merged,omitempty"`
}

// CommentEvent is a comment on an issue or a pull request: the input of chat-ops.
type CommentEvent struct {
	Origin
	// Action is "created", "edited" or "deleted"; only "created" should run commands.
	Action        string `json:"action"`
	Repo          string `json:"repo"`
	Number        int    `json:"number"`
	IsPullRequest bool   `json:"isPullRequest"`
	CommentID     int64  `json:"commentId"`
	Body          string `json:"body"`
	Author        string `json:"author"`
	URL           string `json:"url,omitempty"`
}

// Ping is a provider's "the hook works" delivery.
type Ping struct {
	Origin
}

// WebhookReceived is a generic webhook's JSON body, for pipelines with a webhook trigger.
type WebhookReceived struct {
	Origin
	Source  string          `json:"source"`  // the receiver name
	Payload json.RawMessage `json:"payload"` // the body, a JSON object; see PayloadValue
}

// Kind implements Event.
func (ImagePushed) Kind() Kind { return KindImagePushed }

// Kind implements Event.
func (GitPushed) Kind() Kind { return KindGitPushed }

// Kind implements Event.
func (PullRequestEvent) Kind() Kind { return KindPullRequest }

// Kind implements Event.
func (CommentEvent) Kind() Kind { return KindComment }

// Kind implements Event.
func (Ping) Kind() Kind { return KindPing }

// Kind implements Event.
func (WebhookReceived) Kind() Kind { return KindWebhook }

// Delivery is one verified HTTP delivery and what it translated to.
type Delivery struct {
	Provider string
	Receiver string
	// ID is the provider's delivery id, or "sha256:<hex of body>" where the
	// provider sends none, so a redelivery of the same bytes has the same ID.
	// (Provider, Receiver, ID) is the de-duplication key.
	ID string
	// Event is the provider's own name for the event type from its event
	// header ("push", "Merge Request Hook", …), or the first event's Kind for
	// providers without one (registries); for records and logs.
	Event  string
	Events []Event
	// Body is the raw body as received (signatures are over these bytes).
	Body []byte
	// Header is a copy of the request headers without credentials
	// (Authorization, X-Gitlab-Token, X-Slipway-Token, Cookie): safe to store.
	Header     http.Header
	ReceivedAt time.Time
}

// Sink takes verified deliveries. Accept is called once per delivery that
// carries at least one event, before the reply: it should persist (or
// enqueue) and return quickly. An error makes the handler answer 503 so the
// sender retries; nothing acknowledged is lost.
type Sink interface {
	Accept(ctx context.Context, d Delivery) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, d Delivery) error

// Accept calls f.
func (f SinkFunc) Accept(ctx context.Context, d Delivery) error { return f(ctx, d) }
