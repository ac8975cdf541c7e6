package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/reconciler"
)

// fakeReconciler is a narrow stand-in for the reconciler's read model.
type fakeReconciler struct{ synced []string }

func (f *fakeReconciler) Status() []reconciler.TargetStatus {
	return []reconciler.TargetStatus{{Application: "flaskapp", Target: "testing"}, {Application: "other", Target: "prod"}}
}

func (f *fakeReconciler) StatusOf(key string) (reconciler.TargetStatus, bool) {
	switch key {
	case "flaskapp/testing":
		return reconciler.TargetStatus{Application: "flaskapp", Target: "testing", Health: reconciler.Healthy}, true
	case "other/prod":
		return reconciler.TargetStatus{Application: "other", Target: "prod"}, true
	}
	return reconciler.TargetStatus{}, false
}

func (f *fakeReconciler) Sync(ref config.TargetRef) error {
	if ref.String() != "flaskapp/testing" {
		return errors.New("target " + ref.String() + " not found")
	}
	f.synced = append(f.synced, ref.String())
	return nil
}

func (f *fakeReconciler) Refresh(context.Context) error { return nil }
func (f *fakeReconciler) Revision() string              { return "abc" }
func (f *fakeReconciler) Resync()                       {}

func TestAPI(t *testing.T) {
	ts := newTestServer(t)
	rec := ts.rec
	cases := map[string]struct {
		method, path string
		wantCode     int
		wantField    string
	}{
		"list":                   {http.MethodGet, "/api/v1/targets", http.StatusOK, ""},
		"list one app":           {http.MethodGet, "/api/v1/targets?app=other", http.StatusOK, ""},
		"get":                    {http.MethodGet, "/api/v1/targets/flaskapp/testing", http.StatusOK, ""},
		"unknown target":         {http.MethodGet, "/api/v1/targets/flaskapp/prod", http.StatusNotFound, "target"},
		"bad name":               {http.MethodGet, "/api/v1/targets/Flask_App/testing", http.StatusBadRequest, "path"},
		"sync":                   {http.MethodPost, "/api/v1/targets/flaskapp/testing/sync", http.StatusAccepted, ""},
		"sync unknown":           {http.MethodPost, "/api/v1/targets/nope/prod/sync", http.StatusNotFound, "target"},
		"history without store":  {http.MethodGet, "/api/v1/targets/flaskapp/testing/history", http.StatusOK, ""},
		"history bad limit":      {http.MethodGet, "/api/v1/targets/flaskapp/testing/history?limit=x", http.StatusBadRequest, "limit"},
		"wrong method":           {http.MethodDelete, "/api/v1/targets/flaskapp/testing", http.StatusMethodNotAllowed, ""},
		"no such endpoint":       {http.MethodGet, "/api/v1/nothing", http.StatusNotFound, ""},
		"accounts without check": {http.MethodGet, "/api/v1/accounts", http.StatusOK, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := ts.do(t, tc.method, tc.path, adminSecret, "")
			if w.Code != tc.wantCode {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, w.Code, tc.wantCode, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if tc.wantCode >= 400 {
				var e Error
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" || e.Field != tc.wantField {
					t.Errorf("error body %s: want an error with field %q", w.Body, tc.wantField)
				}
			}
		})
	}
	if len(rec.synced) != 1 {
		t.Errorf("syncs queued = %v, want exactly flaskapp/testing once", rec.synced)
	}

	w := ts.do(t, http.MethodGet, "/api/v1/targets?app=other", adminSecret, "")
	var list TargetList
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Targets) != 1 || list.Targets[0].Application != "other" || list.Revision != "abc" {
		t.Errorf("filtered list = %+v (%v)", list, err)
	}
}
