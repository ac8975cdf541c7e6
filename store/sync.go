package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Results a sync can end with; RecordSync accepts only these.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
	ResultSkipped   = "skipped" // nothing to do, or policy said not to
)

// Change is what a sync did to one object, as the reconciler's change set
// reported it. It is kept with the sync so "what did that deploy touch?"
// can be answered after the fact.
type Change struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    string `json:"action"` // created | configured | unchanged | pruned | skipped
}

// SyncRecord is one finished sync of an application's target: the row the
// console's history view and "last synced" badge are built from.
type SyncRecord struct {
	ID          int64 // assigned by RecordSync
	Application string
	Target      string
	Revision    string // config repo commit that was applied
	Trigger     string // what asked for the sync: "poll", "webhook", "drift", "resync", "manual"…
	StartedAt   time.Time
	FinishedAt  time.Time // may be zero
	Result      string    // ResultSucceeded, ResultFailed or ResultSkipped
	Health      string    // "Healthy", "Progressing", "Degraded", "Unknown"
	Error       string
	Changes     []Change
}

// RecordSync stores r and returns its ID, which it also sets in r.ID.
// Application, Target, StartedAt and a known Result are required.
func (s *Store) RecordSync(ctx context.Context, r *SyncRecord) (int64, error) {
	if err := checkSyncRecord(r); err != nil {
		return 0, fmt.Errorf("record sync: %w", err)
	}
	var changes sql.NullString
	if len(r.Changes) > 0 {
		b, err := json.Marshal(r.Changes)
		if err != nil {
			return 0, fmt.Errorf("record sync %s/%s: %w", r.Application, r.Target, err)
		}
		changes = sql.NullString{String: string(b), Valid: true}
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO sync_history
		(application, target, revision, triggered_by, started_at, finished_at, result, health, error, changes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Application, r.Target, r.Revision, r.Trigger, formatTime(r.StartedAt), formatTime(r.FinishedAt),
		r.Result, r.Health, r.Error, changes)
	if err != nil {
		return 0, fmt.Errorf("record sync %s/%s: %w", r.Application, r.Target, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("record sync %s/%s: %w", r.Application, r.Target, err)
	}
	r.ID = id
	return id, nil
}

func checkSyncRecord(r *SyncRecord) error {
	switch {
	case r == nil:
		return errors.New("nil record")
	case r.Application == "":
		return errors.New("application is empty")
	case r.Target == "":
		return fmt.Errorf("%s: target is empty", r.Application)
	case r.StartedAt.IsZero():
		return fmt.Errorf("%s/%s: started time is zero", r.Application, r.Target)
	}
	switch r.Result {
	case ResultSucceeded, ResultFailed, ResultSkipped:
		return nil
	}
	return fmt.Errorf("%s/%s: result %q is not one of %s, %s, %s",
		r.Application, r.Target, r.Result, ResultSucceeded, ResultFailed, ResultSkipped)
}

// SyncHistory returns the syncs of app's target, newest (by start time)
// first, at most limit of them; limit <= 0 means all. An empty app or target
// matches any, so SyncHistory(ctx, "web", "", 20) is the application's
// history across its targets.
func (s *Store) SyncHistory(ctx context.Context, app, target string, limit int) ([]SyncRecord, error) {
	q := strings.Builder{}
	q.WriteString(`SELECT id, application, target, revision, triggered_by, started_at, finished_at,
		result, health, error, changes FROM sync_history WHERE 1=1`)
	var args []any
	if app != "" {
		q.WriteString(` AND application = ?`)
		args = append(args, app)
	}
	if target != "" {
		q.WriteString(` AND target = ?`)
		args = append(args, target)
	}
	q.WriteString(` ORDER BY started_at DESC, id DESC`)
	if limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, limit)
	}

	rows, err := s.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("sync history %s/%s: %w", app, target, err)
	}
	defer rows.Close()
	var out []SyncRecord
	for rows.Next() {
		r, err := scanSyncRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("sync history %s/%s: %w", app, target, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sync history %s/%s: %w", app, target, err)
	}
	return out, nil
}

// LastSync returns the most recent sync of app's target; false if it has
// never been synced (or its history was pruned away).
func (s *Store) LastSync(ctx context.Context, app, target string) (*SyncRecord, bool, error) {
	rs, err := s.SyncHistory(ctx, app, target, 1)
	if err != nil || len(rs) == 0 {
		return nil, false, err
	}
	return &rs[0], true, nil
}

// PruneSyncHistory deletes all but the newest keepPerTarget syncs of every
// application target and returns how many it deleted, so the history stays
// bounded however long the server runs. keepPerTarget must be at least 1: a
// zero from an unset option must not wipe the history.
func (s *Store) PruneSyncHistory(ctx context.Context, keepPerTarget int) (int64, error) {
	if keepPerTarget < 1 {
		return 0, fmt.Errorf("prune sync history: keep %d per target: must be at least 1", keepPerTarget)
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM sync_history WHERE id IN (
		SELECT id FROM (
			SELECT id, ROW_NUMBER() OVER (
				PARTITION BY application, target ORDER BY started_at DESC, id DESC) AS n
			FROM sync_history)
		WHERE n > ?)`, keepPerTarget)
	if err != nil {
		return 0, fmt.Errorf("prune sync history: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune sync history: %w", err)
	}
	return n, nil
}

func scanSyncRecord(rows *sql.Rows) (SyncRecord, error) {
	var (
		r                 SyncRecord
		started, finished sql.NullString
		changes           sql.NullString
	)
	err := rows.Scan(&r.ID, &r.Application, &r.Target, &r.Revision, &r.Trigger, &started, &finished,
		&r.Result, &r.Health, &r.Error, &changes)
	if err != nil {
		return r, err
	}
	if r.StartedAt, err = parseTime(started); err != nil {
		return r, fmt.Errorf("sync %d: %w", r.ID, err)
	}
	if r.FinishedAt, err = parseTime(finished); err != nil {
		return r, fmt.Errorf("sync %d: %w", r.ID, err)
	}
	if changes.Valid {
		if err := json.Unmarshal([]byte(changes.String), &r.Changes); err != nil {
			return r, fmt.Errorf("sync %d: changes: %w", r.ID, err)
		}
	}
	return r, nil
}
