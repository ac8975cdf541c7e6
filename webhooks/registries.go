package webhooks

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// manifestMediaTypes are the target media types of a distribution push that
// is an image (or index) rather than a blob.
var manifestMediaTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.docker.distribution.manifest.v1+json":      true,
	"application/vnd.docker.distribution.manifest.v1+prettyjws": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// parseDistribution translates a CNCF distribution notification envelope.
// Only "push" events of a tagged manifest become ImagePushed; blob pushes,
// pulls, mounts and deletes are dropped.
func parseDistribution(o Origin, _ string, body []byte) ([]Event, error) {
	const what = "distribution"
	var env struct {
		Events *[]struct {
			Timestamp string `json:"timestamp"`
			Action    string `json:"action"`
			Target    struct {
				MediaType  string `json:"mediaType"`
				Digest     string `json:"digest"`
				Repository string `json:"repository"`
				Tag        string `json:"tag"`
				URL        string `json:"url"`
			} `json:"target"`
			Request struct {
				Host string `json:"host"`
			} `json:"request"`
			Actor struct {
				Name string `json:"name"`
			} `json:"actor"`
		} `json:"events"`
	}
	if err := decodeJSON(what, body, &env); err != nil {
		return nil, err
	}
	if env.Events == nil {
		return nil, badRequest("distribution payload: missing required field events")
	}
	var out []Event
	for _, e := range *env.Events {
		t := e.Target
		if e.Action != "push" || t.Tag == "" || !manifestMediaTypes[t.MediaType] {
			continue
		}
		if t.Repository == "" {
			return nil, badRequest("distribution payload: push event without target.repository")
		}
		registry := e.Request.Host
		if u, err := url.Parse(t.URL); registry == "" && err == nil {
			registry = u.Host
		}
		out = append(out, ImagePushed{
			Origin:     o,
			Registry:   registry,
			Repository: t.Repository,
			Tag:        t.Tag,
			Digest:     t.Digest,
			PushedAt:   parseTime(e.Timestamp),
			Pusher:     e.Actor.Name,
		})
	}
	if len(out) == 0 {
		return nil, ignore("no tagged manifest push among %d distribution event(s)", len(*env.Events))
	}
	return out, nil
}

