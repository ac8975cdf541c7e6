package webhooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// genericReceiver is the generic test receiver's name: the trigger source.
const genericReceiver = "ci-build"

const genericBody = `{"repository":{"name":"web"},"items":[{"tag":"v2"}],"ok":true}`

func newGenericHandler(t *testing.T, sink Sink) http.Handler {
	t.Helper()
	h, err := NewHandler([]Receiver{{Name: genericReceiver, Provider: ProviderGeneric, Secret: []byte(testSecret)}}, sink, Options{
		RatePerSecond: -1,
		MaxBody:       1 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// genericRequest is a POST to the generic test receiver with the given
// headers (name, value pairs).
func genericRequest(body string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/generic/"+genericReceiver, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	r.RemoteAddr = "192.0.2.10:40000"
	return r
}

func signature(body string) string { return "sha256=" + hexMAC(sha256.New, testSecret, []byte(body)) }

func TestGenericAccepted(t *testing.T) {
	tests := map[string]struct {
		headers []string
		wantID  string
	}{
		"HMAC signature":         {headers: []string{"X-Hub-Signature-256", signature(genericBody)}},
		"bearer token":           {headers: []string{"Authorization", "Bearer " + testSecret}},
		"bearer, scheme in case": {headers: []string{"Authorization", "bearer " + testSecret}},
		"token header":           {headers: []string{"X-Slipway-Token", testSecret}},
		"token header behind a proxy's basic auth": {
			headers: []string{"Authorization", "Basic dXNlcjpwYXNz", "X-Slipway-Token", testSecret},
		},
		"id from X-Request-Id": {
			headers: []string{"X-Slipway-Token", testSecret, "X-Request-Id", "req-42"},
			wantID:  "req-42",
		},
		"id from X-Delivery-Id": {
			headers: []string{"X-Slipway-Token", testSecret, "X-Delivery-Id", "del-7"},
			wantID:  "del-7",
		},
		"X-Request-Id first": {
			headers: []string{"X-Slipway-Token", testSecret, "X-Delivery-Id", "del-7", "X-Request-Id", "req-42"},
			wantID:  "req-42",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sink := &recordingSink{}
			w := serve(newGenericHandler(t, sink), genericRequest(genericBody, tc.headers...))
			if w.Code != http.StatusAccepted || !strings.HasPrefix(w.Body.String(), "accepted 1 event(s)") {
				t.Fatalf("got %d %q", w.Code, w.Body)
			}
			got := sink.got()
			if len(got) != 1 {
				t.Fatalf("sink got %d deliveries", len(got))
			}
			d := got[0]
			wantID := tc.wantID
			if wantID == "" {
				wantID = bodyHash([]byte(genericBody))
			}
			want := []Event{WebhookReceived{
				Origin:  Origin{Provider: ProviderGeneric, Receiver: genericReceiver, DeliveryID: wantID},
				Source:  genericReceiver,
				Payload: json.RawMessage(genericBody),
			}}
			if diff := cmp.Diff(want, d.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if d.ID != wantID || d.Provider != ProviderGeneric || d.Receiver != genericReceiver || d.Event != string(KindWebhook) || string(d.Body) != genericBody {
				t.Errorf("delivery %s/%s id %q event %q", d.Provider, d.Receiver, d.ID, d.Event)
			}
			for _, k := range []string{"Authorization", "X-Slipway-Token"} {
				if v := d.Header.Get(k); v != "" {
					t.Errorf("delivery header keeps credential %s: %q", k, v)
				}
			}
		})
	}
}

func TestGenericRefusals(t *testing.T) {
	tests := map[string]struct {
		body       string
		headers    []string
		query      string
		status     int
		reasonPart string
	}{
		"no credential": {
			body: genericBody, status: http.StatusUnauthorized, reasonPart: "missing credential",
		},
		"signature of other bytes": {
			body: genericBody, headers: []string{"X-Hub-Signature-256", signature("{}")},
			status: http.StatusForbidden, reasonPart: "does not match",
		},
		"signature without prefix": {
			body: genericBody, headers: []string{"X-Hub-Signature-256", hexMAC(sha256.New, testSecret, []byte(genericBody))},
			status: http.StatusForbidden, reasonPart: "prefix",
		},
		"wrong signature beats a good token": {
			body: genericBody, headers: []string{"X-Hub-Signature-256", signature("{}"), "X-Slipway-Token", testSecret},
			status: http.StatusForbidden, reasonPart: "does not match",
		},
		"wrong bearer": {
			body: genericBody, headers: []string{"Authorization", "Bearer " + testSecret + "x"},
			status: http.StatusForbidden, reasonPart: "wrong Authorization",
		},
		"bearer without a token": {
			body: genericBody, headers: []string{"Authorization", "Bearer"},
			status: http.StatusForbidden, reasonPart: "wrong Authorization",
		},
		"secret without a scheme": {
			body: genericBody, headers: []string{"Authorization", testSecret},
			status: http.StatusForbidden, reasonPart: "Bearer",
		},
		"wrong token header": {
			body: genericBody, headers: []string{"X-Slipway-Token", testSecret[1:]},
			status: http.StatusForbidden, reasonPart: "wrong X-Slipway-Token",
		},
		"secret in the query is not a credential": {
			body: genericBody, query: "token=" + testSecret,
			status: http.StatusUnauthorized, reasonPart: "missing credential",
		},
		"array":            {body: `[{"a":1}]`, status: http.StatusBadRequest, reasonPart: "want object, got array"},
		"string":           {body: `"hello"`, status: http.StatusBadRequest, reasonPart: "want object, got string"},
		"number":           {body: `42`, status: http.StatusBadRequest, reasonPart: "want object, got number"},
		"null":             {body: `null`, status: http.StatusBadRequest, reasonPart: "want a JSON object"},
		"empty body":       {body: ``, status: http.StatusBadRequest, reasonPart: "malformed generic payload"},
		"not JSON":         {body: `a=1&b=2`, status: http.StatusBadRequest, reasonPart: "invalid JSON"},
		"trailing garbage": {body: `{} {}`, status: http.StatusBadRequest, reasonPart: "malformed generic payload"},
		"truncated":        {body: `{"a":`, status: http.StatusBadRequest, reasonPart: "invalid JSON"},
		"over the cap": {
			body: `{"a":"` + strings.Repeat("x", 2<<10) + `"}`, status: http.StatusRequestEntityTooLarge, reasonPart: "body over",
		},
		"delivery id too long": {
			body: genericBody, headers: []string{"X-Request-Id", strings.Repeat("r", 201)},
			status: http.StatusBadRequest, reasonPart: "delivery id",
		},
		"delivery id with a space": {
			body: genericBody, headers: []string{"X-Delivery-Id", "a b"},
			status: http.StatusBadRequest, reasonPart: "delivery id",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			headers := tc.headers
			if tc.status == http.StatusBadRequest || tc.status == http.StatusRequestEntityTooLarge {
				headers = append([]string{"X-Slipway-Token", testSecret}, headers...)
			}
			sink := &recordingSink{}
			r := genericRequest(tc.body, headers...)
			r.URL.RawQuery = tc.query
			w := serve(newGenericHandler(t, sink), r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.reasonPart) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body, tc.status, tc.reasonPart)
			}
			if strings.Count(w.Body.String(), "\n") != 1 {
				t.Errorf("reply is not one line: %q", w.Body)
			}
			if got := sink.got(); len(got) != 0 {
				t.Errorf("sink got %d deliveries for a refused request", len(got))
			}
		})
	}
}

