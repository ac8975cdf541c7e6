package inbox

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

func push(id, tag string) webhooks.Delivery {
	origin := webhooks.Origin{Provider: "distribution", Receiver: "main", DeliveryID: id}
	return webhooks.Delivery{Provider: "distribution", Receiver: "main", ID: id, Event: "push", Body: []byte("{}"),
		ReceivedAt: time.Now(), Events: []webhooks.Event{webhooks.ImagePushed{Origin: origin, Registry: "reg", Repository: "app", Tag: tag}}}
}

// TestInbox: accepted deliveries survive a restart, are processed once and
// in order, a redelivery is acknowledged without running again, and the
// outcome is recorded.
func TestInbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	db, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	handle := func(_ context.Context, d store.Delivery, ev webhooks.Event) (string, error) {
		p := ev.(webhooks.ImagePushed)
		mu.Lock()
		seen = append(seen, p.Tag)
		mu.Unlock()
		if p.Tag == "bad" {
			return "", errors.New("cannot deploy bad")
		}
		return "bumped to " + p.Tag, nil
	}
	box := New(db, handle, nil)
	for _, d := range []webhooks.Delivery{push("1", "v1"), push("2", "v2"), push("1", "v1"), push("3", "bad")} {
		if err := box.Accept(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	// "Crash" before processing: reopen the store and work it off.
	db.Close()
	db, err = store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	box = New(db, handle, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { box.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pending, err := db.PendingDeliveries(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending", len(pending))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done

	mu.Lock()
	if got := len(seen); got != 3 || seen[0] != "v1" || seen[1] != "v2" || seen[2] != "bad" {
		t.Errorf("handled %v, want v1, v2, bad once each, in order", seen)
	}
	mu.Unlock()
	recent, err := db.RecentDeliveries(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1": store.DeliveryDone, "2": store.DeliveryDone, "3": store.DeliveryFailed}
	for _, d := range recent {
		if d.State != want[d.DeliveryID] {
			t.Errorf("delivery %s: state %s (%s), want %s", d.DeliveryID, d.State, d.Outcome, want[d.DeliveryID])
		}
	}
	if len(recent) != 3 {
		t.Errorf("%d deliveries stored, want 3 (the redelivery is not stored)", len(recent))
	}
}