// parseDockerHub translates a Docker Hub repository webhook (always a push).
func parseDockerHub(o Origin, _ string, body []byte) ([]Event, error) {
	const what = "dockerhub"
	var p struct {
		PushData *struct {
			PushedAt json.Number `json:"pushed_at"`
			Pusher   string      `json:"pusher"`
			Tag      string      `json:"tag"`
		} `json:"push_data"`
		Repository struct {
			RepoName string `json:"repo_name"`
		} `json:"repository"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	if p.PushData == nil {
		return nil, badRequest("dockerhub payload: missing required field push_data")
	}
	if err := require(what, "push_data.tag", p.PushData.Tag, "repository.repo_name", p.Repository.RepoName); err != nil {
		return nil, err
	}
	return []Event{ImagePushed{
		Origin:     o,
		Registry:   "docker.io",
		Repository: p.Repository.RepoName,
		Tag:        p.PushData.Tag,
		PushedAt:   unixTime(p.PushData.PushedAt),
		Pusher:     p.PushData.Pusher,
	}}, nil
}

// harborEventData is "event_data" (default format) or "data" (CloudEvents).
type harborEventData struct {
	Resources []struct {
		Digest      string `json:"digest"`
		Tag         string `json:"tag"`
		ResourceURL string `json:"resource_url"`
	} `json:"resources"`
	Repository struct {
		RepoFullName string `json:"repo_full_name"`
	} `json:"repository"`
}

// harborEvent is a Harbor delivery in either of its formats: default
// {"type":"PUSH_ARTIFACT","occur_at":…,"operator":…,"event_data":{…}} or a
// structured-mode CloudEvent {"specversion":"1.0","type":"harbor.artifact.pushed",…,"data":{…}}.
type harborEvent struct {
	SpecVersion string           `json:"specversion"`
	ID          string           `json:"id"`
	Type        string           `json:"type"`
	Time        string           `json:"time"`
	OccurAt     json.Number      `json:"occur_at"`
	Operator    string           `json:"operator"`
	EventData   *harborEventData `json:"event_data"`
	Data        *harborEventData `json:"data"`
}

// harborID is the CloudEvents id of a Harbor delivery, if it has one.
func harborID(h http.Header, body []byte) string {
	if id := h.Get("Ce-Id"); id != "" {
		return id
	}
	var e struct {
		SpecVersion string `json:"specversion"`
		ID          string `json:"id"`
	}
	if json.Unmarshal(body, &e) == nil && e.SpecVersion != "" {
		return e.ID
	}
	return ""
}

// parseHarbor translates Harbor PUSH_ARTIFACT / harbor.artifact.pushed
// deliveries, one ImagePushed per tagged resource. A binary-mode CloudEvent
// (Ce-* headers) is read as its data plus those headers.
func parseHarbor(o Origin, h http.Header, body []byte) ([]Event, error) {
	const what = "harbor"
	var e harborEvent
	if ceType := h.Get("Ce-Type"); ceType != "" {
		var d harborEventData
		if err := decodeJSON(what, body, &d); err != nil {
			return nil, err
		}
		e = harborEvent{SpecVersion: h.Get("Ce-Specversion"), Type: ceType, Time: h.Get("Ce-Time"), Operator: h.Get("Ce-Operator"), Data: &d}
	} else if err := decodeJSON(what, body, &e); err != nil {
		return nil, err
	}
	data, pushedAt := e.EventData, unixTime(e.OccurAt)
	if e.SpecVersion != "" {
		data, pushedAt = e.Data, parseTime(e.Time)
	}
	if e.Type == "" {
		return nil, badRequest("harbor payload: missing required field type")
	}
	if e.Type != "PUSH_ARTIFACT" && e.Type != "harbor.artifact.pushed" {
		return nil, ignore("harbor event %q is not one Slipway acts on", e.Type)
	}
	if data == nil {
		return nil, badRequest("harbor payload: missing event data")
	}
	if err := require(what, "repository.repo_full_name", data.Repository.RepoFullName); err != nil {
		return nil, err
	}
	var out []Event
	for _, r := range data.Resources {
		if r.Tag == "" || isDigest(r.Tag) {
			continue // pushed by digest: nothing a tag rule can match
		}
		host, _, _ := strings.Cut(r.ResourceURL, "/")
		out = append(out, ImagePushed{
			Origin:     o,
			Registry:   host,
			Repository: data.Repository.RepoFullName,
			Tag:        r.Tag,
			Digest:     r.Digest,
			PushedAt:   pushedAt,
			Pusher:     e.Operator,
		})
	}
	if len(out) == 0 {
		return nil, ignore("harbor push without a tag")
	}
	return out, nil
}

// parseQuay translates a Quay "Repository Push" notification. updated_tags
// is a list of tags, or (older Quay) a map of tag to image id; a map value is
// kept as the digest only when it is one ("sha256:…").
func parseQuay(o Origin, _ string, body []byte) ([]Event, error) {
	const what = "quay"
	var p struct {
		Repository  string          `json:"repository"`
		DockerURL   string          `json:"docker_url"`
		UpdatedTags json.RawMessage `json:"updated_tags"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	if len(p.UpdatedTags) == 0 || string(p.UpdatedTags) == "null" {
		return nil, ignore("quay notification without updated_tags (not a repository push)")
	}
	if err := require(what, "repository", p.Repository, "docker_url", p.DockerURL); err != nil {
		return nil, err
	}
	tags := map[string]string{}
	var list []string
	if err := json.Unmarshal(p.UpdatedTags, &list); err == nil {
		for _, t := range list {
			tags[t] = ""
		}
	} else if err := decodeJSON(what, p.UpdatedTags, &tags); err != nil {
		return nil, badRequest("malformed quay payload: field updated_tags: want array of tags or object of tag to digest")
	}
	host, _, _ := strings.Cut(p.DockerURL, "/")
	var out []Event
	for _, tag := range sortedKeys(tags) {
		if tag == "" {
			continue
		}
		digest := tags[tag]
		if !isDigest(digest) {
			digest = ""
		}
		out = append(out, ImagePushed{Origin: o, Registry: host, Repository: p.Repository, Tag: tag, Digest: digest})
	}
	if len(out) == 0 {
		return nil, ignore("quay push without tags")
	}
	return out, nil
}

// parseCoding translates CODING deliveries. Forge events (push, merge
// request, note) are in coding.go. Of the artifact events, only Docker
// artifacts created or updated become ImagePushed. The registry host is
// "<team>-docker.pkg.coding.net" and the repository "<project>/<repo>/<package>",
// as CODING's Docker registry names images.
func parseCoding(o Origin, event string, body []byte) ([]Event, error) {
	var head struct {
		Event string `json:"event"`
	}
	if err := decodeJSON("coding", body, &head); err != nil {
		return nil, err
	}
	if head.Event != "" {
		event = head.Event
	}
	switch strings.ToLower(event) {
	case "push":
		return parseCodingPush(o, body)
	case "merge request", "merge_request", "mr":
		return parseCodingMergeRequest(o, body)
	case "note", "comment":
		return parseCodingNote(o, body)
	}
	return parseCodingArtifact(o, event, body)
}

// parseCodingArtifact translates CODING's artifact events (see parseCoding).
func parseCodingArtifact(o Origin, event string, body []byte) ([]Event, error) {
	const what = "coding"
	var p struct {
		Artifact *struct {
			ArtifactRepoName    string `json:"artifactRepoName"`
			ArtifactPkgName     string `json:"artifactPkgName"`
			ArtifactVersionName string `json:"artifactVersionName"`
			ArtifactType        string `json:"artifactType"`
			ProjectName         string `json:"projectName"`
			UserName            string `json:"userName"`
		} `json:"artifact"`
		Project struct {
			Name string `json:"name"`
		} `json:"project"`
		Team struct {
			Domain string `json:"domain"`
		} `json:"team"`
		Sender struct {
			Name string `json:"name"`
		} `json:"sender"`
	}
	if err := decodeJSON(what, body, &p); err != nil {
		return nil, err
	}
	switch event {
	case "ARTIFACTS_VERSION_CREATED", "ARTIFACTS_VERSION_UPDATED":
	case "":
		return nil, badRequest("missing X-Coding-Event header")
	default:
		return nil, ignore("coding event %q is not one Slipway acts on", event)
	}
	a := p.Artifact
	if a == nil {
		return nil, badRequest("coding payload: missing required field artifact")
	}
	if !strings.EqualFold(a.ArtifactType, "docker") {
		return nil, ignore("coding %s artifact, not docker", a.ArtifactType)
	}
	project := p.Project.Name
	if project == "" {
		project = a.ProjectName
	}
	team, _, _ := strings.Cut(p.Team.Domain, ".")
	if err := require(what, "team.domain", team, "project.name", project, "artifact.artifactRepoName", a.ArtifactRepoName,
		"artifact.artifactPkgName", a.ArtifactPkgName, "artifact.artifactVersionName", a.ArtifactVersionName); err != nil {
		return nil, err
	}
	pusher := a.UserName
	if pusher == "" {
		pusher = p.Sender.Name
	}
	return []Event{ImagePushed{
		Origin:     o,
		Registry:   team + "-docker.pkg.coding.net",
		Repository: project + "/" + a.ArtifactRepoName + "/" + a.ArtifactPkgName,
		Tag:        a.ArtifactVersionName,
		Pusher:     pusher,
	}}, nil
}

// splitImageRef splits "host/path[:tag][@digest]" into the name and the
// tag (empty when there is none).
func splitImageRef(ref string) (name, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

// isDigest reports whether s looks like "algorithm:hex".
func isDigest(s string) bool {
	algo, hex, ok := strings.Cut(s, ":")
	if !ok || algo == "" || len(hex) < 32 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// parseTime reads an RFC 3339 time, zero when absent or unreadable (a push
// time is informative; its absence is no reason to refuse a push).
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// unixTime reads seconds since the epoch, integral or not (Docker Hub sends
// 1.417566161e+09); zero when absent or out of range.
func unixTime(n json.Number) time.Time {
	f, err := n.Float64()
	if err != nil || f <= 0 || f > math.MaxInt32*4 || math.IsNaN(f) {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return uniqueSorted(keys)
}
