package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// execution returns a valid record of app's pipeline.
func execution(app, pipeline, status string) ExecutionRecord {
	return ExecutionRecord{Application: app, Pipeline: pipeline, Status: status, Doc: []byte(`{"stages":[]}`)}
}

func TestCreateExecutionRoundTrip(t *testing.T) {
	s := openMemory(t)
	shanghai := time.FixedZone("CST", 8*3600)
	in := ExecutionRecord{
		ID:          99, // ignored
		Application: "flaskapp",
		Pipeline:    "deployTesting",
		Status:      "running",
		DedupKey:    "delivery:github:abc",
		CreatedAt:   t0.In(shanghai), // stored and returned as UTC
		UpdatedAt:   t0.Add(time.Second).In(shanghai),
	}
	id, created, err := s.CreateExecutionFunc(t.Context(), in, func(id int64) ([]byte, error) {
		return fmt.Appendf(nil, `{"id":%d}`, id), nil
	})
	if err != nil || !created || id == 0 || id == 99 {
		t.Fatalf("CreateExecutionFunc = %d, %v, %v; want a new id", id, created, err)
	}
	got, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = id, t0, t0.Add(time.Second)
	want.Doc = fmt.Appendf(nil, `{"id":%d}`, id)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}

	// Zero times: created now, updated = created; no dedup key.
	before := time.Now()
	id2, created, err := s.CreateExecution(t.Context(), execution("flaskapp", "deployTesting", "queued"))
	if err != nil || !created || id2 <= id {
		t.Fatalf("second CreateExecution = %d, %v, %v; want a new id above %d", id2, created, err, id)
	}
	got, err = s.Execution(t.Context(), id2)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.Before(before.Add(-time.Second)) || !got.UpdatedAt.Equal(got.CreatedAt) || got.DedupKey != "" ||
		string(got.Doc) != `{"stages":[]}` {
		t.Errorf("execution with zero times = %+v", got)
	}
}

func TestCreateExecutionDedup(t *testing.T) {
	s := openMemory(t)
	first := execution("web", "deploy", "running")
	first.DedupKey = "delivery:1"
	id, created, err := s.CreateExecution(t.Context(), first)
	if err != nil || !created {
		t.Fatalf("first = %d, %v, %v", id, created, err)
	}
	want, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}

	// Another key, and no key at all (twice), are all new executions.
	for _, key := range []string{"delivery:2", "", ""} {
		r := execution("web", "deploy", "queued")
		r.DedupKey = key
		if _, created, err := s.CreateExecution(t.Context(), r); err != nil || !created {
			t.Fatalf("key %q: created=%v err=%v, want a new execution", key, created, err)
		}
	}

	again := ExecutionRecord{Application: "other", Pipeline: "other", Status: "failed", DedupKey: "delivery:1",
		CreatedAt: t0, Doc: []byte(`{"second":true}`)}
	called := false
	id2, created, err := s.CreateExecutionFunc(t.Context(), again, func(int64) ([]byte, error) {
		called = true
		return again.Doc, nil
	})
	if err != nil || created || id2 != id {
		t.Fatalf("same key = %d, %v, %v; want %d, false, nil", id2, created, err, id)
	}
	if called {
		t.Error("the document function ran for an existing key")
	}
	got, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first execution changed (-before +after):\n%s", diff)
	}
	if all, _ := s.ListExecutions(t.Context(), ExecutionFilter{}); len(all) != 4 {
		t.Errorf("%d executions stored, want 4", len(all))
	}
}

