package webhooks

import (
	"net/http"
	"strings"
	"testing"
)

// seedParser adds the provider's fixtures (with their event names) and a
// few hostile shapes as seeds.
func seedParser(f *testing.F, provider string) {
	for _, fx := range fixtures {
		if fx.provider == provider {
			f.Add(fx.event, fx.body(f))
		}
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"events":null}`, `{"events":[{}]}`, `{"updated_tags":{"a":1}}`, `{"a":` + strings.Repeat("[", 100)} {
		f.Add("", []byte(s))
	}
	if provider == ProviderCoding {
		// Forge events with the field variants the parser reads, and hostile ones.
		for _, s := range [][2]string{
			{"push", `{"ref":"refs/heads/m","after":"a","repository":{"https_url":"https://e.coding.net/t/p/r.git"},"commits":[{"added":["x"]},null]}`},
			{"push", `{"ref":"refs/tags/v1","after":"a","repository":{"name":"r","owner":{"global_key":"o"}},"commits":null}`},
			{"merge request", `{"mergeRequest":{"iid":"7","status":"ACCEPTED","merge_commit_sha":"c","target_branch":"m"},"repository":{"name":"r","project":{"name":"p"}}}`},
			{"merge_request", `{"action":"update","merge_request":{"number":2147483648,"head":{"sha":"a"},"base":{"ref":"m"}},"repository":{"full_name":"a/b"}}`},
			{"merge request", `{"action":"refuse","merge_request":{"number":-1}}`},
			{"merge request", `{"merge_request":{"number":"x"}}`},
			{"note", `{"note":{"id":"9","content":"/slipway deploy","author":{"login":"u"}},"mergeRequest":{"iid":1},"repository":{"full_name":"a/b"}}`},
			{"note", `{"comment":{"id":1e30,"body":"x"},"merge_request":{"number":1},"repository":{"full_name":"a/b"}}`},
			{"note", `{"comment":{"id":1},"commit":{"id":"a"}}`},
			{"", `{"event":"push","ref":"refs/heads/m","after":"a","repository":{"full_name":"a/b"}}`},
			{"", `{"event":7}`},
		} {
			f.Add(s[0], []byte(s[1]))
		}
	}
}

// fuzzParser checks a parser never panics and only answers with events, a
// 400 or a 202 "ignored" — never anything that would become a 5xx.
func fuzzParser(f *testing.F, provider string) {
	seedParser(f, provider)
	parse := providers[provider].parse
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		o := Origin{Provider: provider, Receiver: "r", DeliveryID: "d"}
		h := http.Header{}
		if provider == ProviderHarbor && strings.HasPrefix(event, "ce:") {
			h.Set("Ce-Type", strings.TrimPrefix(event, "ce:"))
		}
		events, err := parse(o, event, h, body)
		checkOutcome(t, events, err)
		for _, e := range events {
			if originOf(e) != o {
				t.Fatalf("event without its origin: %+v", e)
			}
		}
	})
}

func FuzzParseGitHub(f *testing.F)       { fuzzParser(f, ProviderGitHub) }
func FuzzParseGHCR(f *testing.F)         { fuzzParser(f, ProviderGHCR) }
func FuzzParseGitea(f *testing.F)        { fuzzParser(f, ProviderGitea) }
func FuzzParseGitLab(f *testing.F)       { fuzzParser(f, ProviderGitLab) }
func FuzzParseDistribution(f *testing.F) { fuzzParser(f, ProviderDistribution) }
func FuzzParseDockerHub(f *testing.F)    { fuzzParser(f, ProviderDockerHub) }
func FuzzParseHarbor(f *testing.F)       { fuzzParser(f, ProviderHarbor) }
func FuzzParseQuay(f *testing.F)         { fuzzParser(f, ProviderQuay) }
func FuzzParseCoding(f *testing.F)       { fuzzParser(f, ProviderCoding) }

// FuzzHandler drives the whole handler with correctly signed deliveries
// (the signature is computed here, so the fuzzer reaches the parsers): no
// panic, no 5xx, and the sink sees exactly one delivery per "accepted".
func FuzzHandler(f *testing.F) {
	names := Providers()
	for i, p := range names {
		for _, fx := range fixtures {
			if fx.provider == p {
				f.Add(uint8(i), fx.event, "id-1", false, fx.body(f))
			}
		}
	}
	f.Add(uint8(0), "", "", true, []byte("payload=%7B%7D"))
	f.Fuzz(func(t *testing.T, which uint8, event, id string, form bool, body []byte) {
		provider := names[int(which)%len(names)]
		sink := &recordingSink{}
		h := newTestHandler(t, sink, Options{MaxBody: 64 << 10})
		r := signedRequest(provider, "", "", body)
		// Header values the fuzzer picks go in raw: a real client could send them.
		if p := providers[provider]; p.eventHeader != "" {
			r.Header[http.CanonicalHeaderKey(p.eventHeader)] = []string{event}
		}
		if p := providers[provider]; p.idHeader != "" {
			r.Header[http.CanonicalHeaderKey(p.idHeader)] = []string{id}
		}
		if form {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := serve(h, r)
		if w.Code >= 500 {
			t.Fatalf("%s: status %d %q", provider, w.Code, w.Body)
		}
		got := sink.got()
		accepted := w.Code == http.StatusAccepted && strings.HasPrefix(w.Body.String(), "accepted ")
		if accepted != (len(got) == 1) || len(got) > 1 {
			t.Fatalf("%s: reply %d %q but sink got %d deliveries", provider, w.Code, w.Body, len(got))
		}
		if accepted && len(got[0].Events) == 0 {
			t.Fatalf("%s: accepted a delivery without events", provider)
		}
		if strings.Count(w.Body.String(), "\n") != 1 {
			t.Fatalf("%s: reply not one line: %q", provider, w.Body)
		}
	})
}
