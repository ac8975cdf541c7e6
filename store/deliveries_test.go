package store

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDeliveries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	d := &Delivery{Provider: "distribution", Receiver: "main", DeliveryID: "abc", Event: "push",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"events":[]}`), Events: []byte(`[{"kind":"ping"}]`)}
	if dup, err := s.InsertDelivery(ctx, d); err != nil || dup || d.ID == 0 {
		t.Fatalf("first insert: dup=%v id=%d err=%v", dup, d.ID, err)
	}
	again := &Delivery{Provider: "distribution", Receiver: "main", DeliveryID: "abc", Body: []byte("other")}
	if dup, err := s.InsertDelivery(ctx, again); err != nil || !dup || again.ID != d.ID {
		t.Fatalf("redelivery: dup=%v id=%d (want %d) err=%v", dup, again.ID, d.ID, err)
	}
	other := &Delivery{Provider: "distribution", Receiver: "other", DeliveryID: "abc", Body: []byte("x")}
	if dup, err := s.InsertDelivery(ctx, other); err != nil || dup {
		t.Fatalf("same id on another receiver: dup=%v err=%v", dup, err)
	}
	if _, err := s.InsertDelivery(ctx, &Delivery{Provider: "x"}); err == nil {
		t.Error("a delivery without receiver and id was stored")
	}

	// Pending deliveries survive a restart, with body and headers.
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pending, err := s.PendingDeliveries(ctx, 10)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending = %d (%v), want 2", len(pending), err)
	}
	if string(pending[0].Events) != `[{"kind":"ping"}]` || string(pending[1].Events) != "[]" {
		t.Errorf("events = %s and %s", pending[0].Events, pending[1].Events)
	}
	if diff := cmp.Diff(d.Body, pending[0].Body); diff != "" || pending[0].Header.Get("Content-Type") != "application/json" {
		t.Errorf("stored delivery differs (-want +got):\n%s headers %v", diff, pending[0].Header)
	}

	if err := s.FinishDelivery(ctx, d.ID, DeliveryDone, "committed abc123\nsecond line dropped"); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, other.ID, "bogus", ""); err == nil {
		t.Error("a bad state was accepted")
	}
	pending, _ = s.PendingDeliveries(ctx, 10)
	if len(pending) != 1 || pending[0].ID != other.ID {
		t.Errorf("pending after finishing one = %+v", pending)
	}
	recent, err := s.RecentDeliveries(ctx, 10)
	if err != nil || len(recent) != 2 {
		t.Fatalf("recent = %d (%v)", len(recent), err)
	}
	var done Delivery
	for _, r := range recent {
		if r.ID == d.ID {
			done = r
		}
	}
	if done.State != DeliveryDone || done.Outcome != "committed abc123" || done.ProcessedAt.IsZero() || len(done.Body) != 0 {
		t.Errorf("finished delivery = %+v", done)
	}
}

// TestDeliveriesGroupCommit: concurrent inserts (some of the same delivery)
// share transactions; each gets its own answer and nothing is lost.
func TestDeliveriesGroupCommit(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	var wg sync.WaitGroup
	var dups atomic.Int64
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("d-%d", i%150) // 50 redeliveries
			dup, err := s.InsertDelivery(t.Context(), &Delivery{Provider: "github", Receiver: "r", DeliveryID: id, Body: []byte("{}")})
			if err != nil {
				t.Error(err)
			}
			if dup {
				dups.Add(1)
			}
		})
	}
	wg.Wait()
	pending, err := s.PendingDeliveries(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 150 || dups.Load() != 50 {
		t.Errorf("%d stored and %d duplicates, want 150 and 50", len(pending), dups.Load())
	}
}
