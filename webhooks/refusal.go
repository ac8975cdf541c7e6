package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
)

// refusal is an answer other than "accepted": a status and a one-line reason.
// Parsers and verifiers return it; the handler writes it. Status 202 means
// "acknowledged and ignored".
type refusal struct {
	status int
	reason string
}

func (r *refusal) Error() string { return r.reason }

func refuse(status int, format string, args ...any) error {
	return &refusal{status: status, reason: oneLine(fmt.Sprintf(format, args...))}
}

// ignore acknowledges a verified delivery that asks nothing of Slipway.
func ignore(format string, args ...any) error {
	return refuse(http.StatusAccepted, "ignored: "+format, args...)
}

func badRequest(format string, args ...any) error {
	return refuse(http.StatusBadRequest, format, args...)
}

// oneLine keeps a reason to one printable line of bounded length, since
// parts of it (field names, header values) come from the sender.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// decodeJSON unmarshals body into v. Unknown fields are fine (providers add
// fields); a wrong type in a field we read, or bytes that are not one JSON
// value, is a 400 naming the field path.
func decodeJSON(what string, body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return badRequest("malformed %s payload: field %s: want %s, got %s", what, field, jsonKind(te.Type), te.Value)
	case errors.As(err, &se):
		return badRequest("malformed %s payload: invalid JSON at byte %d", what, se.Offset)
	default:
		return badRequest("malformed %s payload: %v", what, err)
	}
}

// jsonKind names a Go type the way a JSON sender thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Bool:
		return "boolean"
	default:
		return "number"
	}
}

// require returns a 400 naming the first empty field, given pairs of
// (json path, value).
func require(what string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return badRequest("%s payload: missing required field %s", what, pairs[i])
		}
	}
	return nil
}
