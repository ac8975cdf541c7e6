package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditRecord is one entry of the audit log: who did what, when, and with
// what outcome. API actions and chat-ops commands write one each, denied
// ones included, so "who rolled back prod?" has an answer after the fact.
type AuditRecord struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`   // "token:ci", "gitea:alice"
	Action  string    `json:"action"`  // "release.create", "release.approve", "chatops.rollback"
	Subject string    `json:"subject"` // "flaskapp/deployTesting", "release 42"
	Outcome string    `json:"outcome"` // "ok", "denied: …", "error: …"
	Detail  string    `json:"detail,omitempty"`
}

// defaultAuditLimit is how many entries AuditLog returns when not told.
const defaultAuditLimit = 100

// Audit appends r to the audit log; r.ID is ignored and a zero At means now.
// Actor and Action are required: an entry that cannot say who did what is no
// use to anyone reading the log.
func (s *Store) Audit(ctx context.Context, r AuditRecord) error {
	switch {
	case r.Actor == "":
		return fmt.Errorf("audit %s: actor is empty", r.Action)
	case r.Action == "":
		return fmt.Errorf("audit by %s: action is empty", r.Actor)
	}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, subject, outcome, detail)
		VALUES (?, ?, ?, ?, ?, ?)`,
		formatTime(r.At), r.Actor, r.Action, r.Subject, r.Outcome, r.Detail)
	if err != nil {
		return fmt.Errorf("audit %s by %s: %w", r.Action, r.Actor, err)
	}
	return nil
}

// AuditLog returns the newest entries of the audit log, newest first (by
// At, then by id), at most limit of them; limit <= 0 means 100.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditRecord, error) {
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, actor, action, subject, outcome, detail
		FROM audit_log ORDER BY at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var (
			r  AuditRecord
			at sql.NullString
		)
		if err := rows.Scan(&r.ID, &at, &r.Actor, &r.Action, &r.Subject, &r.Outcome, &r.Detail); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		if r.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("audit log: entry %d: %w", r.ID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}