// TestGenericRedelivery: without an id header, the same bytes are the same
// delivery and other bytes another.
func TestGenericRedelivery(t *testing.T) {
	sink := &recordingSink{}
	h := newGenericHandler(t, sink)
	for _, body := range []string{genericBody, genericBody, genericBody + " "} {
		if w := serve(h, genericRequest(body, "X-Slipway-Token", testSecret)); w.Code != http.StatusAccepted {
			t.Fatalf("got %d %q", w.Code, w.Body)
		}
	}
	var ids []string
	for _, d := range sink.got() {
		ids = append(ids, d.ID)
	}
	want := []string{bodyHash([]byte(genericBody)), bodyHash([]byte(genericBody)), bodyHash([]byte(genericBody + " "))}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

// TestWebhookReceivedJSON pins the stored shape of the event.
func TestWebhookReceivedJSON(t *testing.T) {
	e := WebhookReceived{
		Origin:  Origin{Provider: ProviderGeneric, Receiver: "ci", DeliveryID: "d"},
		Source:  "ci",
		Payload: json.RawMessage(`{"a": [1, "x"]}`),
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"provider":"generic","receiver":"ci","deliveryId":"d","source":"ci","payload":{"a":[1,"x"]}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back WebhookReceived
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Origin != e.Origin || back.Source != e.Source || string(back.Payload) != `{"a":[1,"x"]}` || back.Kind() != KindWebhook {
		t.Errorf("round trip: %+v", back)
	}
}

func TestPayloadValue(t *testing.T) {
	const payload = `{
		"repository": {"name": "web", "private": false, "owner": {"login": "acme"}},
		"items": [{"tag": "v2", "size": 1.50}, {"tag": "v3", "size": 1e3}],
		"count": 3,
		"big": 12345678901234567890,
		"nothing": null,
		"empty": "",
		"0": "zero key",
		"a.b": "dotted key",
		"unicode": "caf\u00e9"
	}`
	tests := map[string]struct {
		path   string
		want   string
		wantOK bool
	}{
		"nested string":          {"repository.name", "web", true},
		"deeper":                 {"repository.owner.login", "acme", true},
		"array index":            {"items.0.tag", "v2", true},
		"second element":         {"items.1.tag", "v3", true},
		"integer":                {"count", "3", true},
		"number as written":      {"items.0.size", "1.50", true},
		"exponent as written":    {"items.1.size", "1e3", true},
		"beyond int64":           {"big", "12345678901234567890", true},
		"false":                  {"repository.private", "false", true},
		"empty string":           {"empty", "", true},
		"digit key of an object": {"0", "zero key", true},
		"escaped string":         {"unicode", "café", true},
		"object":                 {"repository", "", false},
		"array":                  {"items", "", false},
		"null":                   {"nothing", "", false},
		"missing key":            {"repository.nope", "", false},
		"index out of range":     {"items.2.tag", "", false},
		"negative index":         {"items.-1.tag", "", false},
		"leading zero index":     {"items.00.tag", "", false},
		"key on an array":        {"items.tag", "", false},
		"into a scalar":          {"count.value", "", false},
		"dotted key":             {"a.b", "", false},
		"empty path":             {"", "", false},
		"empty segment":          {"repository..name", "", false},
		"trailing dot":           {"repository.name.", "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := PayloadValue(json.RawMessage(payload), tc.path)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("PayloadValue(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	for name, bad := range map[string]string{"not JSON": `{"a":`, "empty": ``, "trailing bytes": `{"a":"x"} {}`} {
		if got, ok := PayloadValue(json.RawMessage(bad), "a"); ok {
			t.Errorf("%s: PayloadValue = %q, true; want false", name, got)
		}
	}
	if got, ok := PayloadValue(json.RawMessage(`"top"`), "a"); ok {
		t.Errorf("scalar payload: PayloadValue = %q, true", got)
	}
}

// FuzzParseGeneric: any body is an event carrying exactly those bytes, a
// 400, never anything else.
func FuzzParseGeneric(f *testing.F) {
	for _, s := range []string{genericBody, ``, `null`, `[]`, `{}`, `{"a":` + strings.Repeat("[", 100), `{"a":1} x`, "{\"\xff\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o := Origin{Provider: ProviderGeneric, Receiver: "r", DeliveryID: "d"}
		events, err := parseGeneric(o, "", body)
		checkOutcome(t, events, err)
		if err != nil {
			return
		}
		if len(events) != 1 {
			t.Fatalf("%d events", len(events))
		}
		e, ok := events[0].(WebhookReceived)
		if !ok || e.Origin != o || e.Source != "r" || !bytes.Equal(e.Payload, body) {
			t.Fatalf("event %+v", events[0])
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("event does not marshal: %v", err)
		}
	})
}

// FuzzPayloadValue: never panics, and finds nothing in what is not JSON.
func FuzzPayloadValue(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,"x",true]}}`), "a.b.1")
	f.Add([]byte(`[0]`), "0")
	f.Fuzz(func(t *testing.T, payload []byte, path string) {
		if _, ok := PayloadValue(payload, path); ok && !json.Valid(payload) {
			t.Fatalf("found %q in invalid JSON", path)
		}
	})
}
