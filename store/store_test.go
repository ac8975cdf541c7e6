package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func openMemory(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for name, path := range map[string]string{
		"empty":         "",
		"question mark": filepath.Join(t.TempDir(), "a?b.db"),
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Open(t.Context(), path); err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", path)
			}
		})
	}
}

func TestOpenSettings(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	for _, tc := range []struct {
		pool, pragma, want string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "foreign_keys", "1"},
		{"writer", "busy_timeout", "10000"},
		{"reader", "journal_mode", "wal"},
		{"reader", "foreign_keys", "1"},
		{"reader", "query_only", "1"},
	} {
		db := s.w
		if tc.pool == "reader" {
			db = s.r
		}
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s PRAGMA %s = %q, want %q", tc.pool, tc.pragma, got, tc.want)
		}
	}

	if _, err := s.r.ExecContext(t.Context(), `DELETE FROM sync_history`); err == nil {
		t.Error("write through the read pool succeeded, want it refused")
	}
}

func TestFileSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	want := record("web", "prod", t0, ResultSucceeded)
	if _, err := s.RecordSync(t.Context(), &want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, ok, err := s.LastSync(t.Context(), "web", "prod")
	if err != nil || !ok {
		t.Fatalf("LastSync = %v, %v; want the record", ok, err)
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("record after reopen (-want +got):\n%s", diff)
	}
}

func TestConcurrentWrites(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const writers, each = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := record(fmt.Sprintf("app-%d", w), "prod", t0.Add(time.Duration(i)*time.Second), ResultSucceeded)
				if _, err := s.RecordSync(t.Context(), &r); err != nil {
					errs <- err
				}
				if _, err := s.SyncHistory(t.Context(), r.Application, "", 5); err != nil {
					errs <- err
				}
			}
		})
	}
	// Prune alongside the writers too: it is a write that touches every row.
	wg.Go(func() {
		for range 5 {
			if _, err := s.PruneSyncHistory(t.Context(), 1000); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	all, err := s.SyncHistory(t.Context(), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each {
		t.Errorf("got %d records, want %d", len(all), writers*each)
	}
}

func TestContextCancelled(t *testing.T) {
	s := openMemory(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := record("web", "prod", t0, ResultSucceeded)
	if _, err := s.RecordSync(ctx, &r); err == nil || !strings.Contains(err.Error(), "web/prod") {
		t.Errorf("RecordSync with cancelled context: err = %v, want an error naming web/prod", err)
	}
}
