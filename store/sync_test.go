package store

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

// record returns a valid sync record started at start.
func record(app, target string, start time.Time, result string) SyncRecord {
	return SyncRecord{
		Application: app,
		Target:      target,
		Revision:    "4f2a9c1e0b7d",
		Trigger:     "webhook",
		StartedAt:   start,
		FinishedAt:  start.Add(1500 * time.Millisecond),
		Result:      result,
		Health:      "Healthy",
	}
}

func TestRecordSyncRoundTrip(t *testing.T) {
	s := openMemory(t)
	shanghai := time.FixedZone("CST", 8*3600)
	in := SyncRecord{
		Application: "web",
		Target:      "prod",
		Revision:    "4f2a9c1e0b7d",
		Trigger:     "drift",
		StartedAt:   t0.In(shanghai), // stored and returned as UTC
		FinishedAt:  t0.Add(2 * time.Second).In(shanghai),
		Result:      ResultFailed,
		Health:      "Degraded",
		Error:       `Deployment/prod/web apply failed: field is immutable`,
		Changes: []Change{
			{Kind: "Namespace", Name: "prod", Action: "unchanged"},
			{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "web", Action: "configured"},
			{Kind: "ConfigMap", Namespace: "prod", Name: "old", Action: "pruned"},
		},
	}
	id, err := s.RecordSync(t.Context(), &in)
	if err != nil {
		t.Fatal(err)
	}
	if id == 0 || in.ID != id {
		t.Fatalf("RecordSync returned id %d and set ID %d, want the same non-zero id", id, in.ID)
	}

	got, ok, err := s.LastSync(t.Context(), "web", "prod")
	if err != nil || !ok {
		t.Fatalf("LastSync = %v, %v", ok, err)
	}
	if diff := cmp.Diff(in, *got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got.StartedAt.Location() != time.UTC || got.FinishedAt.Location() != time.UTC {
		t.Errorf("times returned in %v and %v, want UTC", got.StartedAt.Location(), got.FinishedAt.Location())
	}
	if !got.StartedAt.Equal(t0) || got.StartedAt.Nanosecond() != t0.Nanosecond() {
		t.Errorf("StartedAt = %v, want %v to the nanosecond", got.StartedAt, t0)
	}
}

func TestRecordSyncOptionalFields(t *testing.T) {
	s := openMemory(t)
	in := SyncRecord{Application: "web", Target: "prod", StartedAt: t0, Result: ResultSkipped}
	if _, err := s.RecordSync(t.Context(), &in); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.LastSync(t.Context(), "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	// Zero FinishedAt and nil Changes come back as they went in.
	if diff := cmp.Diff(in, *got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestRecordSyncRefusesInvalid(t *testing.T) {
	tests := map[string]struct {
		edit    func(*SyncRecord)
		wantErr string
	}{
		"no application": {func(r *SyncRecord) { r.Application = "" }, "application is empty"},
		"no target":      {func(r *SyncRecord) { r.Target = "" }, "web: target is empty"},
		"no start time":  {func(r *SyncRecord) { r.StartedAt = time.Time{} }, "web/prod: started time is zero"},
		"unknown result": {func(r *SyncRecord) { r.Result = "ok" }, `result "ok" is not one of`},
		"empty result":   {func(r *SyncRecord) { r.Result = "" }, `result "" is not one of`},
	}
	s := openMemory(t)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := record("web", "prod", t0, ResultSucceeded)
			tc.edit(&r)
			_, err := s.RecordSync(t.Context(), &r)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if _, err := s.RecordSync(t.Context(), nil); err == nil {
		t.Error("RecordSync(nil) succeeded")
	}
	if all, _ := s.SyncHistory(t.Context(), "", "", 0); len(all) != 0 {
		t.Errorf("invalid records were stored: %v", all)
	}
}

// ids returns the IDs of rs, for compact comparisons.
func ids(rs []SyncRecord) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestSyncHistoryOrderAndLimit(t *testing.T) {
	s := openMemory(t)
	// Recorded out of start order, and two with the same start time, to show
	// order is by start time, newest first, then by ID.
	for _, r := range []SyncRecord{
		record("web", "prod", t0.Add(2*time.Minute), ResultSucceeded),  // 1
		record("web", "prod", t0, ResultFailed),                        // 2
		record("web", "prod", t0.Add(1*time.Minute), ResultSucceeded),  // 3
		record("web", "staging", t0.Add(5*time.Minute), ResultSkipped), // 4
		record("api", "prod", t0.Add(9*time.Minute), ResultSucceeded),  // 5
		record("web", "prod", t0.Add(2*time.Minute), ResultSucceeded),  // 6
	} {
		if _, err := s.RecordSync(t.Context(), &r); err != nil {
			t.Fatal(err)
		}
	}

	tests := map[string]struct {
		app, target string
		limit       int
		want        []int64
	}{
		"target, all":          {"web", "prod", 0, []int64{6, 1, 3, 2}},
		"target, limit":        {"web", "prod", 2, []int64{6, 1}},
		"limit above count":    {"web", "staging", 10, []int64{4}},
		"application":          {"web", "", 3, []int64{4, 6, 1}},
		"everything":           {"", "", 0, []int64{5, 4, 6, 1, 3, 2}},
		"unknown target":       {"web", "dev", 0, nil},
		"target of other app":  {"api", "staging", 0, nil},
		"negative limit = all": {"web", "prod", -1, []int64{6, 1, 3, 2}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := s.SyncHistory(t.Context(), tc.app, tc.target, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}

	last, ok, err := s.LastSync(t.Context(), "web", "prod")
	if err != nil || !ok || last.ID != 6 {
		t.Errorf("LastSync = %+v, %v, %v; want record 6", last, ok, err)
	}
	if _, ok, err := s.LastSync(t.Context(), "web", "dev"); ok || err != nil {
		t.Errorf("LastSync of a never-synced target = %v, %v; want false, nil", ok, err)
	}
}

func TestPruneSyncHistory(t *testing.T) {
	s := openMemory(t)
	for i := range 5 {
		for _, target := range []string{"prod", "staging"} {
			r := record("web", target, t0.Add(time.Duration(i)*time.Minute), ResultSucceeded)
			if _, err := s.RecordSync(t.Context(), &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := record("api", "prod", t0, ResultSucceeded)
	if _, err := s.RecordSync(t.Context(), &r); err != nil {
		t.Fatal(err)
	}

	n, err := s.PruneSyncHistory(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("pruned %d, want 6 (3 from each web target, none from api)", n)
	}
	for _, target := range []string{"prod", "staging"} {
		got, err := s.SyncHistory(t.Context(), "web", target, 0)
		if err != nil {
			t.Fatal(err)
		}
		var starts []time.Time
		for _, r := range got {
			starts = append(starts, r.StartedAt)
		}
		want := []time.Time{t0.Add(4 * time.Minute), t0.Add(3 * time.Minute)}
		if diff := cmp.Diff(want, starts); diff != "" {
			t.Errorf("web/%s kept (-want +got):\n%s", target, diff)
		}
	}
	if _, ok, _ := s.LastSync(t.Context(), "api", "prod"); !ok {
		t.Error("api/prod lost its only record")
	}

	if n, err := s.PruneSyncHistory(t.Context(), 2); err != nil || n != 0 {
		t.Errorf("second prune = %d, %v; want 0, nil", n, err)
	}
	for _, keep := range []int{0, -1} {
		if _, err := s.PruneSyncHistory(t.Context(), keep); err == nil {
			t.Errorf("PruneSyncHistory(%d) succeeded, want it refused", keep)
		}
	}
}
