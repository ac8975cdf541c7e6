package webhooks

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRefusals: every refusal has its status and one line of reason, and
// the sink sees nothing.
func TestRefusals(t *testing.T) {
	push := fixtures["github push to a branch"].body(t)
	glPush := fixtures["gitlab push"].body(t)
	tests := map[string]struct {
		req        func() *http.Request
		status     int
		reasonPart string
	}{
		"unknown provider": {
			req: func() *http.Request {
				return retarget(signedRequest(ProviderGitHub, "push", "d", push), "/webhooks/bitbucket/github")
			},
			status: http.StatusNotFound, reasonPart: "unknown webhook receiver",
		},
		"unknown receiver": {
			req: func() *http.Request {
				return retarget(signedRequest(ProviderGitHub, "push", "d", push), "/webhooks/github/nope")
			},
			status: http.StatusNotFound, reasonPart: "unknown webhook receiver",
		},
		"receiver under another provider": {
			req: func() *http.Request {
				return retarget(signedRequest(ProviderGitHub, "push", "d", push), "/webhooks/gitea/github")
			},
			status: http.StatusNotFound, reasonPart: "unknown webhook receiver",
		},
		"not a webhook path": {
			req: func() *http.Request {
				return retarget(signedRequest(ProviderGitHub, "push", "d", push), "/webhooks/github")
			},
			status: http.StatusNotFound, reasonPart: "not a webhook URL",
		},
		"GET": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitHub, "push", "d", push)
				r.Method = http.MethodGet
				return r
			},
			status: http.StatusMethodNotAllowed, reasonPart: "POST",
		},
		"github without signature": {
			req: func() *http.Request {
				return without(signedRequest(ProviderGitHub, "push", "d", push), "X-Hub-Signature-256")
			},
			status: http.StatusUnauthorized, reasonPart: "missing X-Hub-Signature-256",
		},
		"github signature of other bytes": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitHub, "push", "d", push)
				r.Header.Set("X-Hub-Signature-256", signedRequest(ProviderGitHub, "push", "d", []byte("{}")).Header.Get("X-Hub-Signature-256"))
				return r
			},
			status: http.StatusForbidden, reasonPart: "does not match",
		},
		"github sha1 signature only": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitHub, "push", "d", push)
				r.Header.Set("X-Hub-Signature-256", "sha1=0123")
				return r
			},
			status: http.StatusForbidden, reasonPart: "prefix",
		},
		"github signature not hex": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitHub, "push", "d", push)
				r.Header.Set("X-Hub-Signature-256", "sha256=zz")
				return r
			},
			status: http.StatusForbidden, reasonPart: "not hex",
		},
		"github signed with another secret": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitHub, "push", "d", push)
				r.Header.Set("X-Hub-Signature-256", "sha256="+hexMAC(sha256.New, "other", push))
				return r
			},
			status: http.StatusForbidden, reasonPart: "does not match",
		},
		"gitea wrong bare signature": {
			req: func() *http.Request {
				r := without(signedRequest(ProviderGitea, "push", "d", push), "X-Hub-Signature-256")
				r.Header.Set("X-Gitea-Signature", hexMAC(sha256.New, "other", push))
				return r
			},
			status: http.StatusForbidden, reasonPart: "X-Gitea-Signature",
		},
		"gitlab without token": {
			req: func() *http.Request {
				return without(signedRequest(ProviderGitLab, "Push Hook", "d", glPush), "X-Gitlab-Token")
			},
			status: http.StatusUnauthorized, reasonPart: "missing X-Gitlab-Token",
		},
		"gitlab wrong token": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitLab, "Push Hook", "d", glPush)
				r.Header.Set("X-Gitlab-Token", testSecret+"x")
				return r
			},
			status: http.StatusForbidden, reasonPart: "wrong X-Gitlab-Token",
		},
		"distribution without Authorization": {
			req: func() *http.Request {
				return without(signedRequest(ProviderDistribution, "", "", []byte(`{"events":[]}`)), "Authorization")
			},
			status: http.StatusUnauthorized, reasonPart: "missing Authorization",
		},
		"distribution token without Bearer": {
			req: func() *http.Request {
				r := signedRequest(ProviderDistribution, "", "", []byte(`{"events":[]}`))
				r.Header.Set("Authorization", testSecret)
				return r
			},
			status: http.StatusForbidden, reasonPart: "wrong Authorization",
		},
		"harbor wrong Authorization": {
			req: func() *http.Request {
				r := signedRequest(ProviderHarbor, "", "", []byte(`{}`))
				r.Header.Set("Authorization", "Bearer "+testSecret)
				return r
			},
			status: http.StatusForbidden, reasonPart: "wrong Authorization",
		},
		"dockerhub without token": {
			req: func() *http.Request {
				return retarget(signedRequest(ProviderDockerHub, "", "", []byte(`{}`)), "/webhooks/dockerhub/dockerhub")
			},
			status: http.StatusUnauthorized, reasonPart: "missing token",
		},
		"quay wrong token": {
			req: func() *http.Request {
				return retarget(signedRequest(ProviderQuay, "", "", []byte(`{}`)), "/webhooks/quay/quay?token="+url.QueryEscape(testSecret[1:]))
			},
			status: http.StatusForbidden, reasonPart: "wrong token",
		},
		"coding wrong signature": {
			req: func() *http.Request {
				r := signedRequest(ProviderCoding, "ARTIFACTS_VERSION_CREATED", "d", []byte(`{}`))
				r.Header.Set("X-Coding-Signature", "sha1="+hexMAC(sha256.New, testSecret, []byte(`{}`)))
				return r
			},
			status: http.StatusForbidden, reasonPart: "X-Coding-Signature",
		},
		"coding push signed with another secret": {
			req: func() *http.Request {
				body := fixtures["coding push"].body(t)
				r := signedRequest(ProviderCoding, "push", "d", body)
				r.Header.Set("X-Coding-Signature", "sha1="+hexMAC(sha1.New, "other", body))
				return r
			},
			status: http.StatusForbidden, reasonPart: "X-Coding-Signature",
		},
		"coding merge request without a number": {
			req: func() *http.Request {
				return signedRequest(ProviderCoding, "merge request", "d", []byte(`{"action":"create","merge_request":{"title":"t","target_branch":"master","head":{"sha":"abc"}},"repository":{"full_name":"a/b/c"}}`))
			},
			status: http.StatusBadRequest, reasonPart: "missing required field merge_request.number",
		},
		"coding note without its comment": {
			req: func() *http.Request {
				return signedRequest(ProviderCoding, "note", "d", []byte(`{"action":"create","merge_request":{"number":3},"repository":{"full_name":"a/b/c"}}`))
			},
			status: http.StatusBadRequest, reasonPart: "missing required field comment",
		},
		"coding merge request with an object for a title": {
			req: func() *http.Request {
				return signedRequest(ProviderCoding, "merge request", "d", []byte(`{"action":"create","mergeRequest":{"iid":3,"title":{}}}`))
			},
			status: http.StatusBadRequest, reasonPart: "field mergeRequest.title: want string, got object",
		},
		"body over the cap, Content-Length set": {
			req: func() *http.Request {
				return signedRequest(ProviderGitHub, "push", "d", bytes.Repeat([]byte(" "), 2<<20))
			},
			status: http.StatusRequestEntityTooLarge, reasonPart: "body over",
		},
		"body over the cap, chunked": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitHub, "push", "d", bytes.Repeat([]byte(" "), 2<<20))
				r.ContentLength = -1
				return r
			},
			status: http.StatusRequestEntityTooLarge, reasonPart: "body over",
		},
		"malformed JSON": {
			req:    func() *http.Request { return signedRequest(ProviderGitHub, "push", "d", []byte(`{"ref":`)) },
			status: http.StatusBadRequest, reasonPart: "invalid JSON",
		},
		"trailing garbage": {
			req:    func() *http.Request { return signedRequest(ProviderGitHub, "push", "d", []byte(`{} {}`)) },
			status: http.StatusBadRequest, reasonPart: "malformed",
		},
		"wrong type in a field we read": {
			req: func() *http.Request {
				return signedRequest(ProviderGitHub, "push", "d", []byte(`{"ref":"refs/heads/main","after":"a","repository":{"full_name":42}}`))
			},
			status: http.StatusBadRequest, reasonPart: "field repository.full_name: want string, got number",
		},
		"missing required field": {
			req: func() *http.Request {
				return signedRequest(ProviderGitHub, "push", "d", []byte(`{"ref":"refs/heads/main","after":"a"}`))
			},
			status: http.StatusBadRequest, reasonPart: "missing required field repository.full_name",
		},
		"quay updated_tags of the wrong type": {
			req: func() *http.Request {
				return signedRequest(ProviderQuay, "", "", []byte(`{"repository":"a/b","docker_url":"quay.io/a/b","updated_tags":7}`))
			},
			status: http.StatusBadRequest, reasonPart: "updated_tags",
		},
		"github without event header": {
			req: func() *http.Request {
				return without(signedRequest(ProviderGitHub, "push", "d", push), "X-GitHub-Event")
			},
			status: http.StatusBadRequest, reasonPart: "missing X-GitHub-Event",
		},
		"delivery id too long": {
			req:    func() *http.Request { return signedRequest(ProviderGitHub, "push", strings.Repeat("d", 201), push) },
			status: http.StatusBadRequest, reasonPart: "delivery id",
		},
		"form body without payload": {
			req: func() *http.Request {
				r := signedRequest(ProviderGitHub, "push", "d", []byte("x=1"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			status: http.StatusBadRequest, reasonPart: "payload",
		},
		"unknown event type": {
			req:    func() *http.Request { return signedRequest(ProviderGitHub, "star", "d", []byte(`{}`)) },
			status: http.StatusAccepted, reasonPart: `ignored: github event "star"`,
		},
		"push sent to a ghcr receiver": {
			req:    func() *http.Request { return signedRequest(ProviderGHCR, "push", "d", push) },
			status: http.StatusAccepted, reasonPart: "ignored: ghcr receiver",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sink := &recordingSink{}
			h := newTestHandler(t, sink, Options{})
			w := serve(h, tc.req())
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.reasonPart) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body, tc.status, tc.reasonPart)
			}
			if n := strings.Count(w.Body.String(), "\n"); n != 1 || !strings.HasSuffix(w.Body.String(), "\n") {
				t.Errorf("reply is not one line: %q", w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := sink.got(); len(got) != 0 {
				t.Errorf("sink got %d deliveries for a refused request", len(got))
			}
		})
	}
}

