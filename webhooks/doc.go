// Package webhooks receives registry and forge webhooks and turns each
// verified delivery into Slipway's own normalised events: ImagePushed,
// GitPushed, PullRequestEvent, CommentEvent and Ping.
//
// One http.Handler (NewHandler) serves /webhooks/{provider}/{receiver} for
// every configured Receiver. Each request goes through the same fixed steps,
// as Atlantis does: cap the body (http.MaxBytesReader) → verify the signature
// or token in constant time → parse strictly → translate → hand the Delivery
// to a Sink → reply once, with one plain-text line. Storing, de-duplicating
// and acting on deliveries belong to the Sink's owner (the store and the
// pipeline); this package only verifies and translates.
//
// # Providers and how they authenticate
//
//	provider      credential                                   delivery id
//	distribution  Authorization: Bearer <secret>               body hash
//	dockerhub     ?token=<secret> in the URL                   body hash
//	harbor        Authorization: <secret> (the "Auth Header")  CloudEvents id, else body hash
//	ghcr          X-Hub-Signature-256 (HMAC-SHA256)            X-GitHub-Delivery
//	quay          ?token=<secret> in the URL                   body hash
//	coding        X-Coding-Signature: sha1=<HMAC-SHA1>         X-Coding-Delivery
//	github        X-Hub-Signature-256 (HMAC-SHA256)            X-GitHub-Delivery
//	gitea         X-Hub-Signature-256, or X-Gitea-Signature    X-Gitea-Delivery
//	gitlab        X-Gitlab-Token: <secret>                     X-Gitlab-Event-UUID
//
// Docker Hub and Quay cannot sign or set headers, so their secret is an
// unguessable token in the URL query: treat such URLs as secrets (keep them
// out of access logs). A body hash id is "sha256:<hex>" of the raw body, so
// the same bytes redelivered get the same id; where a provider's id header
// is missing, the body hash is used too.
//
// # What becomes an event
//
//   - distribution: "push" events whose target has a tag and a manifest media
//     type, one ImagePushed each; blob pushes, pulls, mounts and deletes are
//     dropped. Registry is the request host the pusher used (else the host
//     of the target URL).
//   - dockerhub: every delivery is a push (registry "docker.io").
//   - harbor: PUSH_ARTIFACT (default format) and harbor.artifact.pushed
//     (CloudEvents, structured or binary mode), one ImagePushed per tagged
//     resource.
//   - ghcr: GitHub "package" and "registry_package" events of container
//     packages with a tag; "ping" gives Ping.
//   - quay: "Repository Push" notifications; updated_tags as a list or as a
//     map of tag to digest.
//   - coding: ARTIFACTS_VERSION_CREATED / ARTIFACTS_VERSION_UPDATED of docker
//     artifacts; the image is <team>-docker.pkg.coding.net/<project>/<repo>/<package>.
//     Forge events (the body's "event" field, if set, wins over X-Coding-Event):
//     "push" gives GitPushed; "merge request" (or merge_request) gives
//     PullRequestEvent, CODING's create/update/merge/close/refuse becoming
//     opened/synchronize/closed+Merged/closed/closed, or, without an action,
//     taken from the status (ACCEPTED is a merge, REFUSED a close, CANMERGE an
//     update); "note" on a merge request gives CommentEvent (a note without an
//     action is "created"), notes elsewhere are ignored. CODING's field names
//     vary, so both spellings are read where two are plausible (merge_request
//     or mergeRequest, number or iid, head.sha or source_sha or
//     merge_commit_sha, comment or note, body or content, login, username,
//     global_key or name); Repo is full_name, else the clone URL's path
//     (<team>/<project>/<repo>). A merge request without a head sha gives its
//     merge_commit_sha as HeadSHA.
//   - github: push, pull_request, issue_comment, ping (and package events,
//     as ghcr); gitea: push, pull_request, issue_comment; gitlab: Push Hook,
//     Tag Push Hook, Merge Request Hook, Note Hook (on merge requests and
//     issues). Pull request actions use GitHub's words (see ActionOpened…).
//
// A verified delivery that yields no event (another event type, a blob push,
// an untagged push, a comment on a commit) is answered 202 "ignored: …" and
// the Sink is not called: acknowledged, nothing done. Refusals never use a
// 5xx; only a failing Sink gives 503, so that the sender retries.
//
// Decoding reads only the fields Slipway uses: unknown fields are fine, a
// wrong type in a field we read is a 400 naming the field path.
package webhooks