func TestCreateExecutionRefused(t *testing.T) {
	s := openMemory(t)
	okDoc := func(int64) ([]byte, error) { return []byte(`{}`), nil }
	tests := map[string]struct {
		rec     ExecutionRecord
		doc     func(int64) ([]byte, error)
		wantErr string
	}{
		"no application": {ExecutionRecord{Pipeline: "p", Status: "queued"}, okDoc, "application is empty"},
		"no pipeline":    {ExecutionRecord{Application: "a", Status: "queued"}, okDoc, "a: pipeline is empty"},
		"no status":      {ExecutionRecord{Application: "a", Pipeline: "p"}, okDoc, "a/p: status is empty"},
		"nil doc func":   {execution("a", "p", "queued"), nil, "nil document function"},
		"doc fails": {execution("a", "p", "queued"),
			func(int64) ([]byte, error) { return nil, errors.New("boom") }, "a/p: document: boom"},
		"doc not JSON": {execution("a", "p", "queued"),
			func(int64) ([]byte, error) { return []byte(`{"id":`), nil }, "not valid JSON"},
		"doc empty": {execution("a", "p", "queued"),
			func(int64) ([]byte, error) { return nil, nil }, "not valid JSON"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.rec.DedupKey = name // a failed create must not claim its key either
			_, _, err := s.CreateExecutionFunc(t.Context(), tc.rec, tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if _, _, err := s.CreateExecution(t.Context(), ExecutionRecord{Application: "a", Pipeline: "p", Status: "queued"}); err == nil {
		t.Error("CreateExecution without a document succeeded")
	}
	if all, _ := s.ListExecutions(t.Context(), ExecutionFilter{}); len(all) != 0 {
		t.Fatalf("refused executions were stored: %+v", all)
	}
	// The keys of failed creates are free.
	r := execution("a", "p", "queued")
	r.DedupKey = "doc fails"
	if _, created, err := s.CreateExecution(t.Context(), r); err != nil || !created {
		t.Errorf("key of a failed create: created=%v err=%v, want created", created, err)
	}
}

func TestUpdateExecution(t *testing.T) {
	s := openMemory(t)
	r := execution("web", "deploy", "queued")
	r.CreatedAt = t0
	id, _, err := s.CreateExecution(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if err := s.UpdateExecution(t.Context(), id, "succeeded", []byte(`{"done":true}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "succeeded" || string(got.Doc) != `{"done":true}` || !got.CreatedAt.Equal(t0) ||
		got.UpdatedAt.Before(before) || got.Application != "web" || got.Pipeline != "deploy" {
		t.Errorf("after update = %+v", got)
	}

	for name, tc := range map[string]struct {
		id      int64
		status  string
		doc     string
		wantErr string
	}{
		"missing":      {id + 100, "failed", `{}`, "not found"},
		"empty status": {id, "", `{}`, "status is empty"},
		"not JSON":     {id, "failed", `nope`, "not valid JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			err := s.UpdateExecution(t.Context(), tc.id, tc.status, []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if err := s.UpdateExecution(t.Context(), id+100, "failed", []byte(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing execution: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Execution(t.Context(), id+100); !errors.Is(err, ErrNotFound) {
		t.Errorf("Execution of a missing id: err = %v, want ErrNotFound", err)
	}
	if got2, _ := s.Execution(t.Context(), id); got2.Status != "succeeded" {
		t.Errorf("a refused update changed the execution: %+v", got2)
	}
}

// executionIDs returns the IDs of rs, for compact comparisons.
func executionIDs(rs []ExecutionRecord) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestListExecutions(t *testing.T) {
	s := openMemory(t)
	for _, r := range []ExecutionRecord{
		execution("web", "deploy", "succeeded"), // 1
		execution("web", "deploy", "failed"),    // 2
		execution("web", "promote", "running"),  // 3
		execution("api", "deploy", "running"),   // 4
		execution("web", "deploy", "waiting"),   // 5
		execution("api", "deploy", "queued"),    // 6
		execution("web", "deploy", "running"),   // 7
	} {
		if _, _, err := s.CreateExecution(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}

	tests := map[string]struct {
		f    ExecutionFilter
		want []int64
	}{
		"all, newest first":       {ExecutionFilter{}, []int64{7, 6, 5, 4, 3, 2, 1}},
		"application":             {ExecutionFilter{Application: "web"}, []int64{7, 5, 3, 2, 1}},
		"pipeline of application": {ExecutionFilter{Application: "web", Pipeline: "deploy"}, []int64{7, 5, 2, 1}},
		"pipeline name only":      {ExecutionFilter{Pipeline: "deploy"}, []int64{7, 6, 5, 4, 2, 1}},
		"one status":              {ExecutionFilter{Statuses: []string{"running"}}, []int64{7, 4, 3}},
		"unfinished": {ExecutionFilter{Statuses: []string{"queued", "running", "waiting"}},
			[]int64{7, 6, 5, 4, 3}},
		"status and pipeline": {ExecutionFilter{Application: "web", Pipeline: "deploy", Statuses: []string{"running", "failed"}},
			[]int64{7, 2}},
		"limit":             {ExecutionFilter{Limit: 3}, []int64{7, 6, 5}},
		"negative limit":    {ExecutionFilter{Limit: -1}, []int64{7, 6, 5, 4, 3, 2, 1}},
		"page":              {ExecutionFilter{Limit: 3, BeforeID: 5}, []int64{4, 3, 2}},
		"last page":         {ExecutionFilter{Limit: 3, BeforeID: 2}, []int64{1}},
		"past the end":      {ExecutionFilter{BeforeID: 1}, nil},
		"page with filter":  {ExecutionFilter{Application: "web", BeforeID: 5, Limit: 2}, []int64{3, 2}},
		"unknown app":       {ExecutionFilter{Application: "nope"}, nil},
		"unknown status":    {ExecutionFilter{Statuses: []string{"bogus"}}, nil},
		"pipeline of other": {ExecutionFilter{Application: "api", Pipeline: "promote"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := s.ListExecutions(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, executionIDs(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			for _, r := range got {
				if string(r.Doc) != `{"stages":[]}` {
					t.Errorf("execution %d: doc %q", r.ID, r.Doc)
				}
			}
		})
	}
}

func TestListExecutionsDefaultLimit(t *testing.T) {
	s := openMemory(t)
	for range defaultExecutionLimit + 5 {
		if _, _, err := s.CreateExecution(t.Context(), execution("web", "deploy", "succeeded")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListExecutions(t.Context(), ExecutionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 || got[0].ID != defaultExecutionLimit+5 {
		t.Errorf("got %d executions starting at %d, want the newest 50", len(got), got[0].ID)
	}
}

// TestCreateExecutionDedupConcurrent: goroutines racing to start the same
// execution (the same delivery processed twice) create exactly one.
func TestCreateExecutionDedupConcurrent(t *testing.T) {
	for name, path := range map[string]string{
		"memory": memoryPath,
		"file":   filepath.Join(t.TempDir(), "slipway.db"),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const n = 10
			var (
				wg      sync.WaitGroup
				created atomic.Int64
				ids     = make([]int64, n)
			)
			for i := range n {
				wg.Go(func() {
					r := execution("web", "deploy", "queued")
					r.DedupKey = "delivery:same"
					id, ok, err := s.CreateExecutionFunc(t.Context(), r, func(id int64) ([]byte, error) {
						return fmt.Appendf(nil, `{"id":%d,"by":%d}`, id, i), nil
					})
					if err != nil {
						t.Error(err)
					}
					if ok {
						created.Add(1)
					}
					ids[i] = id
				})
			}
			wg.Wait()
			if created.Load() != 1 {
				t.Errorf("%d goroutines created an execution, want exactly 1", created.Load())
			}
			for i, id := range ids {
				if id != ids[0] || id == 0 {
					t.Errorf("goroutine %d got id %d, goroutine 0 got %d; want the same id", i, id, ids[0])
				}
			}
			all, err := s.ListExecutions(t.Context(), ExecutionFilter{})
			if err != nil || len(all) != 1 {
				t.Fatalf("stored %d executions (%v), want 1", len(all), err)
			}
			if !strings.HasPrefix(string(all[0].Doc), fmt.Sprintf(`{"id":%d,`, all[0].ID)) {
				t.Errorf("doc = %s, want it to hold id %d", all[0].Doc, all[0].ID)
			}
		})
	}
}

func TestExecutionsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	r := execution("web", "deploy", "waiting")
	r.DedupKey, r.CreatedAt = "delivery:1", t0
	id, _, err := s.CreateExecution(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Execution(t.Context(), id)
	if err != nil {
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
	got, err := s.Execution(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	unfinished, err := s.ListExecutions(t.Context(), ExecutionFilter{Statuses: []string{"queued", "running", "waiting"}})
	if err != nil || len(unfinished) != 1 || unfinished[0].ID != id {
		t.Errorf("unfinished after reopen = %v (%v), want [%d]", executionIDs(unfinished), err, id)
	}
	// The dedup key still holds.
	if id2, created, err := s.CreateExecution(t.Context(), r); err != nil || created || id2 != id {
		t.Errorf("same key after reopen = %d, %v, %v; want %d, false", id2, created, err, id)
	}
}

// TestMigrationsUpgrade opens, with every migration, databases left by each
// earlier schema version holding data, as an upgraded server does.
func TestMigrationsUpgrade(t *testing.T) {
	migs, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for from := 3; from < len(migs); from++ {
		t.Run(fmt.Sprintf("from %04d", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "slipway.db")
			old, err := open(t.Context(), path, migs[:from])
			if err != nil {
				t.Fatal(err)
			}
			synced := record("web", "prod", t0, ResultSucceeded)
			if _, err := old.RecordSync(t.Context(), &synced); err != nil {
				t.Fatal(err)
			}
			if _, err := old.InsertDelivery(t.Context(), &Delivery{Provider: "github", Receiver: "r", DeliveryID: "d1", Body: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}

			s, err := open(t.Context(), path, migs)
			if err != nil {
				t.Fatalf("upgrade from %d: %v", from, err)
			}
			defer s.Close()
			rows := migrationRows(t, s)
			if len(rows) != len(migs) || rows[len(rows)-1].Name != migs[len(migs)-1].name {
				t.Fatalf("schema_migrations = %+v, want all %d", rows, len(migs))
			}
			if got, _, err := s.LastSync(t.Context(), "web", "prod"); err != nil || got == nil || got.ID != synced.ID {
				t.Errorf("sync record after upgrade = %+v, %v", got, err)
			}
			if pending, err := s.PendingDeliveries(t.Context(), 10); err != nil || len(pending) != 1 {
				t.Errorf("pending deliveries after upgrade = %d, %v; want 1", len(pending), err)
			}
			// The new tables work.
			if _, _, err := s.CreateExecution(t.Context(), execution("web", "deploy", "queued")); err != nil {
				t.Error(err)
			}
			if _, _, err := s.CreateToken(t.Context(), Token{Name: "ci", Role: "deployer"}); err != nil {
				t.Error(err)
			}
			if err := s.Audit(t.Context(), AuditRecord{Actor: "token:ci", Action: "release.create", Outcome: "ok"}); err != nil {
				t.Error(err)
			}
		})
	}
}