func TestSinkErrorIs503(t *testing.T) {
	sink := &recordingSink{err: errors.New("database is locked")}
	h := newTestHandler(t, sink, Options{})
	w := serve(h, signedRequest(ProviderGitHub, "push", "d", fixtures["github push to a branch"].body(t)))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d %q Retry-After %q, want 503 with Retry-After", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if strings.Contains(w.Body.String(), "locked") {
		t.Errorf("reply leaks the sink's error: %q", w.Body)
	}
}

// TestDeliveryIDs: the provider's id where it has one; otherwise the body's
// hash, the same for a redelivery of the same bytes.
func TestDeliveryIDs(t *testing.T) {
	sink := &recordingSink{}
	h := newTestHandler(t, sink, Options{})
	quay := fixtures["quay push, tag list"].body(t)
	push := fixtures["github push to a branch"].body(t)
	reqs := []*http.Request{
		signedRequest(ProviderQuay, "", "", quay),
		signedRequest(ProviderQuay, "", "", quay),
		signedRequest(ProviderQuay, "", "", append(quay, ' ')),
		signedRequest(ProviderGitHub, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", push),
		signedRequest(ProviderGitHub, "push", "", push),
	}
	for _, r := range reqs {
		if w := serve(h, r); w.Code != http.StatusAccepted {
			t.Fatalf("status %d %q", w.Code, w.Body)
		}
	}
	var got []string
	for _, d := range sink.got() {
		got = append(got, d.ID)
	}
	want := []string{
		bodyHash(quay),
		bodyHash(quay),
		bodyHash(append(quay, ' ')),
		"72d3162e-cc78-11e3-81ab-4c9367dc0958",
		bodyHash(push),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func bodyHash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestFormEncodedGitHub(t *testing.T) {
	sink := &recordingSink{}
	h := newTestHandler(t, sink, Options{})
	body := []byte("payload=" + url.QueryEscape(string(fixtures["github ping"].body(t))))
	r := signedRequest(ProviderGitHub, "ping", "d", body)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if w := serve(h, r); w.Code != http.StatusAccepted {
		t.Fatalf("status %d %q", w.Code, w.Body)
	}
	got := sink.got()
	if len(got) != 1 || got[0].Events[0] != (Ping{Origin{ProviderGitHub, ProviderGitHub, "d"}}) {
		t.Fatalf("deliveries %+v", got)
	}
}

// TestAcceptedReply checks one full delivery against hand-written events.
func TestAcceptedReply(t *testing.T) {
	sink := &recordingSink{}
	h := newTestHandler(t, sink, Options{})
	body := []byte(`{"events":[
	 {"action":"push","timestamp":"2026-03-04T12:00:00Z","target":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","repository":"a/b","tag":"v1"},"request":{"host":"reg.local:5000"},"actor":{"name":"ci"}},
	 {"action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:bb","repository":"a/c","tag":"v2"},"request":{"host":"reg.local:5000"}},
	 {"action":"delete","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"a/d","tag":"v3"}}]}`)
	w := serve(h, signedRequest(ProviderDistribution, "", "", body))
	if w.Code != http.StatusAccepted || !strings.HasPrefix(w.Body.String(), "accepted 2 event(s)") {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	d := sink.got()[0]
	o := Origin{ProviderDistribution, ProviderDistribution, d.ID}
	want := []Event{
		ImagePushed{Origin: o, Registry: "reg.local:5000", Repository: "a/b", Tag: "v1", Digest: "sha256:aa", PushedAt: time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), Pusher: "ci"},
		ImagePushed{Origin: o, Registry: "reg.local:5000", Repository: "a/c", Tag: "v2", Digest: "sha256:bb"},
	}
	if diff := cmp.Diff(want, d.Events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if d.Event != string(KindImagePushed) {
		t.Errorf("Event = %q", d.Event)
	}
}

func TestRateLimit(t *testing.T) {
	now := testNow
	sink := &recordingSink{}
	h := newTestHandler(t, sink, Options{RatePerSecond: 1, Burst: 2, Now: func() time.Time { return now }})
	ping := fixtures["github ping"].body(t)
	codes := func(n int, addr string) []int {
		var out []int
		for range n {
			r := signedRequest(ProviderGitHub, "ping", "d", ping)
			r.RemoteAddr = addr
			w := serve(h, r)
			if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
			}
			out = append(out, w.Code)
		}
		return out
	}
	if diff := cmp.Diff([]int{202, 202, 429}, codes(3, "192.0.2.1:1")); diff != "" {
		t.Errorf("first burst (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{202}, codes(1, "192.0.2.2:1")); diff != "" {
		t.Errorf("other source (-want +got):\n%s", diff)
	}
	now = now.Add(time.Second)
	if diff := cmp.Diff([]int{202, 429}, codes(2, "192.0.2.1:2")); diff != "" {
		t.Errorf("after a second (-want +got):\n%s", diff)
	}
	if n := len(sink.got()); n != 4 {
		t.Errorf("sink got %d deliveries, want 4", n)
	}
}

func TestLimiterTableIsBounded(t *testing.T) {
	l := newLimiter(1, 1, func() time.Time { return testNow })
	for i := range maxBuckets + 10 {
		l.allow(strings.Repeat("x", i%7) + string(rune(i)))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets", n)
	}
}

func TestNewHandlerFailsClosed(t *testing.T) {
	sink := &recordingSink{}
	ok := Receiver{Name: "a", Provider: ProviderGitHub, Secret: []byte("k")}
	tests := map[string]struct {
		receivers []Receiver
		sink      Sink
		want      string
	}{
		"empty secret":     {[]Receiver{{Name: "a", Provider: ProviderGitHub}}, sink, "empty secret"},
		"unknown provider": {[]Receiver{{Name: "a", Provider: "bitbucket", Secret: []byte("k")}}, sink, "unknown provider"},
		"duplicate name":   {[]Receiver{ok, {Name: "a", Provider: ProviderGitLab, Secret: []byte("k")}}, sink, "duplicate"},
		"slash in name":    {[]Receiver{{Name: "a/b", Provider: ProviderGitHub, Secret: []byte("k")}}, sink, "invalid name"},
		"empty name":       {[]Receiver{{Provider: ProviderGitHub, Secret: []byte("k")}}, sink, "invalid name"},
		"no sink":          {[]Receiver{ok}, nil, "nil sink"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewHandler(tc.receivers, tc.sink, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := NewHandler([]Receiver{ok}, sink, Options{}); err != nil {
		t.Errorf("valid receiver: %v", err)
	}
}

func TestSecretIsCopied(t *testing.T) {
	secret := []byte(testSecret)
	sink := &recordingSink{}
	h, err := NewHandler([]Receiver{{Name: "github", Provider: ProviderGitHub, Secret: secret}}, sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret[0] = 'X'
	if w := serve(h, signedRequest(ProviderGitHub, "ping", "d", fixtures["github ping"].body(t))); w.Code != http.StatusAccepted {
		t.Errorf("status %d %q", w.Code, w.Body)
	}
}

func retarget(r *http.Request, target string) *http.Request {
	n := httptest.NewRequest(r.Method, target, r.Body)
	n.Header = r.Header
	n.RemoteAddr = r.RemoteAddr
	return n
}

func without(r *http.Request, header string) *http.Request {
	r.Header.Del(header)
	return r
}

// TestConcurrentDeliveries: one handler serves many senders at once (run
// with -race); each accepted request is exactly one delivery.
func TestConcurrentDeliveries(t *testing.T) {
	sink := &recordingSink{}
	h := newTestHandler(t, sink, Options{RatePerSecond: 1000, Burst: 1000})
	var wg sync.WaitGroup
	names := []string{"github push to a branch", "gitlab note on a merge request", "quay push, tag map", "harbor push artifact"}
	for i := range 40 {
		f := fixtures[names[i%len(names)]]
		body := f.body(t)
		wg.Go(func() {
			if w := serve(h, signedRequest(f.provider, f.event, fmt.Sprint("d-", i), body)); w.Code != http.StatusAccepted {
				t.Errorf("status %d %q", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	if n := len(sink.got()); n != 40 {
		t.Errorf("sink got %d deliveries, want 40", n)
	}
}
