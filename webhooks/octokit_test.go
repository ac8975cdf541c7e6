package webhooks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestOctokitWebhookExamples runs the GitHub parser over every example
// payload of npm @octokit/webhooks-examples (fetched by `make octokit` into
// ${SLIPWAY_CACHE:-$HOME/.cache/slipway}/npm/) for the events and actions
// Slipway acts on: each must parse into the expected kind of event with its
// repository, number and commit filled in.
func TestOctokitWebhookExamples(t *testing.T) {
	const version = "7.6.1"
	cache := os.Getenv("SLIPWAY_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("no home directory for the Slipway cache (set SLIPWAY_CACHE): %v", err)
		}
		cache = filepath.Join(home, ".cache", "slipway")
	}
	path := filepath.Join(cache, "npm", "octokit-webhooks-examples-"+version, "api.github.com", "index.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("GitHub's webhook examples are missing (%v): run make octokit", err)
	}
	var index []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatalf("%s: %v", path, err)
	}

	// The events and actions Slipway parses ("" for events without actions).
	wanted := map[string][]string{
		"push":          {""},
		"ping":          {""},
		"pull_request":  {ActionOpened, ActionSynchronize, ActionClosed},
		"issue_comment": {"created"},
	}
	counts := map[string]int{}
	for _, ev := range index {
		actions, ok := wanted[ev.Name]
		if !ok {
			continue
		}
		for i, raw := range ev.Examples {
			var head struct {
				Action string `json:"action"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				t.Fatalf("%s example %d: %v", ev.Name, i, err)
			}
			if !slices.Contains(actions, head.Action) {
				continue
			}
			name := fmt.Sprintf("%s/%d", ev.Name, i)
			if head.Action != "" {
				name = fmt.Sprintf("%s/%s/%d", ev.Name, head.Action, i)
			}
			counts[ev.Name+"/"+head.Action]++
			t.Run(name, func(t *testing.T) {
				o := Origin{Provider: ProviderGitHub, Receiver: "github", DeliveryID: name}
				events, err := parseGitHub(o, ev.Name, raw)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if len(events) != 1 {
					t.Fatalf("%d events, want 1: %+v", len(events), events)
				}
				checkOctokitEvent(t, ev.Name, head.Action, events[0])
			})
		}
	}
	for event, actions := range wanted {
		for _, a := range actions {
			if counts[event+"/"+a] == 0 {
				t.Errorf("no example of %s %q in %s", event, a, path)
			}
		}
	}
}

func checkOctokitEvent(t *testing.T, event, action string, e Event) {
	t.Helper()
	switch event {
	case "push":
		p, ok := e.(GitPushed)
		if !ok {
			t.Fatalf("%T, want GitPushed", e)
		}
		if p.Repo == "" || p.Ref == "" || p.After == "" || p.RepoURL == "" || p.Pusher == "" {
			t.Errorf("push not filled in: %+v", p)
		}
	case "ping":
		if _, ok := e.(Ping); !ok {
			t.Fatalf("%T, want Ping", e)
		}
	case "pull_request":
		p, ok := e.(PullRequestEvent)
		if !ok {
			t.Fatalf("%T, want PullRequestEvent", e)
		}
		if p.Action != action || p.Repo == "" || p.Number <= 0 || p.HeadSHA == "" || p.HeadRef == "" || p.BaseRef == "" || p.URL == "" {
			t.Errorf("pull request not filled in: %+v", p)
		}
	case "issue_comment":
		c, ok := e.(CommentEvent)
		if !ok {
			t.Fatalf("%T, want CommentEvent", e)
		}
		if c.Action != action || c.Repo == "" || c.Number <= 0 || c.CommentID <= 0 || c.Author == "" || c.Body == "" {
			t.Errorf("comment not filled in: %+v", c)
		}
	}
	if k := e.Kind(); k == "" {
		t.Error("no kind")
	}
}
