package webhooks

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/**/*.golden from the parsers' output")

// fixture is a recorded (or documented) payload and the event header its
// sender puts on it. Golden files hold the expected normalised events.
type fixture struct {
	provider, event, file string
	// ignored: verified and acknowledged, but no event for Slipway.
	ignored bool
}

var fixtures = map[string]fixture{
	"github push to a branch":           {ProviderGitHub, "push", "push.branch.json", false},
	"github tag deleted":                {ProviderGitHub, "push", "push.tag-deleted.json", false},
	"github pull request opened":        {ProviderGitHub, "pull_request", "pull_request.opened.json", false},
	"github pull request synchronize":   {ProviderGitHub, "pull_request", "pull_request.synchronize.json", false},
	"github pull request closed":        {ProviderGitHub, "pull_request", "pull_request.closed.json", false},
	"github comment on an issue":        {ProviderGitHub, "issue_comment", "issue_comment.created.json", false},
	"github comment edited":             {ProviderGitHub, "issue_comment", "issue_comment.edited.json", false},
	"github comment on a pull request":  {ProviderGitHub, "issue_comment", "issue_comment.pull_request.json", false},
	"github ping":                       {ProviderGitHub, "ping", "ping.json", false},
	"github untagged container package": {ProviderGitHub, "package", "package.untagged.json", true},
	"ghcr package published":            {ProviderGHCR, "package", "package.published.json", false},
	"ghcr registry_package published":   {ProviderGHCR, "registry_package", "registry_package.published.json", false},
	"gitea push":                        {ProviderGitea, "push", "push.json", false},
	"gitea pull request":                {ProviderGitea, "pull_request", "pull_request.json", false},
	"gitea comment on an issue":         {ProviderGitea, "issue_comment", "issue_comment.json", false},
	"gitea comment on a pull request":   {ProviderGitea, "issue_comment", "issue_comment.pull_request.json", false},
	"gitlab push":                       {ProviderGitLab, "Push Hook", "push.json", false},
	"gitlab tag push":                   {ProviderGitLab, "Tag Push Hook", "tag_push.json", false},
	"gitlab merge request":              {ProviderGitLab, "Merge Request Hook", "merge_request.json", false},
	"gitlab note on a merge request":    {ProviderGitLab, "Note Hook", "note_merge_request.json", false},
	"gitlab note on an issue":           {ProviderGitLab, "Note Hook", "note_issue.json", false},
	"gitlab note on a commit":           {ProviderGitLab, "Note Hook", "note_commit.json", true},
	"dockerhub push":                    {ProviderDockerHub, "", "push.json", false},
	"distribution tagged push":          {ProviderDistribution, "", "push-tagged.json", false},
	"distribution push from the ground": {ProviderDistribution, "", "push.captured-from-test-ground.json", false},
	"distribution untagged pushes":      {ProviderDistribution, "", "format-test-untagged.json", true},
	"harbor push artifact":              {ProviderHarbor, "", "push_artifact.json", false},
	"harbor cloudevents pushed":         {ProviderHarbor, "", "cloudevents.pushed.json", false},
	"harbor pull artifact":              {ProviderHarbor, "", "pull_artifact.json", true},
	"quay push, tag list":               {ProviderQuay, "", "push.list.json", false},
	"quay push, tag map":                {ProviderQuay, "", "push.map.json", false},
	"quay build success":                {ProviderQuay, "", "build_success.json", true},
	"coding docker artifact":            {ProviderCoding, "ARTIFACTS_VERSION_CREATED", "artifacts_version_created.docker.json", false},
	"coding push":                       {ProviderCoding, "push", "push.json", false},
	"coding merge request created":      {ProviderCoding, "merge request", "merge_request.create.json", false},
	"coding merge request merged":       {ProviderCoding, "merge request", "merge_request.merge.json", false},
	"coding note on a merge request":    {ProviderCoding, "note", "note.merge_request.json", false},
	"coding note on a commit":           {ProviderCoding, "note", "note.commit.json", true},
	"coding maven artifact":             {ProviderCoding, "ARTIFACTS_VERSION_CREATED", "artifacts_version_created.maven.json", true},
}

func (f fixture) path() string { return filepath.Join("testdata", f.provider, f.file) }

func (f fixture) body(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(f.path())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtures sends every fixture through the handler and compares the
// events the sink gets with the golden file beside the fixture.
func TestFixtures(t *testing.T) {
	for name, f := range fixtures {
		t.Run(name, func(t *testing.T) {
			body := f.body(t)
			sink := &recordingSink{}
			h := newTestHandler(t, sink, Options{})
			w := serve(h, signedRequest(f.provider, f.event, "delivery-1", body))
			if w.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			got := sink.got()
			if f.ignored {
				if !strings.HasPrefix(w.Body.String(), "ignored: ") || len(got) != 0 {
					t.Fatalf("want ignored and no delivery, got %q and %d deliveries", w.Body, len(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("sink got %d deliveries, want 1 (reply %q)", len(got), w.Body)
			}
			d := got[0]
			if d.Provider != f.provider || d.Receiver != f.provider || string(d.Body) != string(body) || !d.ReceivedAt.Equal(testNow) {
				t.Errorf("delivery = %s/%s received %v, body equal %v", d.Provider, d.Receiver, d.ReceivedAt, string(d.Body) == string(body))
			}
			if d.Header.Get("Authorization") != "" || d.Header.Get("X-Gitlab-Token") != "" {
				t.Error("delivery header keeps a credential")
			}
			for _, e := range d.Events {
				if o := originOf(e); o.DeliveryID != d.ID || o.Provider != f.provider || o.Receiver != f.provider {
					t.Errorf("event origin %+v, delivery id %q", o, d.ID)
				}
			}
			gotJSON := eventsJSON(t, d.Events)
			golden := strings.TrimSuffix(f.path(), ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(gotJSON)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func originOf(e Event) Origin {
	switch e := e.(type) {
	case ImagePushed:
		return e.Origin
	case GitPushed:
		return e.Origin
	case PullRequestEvent:
		return e.Origin
	case CommentEvent:
		return e.Origin
	case Ping:
		return e.Origin
	}
	return Origin{}
}
