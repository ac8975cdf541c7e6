package webhooks

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSplitImageRef(t *testing.T) {
	tests := map[string][2]string{
		"ghcr.io/acme/web:1.4.0":            {"ghcr.io/acme/web", "1.4.0"},
		"ghcr.io/Codertocat/hello-world:":   {"ghcr.io/Codertocat/hello-world", ""},
		"reg.local:5000/acme/web":           {"reg.local:5000/acme/web", ""},
		"reg.local:5000/acme/web:v2":        {"reg.local:5000/acme/web", "v2"},
		"ghcr.io/acme/web@sha256:0123abcd":  {"ghcr.io/acme/web", ""},
		"ghcr.io/acme/web:v1@sha256:0123ab": {"ghcr.io/acme/web", "v1"},
	}
	for ref, want := range tests {
		name, tag := splitImageRef(ref)
		if diff := cmp.Diff(want, [2]string{name, tag}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ref, diff)
		}
	}
}

func TestUnixTime(t *testing.T) {
	tests := map[string]time.Time{
		"1417566161":      time.Unix(1417566161, 0).UTC(),
		"1.417566161e+09": time.Unix(1417566161, 0).UTC(),
		"":                {},
		"-5":              {},
		"1e400":           {},
	}
	for in, want := range tests {
		if got := unixTime(jsonNumber(in)); !got.Equal(want) {
			t.Errorf("unixTime(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestHarborBinaryCloudEvent: in binary mode the attributes come in Ce-*
// headers and the body is the event's data.
func TestHarborBinaryCloudEvent(t *testing.T) {
	h := http.Header{}
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Type", "harbor.artifact.pushed")
	h.Set("Ce-Time", "2024-03-04T12:30:45Z")
	h.Set("Ce-Operator", "admin")
	h.Set("Ce-Id", "ce-1")
	body := []byte(`{"resources":[{"digest":"sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4","tag":"v1","resource_url":"harbor.dev/library/busybox:v1"}],"repository":{"repo_full_name":"library/busybox"}}`)
	o := Origin{Provider: ProviderHarbor, Receiver: "r", DeliveryID: harborID(h, body)}
	got, err := parseHarbor(o, h, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{ImagePushed{
		Origin:   Origin{Provider: ProviderHarbor, Receiver: "r", DeliveryID: "ce-1"},
		Registry: "harbor.dev", Repository: "library/busybox", Tag: "v1",
		Digest:   "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4",
		PushedAt: time.Date(2024, 3, 4, 12, 30, 45, 0, time.UTC), Pusher: "admin",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestGitLabMergeRequestActions: GitLab's verbs become GitHub's.
func TestGitLabMergeRequestActions(t *testing.T) {
	tests := map[string]struct {
		attrs  string
		action string
		merged bool
	}{
		"open":             {`"action":"open"`, ActionOpened, false},
		"update with push": {`"action":"update","oldrev":"aaaa"`, ActionSynchronize, false},
		"update of title":  {`"action":"update"`, ActionEdited, false},
		"merge":            {`"action":"merge","state":"merged"`, ActionClosed, true},
		"approved":         {`"action":"approved"`, "approved", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"project":{"path_with_namespace":"g/p"},"user":{"username":"u"},"object_attributes":{"iid":3,"target_branch":"main","source_branch":"f","last_commit":{"id":"abc"},` + tc.attrs + `}}`)
			events, err := parseGitLab(Origin{}, "Merge Request Hook", body)
			if err != nil {
				t.Fatal(err)
			}
			pr := events[0].(PullRequestEvent)
			if pr.Action != tc.action || pr.Merged != tc.merged {
				t.Errorf("action %q merged %v, want %q %v", pr.Action, pr.Merged, tc.action, tc.merged)
			}
		})
	}
}

func jsonNumber(s string) json.Number { return json.Number(s) }

// TestCodingMergeRequestActions: CODING's verbs (or, without an action, the
// request's status) become GitHub's; both spellings of the object are read.
func TestCodingMergeRequestActions(t *testing.T) {
	tests := map[string]struct {
		body   string
		action string
		merged bool
	}{
		"create":              {`"action":"create","merge_request":{`, ActionOpened, false},
		"open":                {`"action":"open","mergeRequest":{`, ActionOpened, false},
		"update":              {`"action":"update","merge_request":{`, ActionSynchronize, false},
		"merge":               {`"action":"merge","mergeRequest":{`, ActionClosed, true},
		"close":               {`"action":"close","merge_request":{`, ActionClosed, false},
		"refuse":              {`"action":"refuse","merge_request":{`, ActionClosed, false},
		"reopen":              {`"action":"reopen","merge_request":{`, ActionReopened, false},
		"no action, ACCEPTED": {`"mergeRequest":{"status":"ACCEPTED",`, ActionClosed, true},
		"no action, REFUSED":  {`"mergeRequest":{"status":"REFUSED",`, ActionClosed, false},
		"no action, CANMERGE": {`"mergeRequest":{"status":"CANMERGE",`, ActionSynchronize, false},
		"unknown action":      {`"action":"review","merge_request":{`, "review", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"repository":{"full_name":"t/p/r"},` + tc.body + `"iid":"3","source_branch":"f","target_branch":"master","source_sha":"abc"}}`)
			events, err := parseCoding(Origin{}, "merge request", body)
			if err != nil {
				t.Fatal(err)
			}
			pr := events[0].(PullRequestEvent)
			if pr.Action != tc.action || pr.Merged != tc.merged || pr.Number != 3 || pr.HeadSHA != "abc" || pr.HeadRef != "f" || pr.BaseRef != "master" {
				t.Errorf("got %+v, want action %q merged %v", pr, tc.action, tc.merged)
			}
		})
	}
}

// TestCodingRepoName: full_name, else the clone URL's path, else
// project/name or owner/name.
func TestCodingRepoName(t *testing.T) {
	tests := map[string]string{
		`{"full_name":"t/p/r","clone_url":"https://e.coding.net/x/y.git"}`: "t/p/r",
		`{"name":"r","https_url":"https://e.coding.net/t/p/r.git"}`:        "t/p/r",
		`{"name":"r","project":{"name":"p"}}`:                              "p/r",
		`{"name":"r","owner":{"global_key":"o"}}`:                          "o/r",
		`{"name":"r"}`: "r",
		`{}`:           "",
	}
	for in, want := range tests {
		var r codingRepo
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Fatal(err)
		}
		if got := r.fullName(); got != want {
			t.Errorf("%s: fullName() = %q, want %q", in, got, want)
		}
	}
}
