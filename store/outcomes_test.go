package store

import "testing"

func TestPendingOutcomes(t *testing.T) {
	s := openMemory(t)
	ctx := t.Context()
	for range 2 {
		if err := s.AddPendingOutcome(ctx, "team/config", 7); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPendingOutcome(ctx, "team/config", 8); err != nil {
		t.Fatal(err)
	}
	list, err := s.PendingOutcomes(ctx)
	if err != nil || len(list) != 2 || list[0].Number != 7 || list[0].CreatedAt.IsZero() {
		t.Fatalf("pending: %+v %v", list, err)
	}
	if err := s.DonePendingOutcome(ctx, "team/config", 7); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.PendingOutcomes(ctx); len(list) != 1 || list[0].Number != 8 {
		t.Fatalf("after done: %+v", list)
	}
}
