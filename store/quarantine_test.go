package store

import (
	"errors"
	"testing"
)

func TestQuarantine(t *testing.T) {
	s := openMemory(t)
	ctx := t.Context()
	const repo, bad, good = "registry.test/web", "sha256:bad", "sha256:good"
	if _, ok, err := s.Quarantined(ctx, repo, bad); err != nil || ok {
		t.Fatalf("before: %v %v", ok, err)
	}
	if err := s.Quarantine(ctx, QuarantinedImage{Repository: repo, Digest: bad, Tag: "v2", Target: "web/testing", Reason: "rollback", Actor: "gitea:alice"}); err != nil {
		t.Fatal(err)
	}
	// Quarantining again keeps the first record.
	if err := s.Quarantine(ctx, QuarantinedImage{Repository: repo, Digest: bad, Reason: "again"}); err != nil {
		t.Fatal(err)
	}
	q, ok, err := s.Quarantined(ctx, repo, bad)
	if err != nil || !ok || q.Reason != "rollback" || q.Tag != "v2" || q.CreatedAt.IsZero() {
		t.Fatalf("quarantined: %+v %v %v", q, ok, err)
	}
	if _, ok, _ := s.Quarantined(ctx, repo, good); ok {
		t.Fatal("another digest of the same repository is quarantined")
	}
	if _, ok, _ := s.Quarantined(ctx, "registry.test/other", bad); ok {
		t.Fatal("the same digest in another repository is quarantined")
	}
	list, err := s.QuarantineList(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := s.Unquarantine(ctx, repo, bad); err != nil {
		t.Fatal(err)
	}
	if err := s.Unquarantine(ctx, repo, bad); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second unquarantine: %v", err)
	}
	if err := s.Quarantine(ctx, QuarantinedImage{Repository: repo}); err == nil {
		t.Fatal("a quarantine without digest was accepted")
	}
}
