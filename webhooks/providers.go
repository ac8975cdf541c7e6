package webhooks

import (
	"net/http"
	"sort"
)

// A provider knows how one sender authenticates, names its deliveries and
// shapes its payloads. The table below is the only place that differs per
// provider; the handler runs the same steps for all.
type provider struct {
	// verify checks the credential (see auth.go).
	verify verifier
	// eventHeader names the header that carries the event type, if any.
	eventHeader string
	// idHeader names the header that carries the delivery id, if any;
	// deliveryID overrides it when the id lives elsewhere.
	idHeader   string
	deliveryID func(h http.Header, body []byte) string
	// form: the payload may come form-encoded as payload=<json>.
	form bool
	// parse translates a verified body; event is eventHeader's value.
	parse func(o Origin, event string, h http.Header, body []byte) ([]Event, error)
}

// Provider names, the {provider} segment of a receiver's URL.
const (
	ProviderDistribution = "distribution"
	ProviderDockerHub    = "dockerhub"
	ProviderHarbor       = "harbor"
	ProviderGHCR         = "ghcr"
	ProviderQuay         = "quay"
	ProviderCoding       = "coding"
	ProviderGitHub       = "github"
	ProviderGitea        = "gitea"
	ProviderGitLab       = "gitlab"
	ProviderGeneric      = "generic"
)

var providers = map[string]provider{
	ProviderDistribution: {
		verify: headerToken("Authorization", "Bearer "),
		parse:  noHeader(parseDistribution),
	},
	ProviderDockerHub: {
		verify: queryToken,
		parse:  noHeader(parseDockerHub),
	},
	ProviderHarbor: {
		verify:     headerToken("Authorization", ""),
		deliveryID: harborID,
		parse: func(o Origin, _ string, h http.Header, body []byte) ([]Event, error) {
			return parseHarbor(o, h, body)
		},
	},
	ProviderGHCR: {
		verify:      githubSignature,
		eventHeader: "X-GitHub-Event",
		idHeader:    "X-GitHub-Delivery",
		form:        true,
		parse:       noHeader(parseGHCREvent),
	},
	ProviderQuay: {
		verify: queryToken,
		parse:  noHeader(parseQuay),
	},
	ProviderCoding: {
		verify:      codingSignature,
		eventHeader: "X-Coding-Event",
		idHeader:    "X-Coding-Delivery",
		form:        true,
		parse:       noHeader(parseCoding),
	},
	ProviderGitHub: {
		verify:      githubSignature,
		eventHeader: "X-GitHub-Event",
		idHeader:    "X-GitHub-Delivery",
		form:        true,
		parse:       noHeader(parseGitHub),
	},
	ProviderGitea: {
		verify:      giteaSignature,
		eventHeader: "X-Gitea-Event",
		idHeader:    "X-Gitea-Delivery",
		form:        true,
		parse:       noHeader(parseGitea),
	},
	ProviderGitLab: {
		verify:      headerToken("X-Gitlab-Token", ""),
		eventHeader: "X-Gitlab-Event",
		idHeader:    "X-Gitlab-Event-UUID",
		parse:       noHeader(parseGitLab),
	},
	ProviderGeneric: {
		verify:     genericCredential,
		deliveryID: genericDeliveryID,
		parse:      noHeader(parseGeneric),
	},
}

// Providers lists the provider names NewHandler accepts, sorted.
func Providers() []string {
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func noHeader(f func(o Origin, event string, body []byte) ([]Event, error)) func(Origin, string, http.Header, []byte) ([]Event, error) {
	return func(o Origin, event string, _ http.Header, body []byte) ([]Event, error) {
		return f(o, event, body)
	}
}

// parseGHCREvent is the ghcr receiver: GitHub's package events and ping;
// a receiver meant for images does not act on pushes or comments.
func parseGHCREvent(o Origin, event string, body []byte) ([]Event, error) {
	switch event {
	case "package", "registry_package", "ping", "":
		return parseGitHub(o, event, body)
	}
	return nil, ignore("ghcr receiver: github event %q is not a package event", event)
}
