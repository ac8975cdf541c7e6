package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// testSecret is every test receiver's secret; receivers are named after
// their provider ("github" → /webhooks/github/github).
const testSecret = "s3cr3t-for-tests"

var testNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func testReceivers() []Receiver {
	var rs []Receiver
	for _, p := range Providers() {
		rs = append(rs, Receiver{Name: p, Provider: p, Secret: []byte(testSecret)})
	}
	return rs
}

// recordingSink keeps what it is given and fails when err is set.
type recordingSink struct {
	mu         sync.Mutex
	deliveries []Delivery
	err        error
}

func (s *recordingSink) Accept(_ context.Context, d Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.deliveries = append(s.deliveries, d)
	return nil
}

func (s *recordingSink) got() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

func newTestHandler(t testing.TB, sink Sink, opts Options) http.Handler {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	if opts.RatePerSecond == 0 {
		opts.RatePerSecond = -1 // tests that want limits set them
	}
	h, err := NewHandler(testReceivers(), sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func hexMAC(newHash func() hash.Hash, key string, body []byte) string {
	m := hmac.New(newHash, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// signedRequest builds a delivery to provider's test receiver the way the
// real sender does: its event header, delivery header and credential.
// An empty deliveryID leaves the id header out.
func signedRequest(provider, event, deliveryID string, body []byte) *http.Request {
	target := "/webhooks/" + provider + "/" + provider
	if provider == ProviderDockerHub || provider == ProviderQuay {
		target += "?token=" + testSecret
	}
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	set := func(k, v string) {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	switch provider {
	case ProviderGitHub, ProviderGHCR:
		set("X-GitHub-Event", event)
		set("X-GitHub-Delivery", deliveryID)
		r.Header.Set("X-Hub-Signature-256", "sha256="+hexMAC(sha256.New, testSecret, body))
	case ProviderGitea:
		set("X-Gitea-Event", event)
		set("X-Gitea-Delivery", deliveryID)
		r.Header.Set("X-Hub-Signature-256", "sha256="+hexMAC(sha256.New, testSecret, body))
		r.Header.Set("X-Gitea-Signature", hexMAC(sha256.New, testSecret, body))
	case ProviderGitLab:
		set("X-Gitlab-Event", event)
		set("X-Gitlab-Event-UUID", deliveryID)
		r.Header.Set("X-Gitlab-Token", testSecret)
	case ProviderCoding:
		set("X-Coding-Event", event)
		set("X-Coding-Delivery", deliveryID)
		r.Header.Set("X-Coding-Signature", "sha1="+hexMAC(sha1.New, testSecret, body))
	case ProviderDistribution:
		r.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
		r.Header.Set("Authorization", "Bearer "+testSecret)
	case ProviderHarbor:
		r.Header.Set("Authorization", testSecret)
	}
	r.RemoteAddr = "192.0.2.10:40000"
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// eventsJSON renders events with their kinds, for golden files.
func eventsJSON(t testing.TB, events []Event) []byte {
	t.Helper()
	type tagged struct {
		Kind  Kind  `json:"kind"`
		Event Event `json:"event"`
	}
	out := make([]tagged, 0, len(events))
	for _, e := range events {
		out = append(out, tagged{e.Kind(), e})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// checkOutcome fails unless err is nil or a refusal a parser may give:
// 202 ignored or 400.
func checkOutcome(t testing.TB, events []Event, err error) {
	t.Helper()
	if err == nil {
		for _, e := range events {
			if e == nil {
				t.Fatal("nil event")
			}
		}
		return
	}
	rf, ok := errors.AsType[*refusal](err)
	if !ok {
		t.Fatalf("parser returned a non-refusal error: %v", err)
	}
	if rf.status != http.StatusAccepted && rf.status != http.StatusBadRequest {
		t.Fatalf("parser refused with status %d: %v", rf.status, err)
	}
}
