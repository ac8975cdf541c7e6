package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAuditRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	shanghai := time.FixedZone("CST", 8*3600)
	in := AuditRecord{
		ID:      77, // ignored
		At:      t0.In(shanghai),
		Actor:   "gitea:alice",
		Action:  "release.approve",
		Subject: "release 42",
		Outcome: "denied: role viewer may not approve",
		Detail:  `{"stage":"approve prod"}`,
	}
	if err := s.Audit(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	// Entries survive a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	got, err := s.AuditLog(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.At = 1, t0
	if diff := cmp.Diff([]AuditRecord{want}, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got[0].At.Location() != time.UTC || got[0].At.Nanosecond() != t0.Nanosecond() {
		t.Errorf("At = %v, want %v in UTC to the nanosecond", got[0].At, t0)
	}

	// A zero time means now.
	before := time.Now().Add(-time.Second)
	if err := s.Audit(t.Context(), AuditRecord{Actor: "token:ci", Action: "release.create", Subject: "web/deploy", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.AuditLog(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Action != "release.create" || got[0].At.Before(before) || got[0].At.After(time.Now()) {
		t.Errorf("entry with zero time = %+v, want it at now", got)
	}
}

func TestAuditRefused(t *testing.T) {
	s := openMemory(t)
	for name, tc := range map[string]struct {
		r       AuditRecord
		wantErr string
	}{
		"no actor":  {AuditRecord{Action: "release.create", Outcome: "ok"}, "release.create: actor is empty"},
		"no action": {AuditRecord{Actor: "token:ci", Outcome: "ok"}, "by token:ci: action is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.Audit(t.Context(), tc.r); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if got, _ := s.AuditLog(t.Context(), 0); len(got) != 0 {
		t.Errorf("refused entries were stored: %+v", got)
	}
}

func TestAuditLogOrderAndLimit(t *testing.T) {
	s := openMemory(t)
	// Written out of time order, two at the same time: newest first by
	// time, then by id.
	for i, at := range []time.Time{
		t0.Add(2 * time.Minute), // 1
		t0,                      // 2
		t0.Add(time.Minute),     // 3
		t0.Add(2 * time.Minute), // 4
	} {
		r := AuditRecord{At: at, Actor: "token:ci", Action: fmt.Sprintf("action.%d", i+1), Outcome: "ok"}
		if err := s.Audit(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		limit int
		want  []int64
	}{
		"default":        {0, []int64{4, 1, 3, 2}},
		"negative":       {-5, []int64{4, 1, 3, 2}},
		"limit":          {2, []int64{4, 1}},
		"limit above n":  {10, []int64{4, 1, 3, 2}},
		"limit of one":   {1, []int64{4}},
		"limit of three": {3, []int64{4, 1, 3}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := s.AuditLog(t.Context(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range got {
				ids = append(ids, r.ID)
				if r.Action != fmt.Sprintf("action.%d", r.ID) {
					t.Errorf("entry %d has action %q", r.ID, r.Action)
				}
			}
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuditLogDefaultLimit(t *testing.T) {
	s := openMemory(t)
	for i := range defaultAuditLimit + 10 {
		r := AuditRecord{At: t0.Add(time.Duration(i) * time.Second), Actor: "token:ci", Action: "release.create", Outcome: "ok"}
		if err := s.Audit(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.AuditLog(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 || got[0].ID != defaultAuditLimit+10 {
		t.Errorf("got %d entries starting at %d, want the newest 100", len(got), got[0].ID)
	}
}
