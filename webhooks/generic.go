package webhooks

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The generic provider is for systems with no webhook format Slipway knows
// (a CI job, a script, a SaaS with "call this URL"): any JSON object is
// accepted and handed on whole as a WebhookReceived, and pipelines with a
// webhook trigger read what they need from it with PayloadValue. Since
// there is no format to check, the credential is all that stands between
// the URL and a pipeline run, so a receiver is authenticated like the
// others: by a signature when the sender can compute one, else by the
// secret itself in a header (never in the URL, which ends up in logs).

// slipwayTokenHeader carries a generic receiver's secret for senders that
// cannot set Authorization.
const slipwayTokenHeader = "X-Slipway-Token"

// genericCredential verifies a generic delivery: X-Hub-Signature-256
// (sha256=<hex HMAC-SHA256 of the body>, as GitHub signs), else
// "Authorization: Bearer <secret>", else "X-Slipway-Token: <secret>". The
// first of these present decides, so a wrong one is a 403 even if a later
// one would pass; an Authorization header of another scheme is skipped
// when a token header follows (a proxy may have set it), else it is wrong.
func genericCredential(r *http.Request, body, secret []byte) error {
	if r.Header.Get("X-Hub-Signature-256") != "" {
		return githubSignature(r, body, secret)
	}
	token := r.Header.Get(slipwayTokenHeader)
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, bearer, _ := strings.Cut(auth, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			if !tokenEqual(bearer, string(secret)) {
				return refuse(http.StatusForbidden, "wrong Authorization bearer token")
			}
			return nil
		case token == "":
			return refuse(http.StatusForbidden, "Authorization: want the Bearer scheme")
		}
	}
	if token == "" {
		return refuse(http.StatusUnauthorized, "missing credential: X-Hub-Signature-256, Authorization: Bearer or %s header", slipwayTokenHeader)
	}
	if !tokenEqual(token, string(secret)) {
		return refuse(http.StatusForbidden, "wrong %s", slipwayTokenHeader)
	}
	return nil
}

// genericDeliveryHeaders may carry a sender's own delivery id, in order of
// preference; without one the body hash is the id.
var genericDeliveryHeaders = []string{"X-Request-Id", "X-Delivery-Id"}

func genericDeliveryID(h http.Header, _ []byte) string {
	for _, k := range genericDeliveryHeaders {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// parseGeneric accepts any JSON object as one WebhookReceived for the
// receiver; anything else (an array, a scalar, null, not JSON, trailing
// bytes) is a 400.
func parseGeneric(o Origin, _ string, body []byte) ([]Event, error) {
	var fields map[string]json.RawMessage
	if err := decodeJSON("generic", body, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, badRequest("malformed generic payload: want a JSON object, got null")
	}
	return []Event{WebhookReceived{
		Origin:  o,
		Source:  o.Receiver,
		Payload: json.RawMessage(bytes.Clone(body)),
	}}, nil
}

// PayloadValue reads the value at a dotted path in a JSON payload:
// "repository.name" is the name field of the repository object, and a
// decimal segment indexes an array ("items.0.tag"). A string is returned
// as is; a number or boolean as its JSON text ("3", "1.50", "true"). An
// object, array or null there, a path that leads nowhere, an empty path or
// a payload that is not JSON give ok false. A key that contains a dot
// cannot be named.
func PayloadValue(payload json.RawMessage, path string) (string, bool) {
	if path == "" {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", false // trailing bytes: not one JSON value
	}
	for seg := range strings.SplitSeq(path, ".") {
		switch cur := v.(type) {
		case map[string]any:
			next, ok := cur[seg]
			if !ok {
				return "", false
			}
			v = next
		case []any:
			i, ok := arrayIndex(seg)
			if !ok || i >= len(cur) {
				return "", false
			}
			v = cur[i]
		default:
			return "", false
		}
	}
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// arrayIndex parses a path segment as an array index: decimal digits only,
// no sign, no leading zeros.
func arrayIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 1 && seg[0] == '0' {
		return 0, false
	}
	for _, c := range seg {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(seg)
	return i, err == nil
}
