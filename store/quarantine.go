package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// QuarantinedImage is an image digest a rollback took out of service. A
// rollback that only changed Git would be undone by the next push of the
// same image (or the next poll of its tag); the quarantine is what stops
// image automation and docker triggers from promoting it again. A newer
// image — any other digest — is promoted as usual.
type QuarantinedImage struct {
	Repository string    `json:"repository"` // host[:port]/path
	Digest     string    `json:"digest"`     // sha256:…
	Tag        string    `json:"tag,omitempty"`
	Target     string    `json:"target,omitempty"` // app/target rolled back
	Reason     string    `json:"reason,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
}

// Quarantine records an image digest as quarantined; quarantining it again
// keeps the first record.
func (s *Store) Quarantine(ctx context.Context, q QuarantinedImage) error {
	if q.Repository == "" || q.Digest == "" {
		return errors.New("quarantine: repository and digest are required")
	}
	if q.CreatedAt.IsZero() {
		q.CreatedAt = time.Now()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO quarantine (repository, digest, tag, target, reason, actor, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository, digest) DO NOTHING`,
		q.Repository, q.Digest, q.Tag, q.Target, q.Reason, q.Actor, formatTime(q.CreatedAt))
	if err != nil {
		return fmt.Errorf("quarantine %s@%s: %w", q.Repository, q.Digest, err)
	}
	return nil
}

// Quarantined reports whether an image digest is quarantined, and why.
func (s *Store) Quarantined(ctx context.Context, repository, digest string) (QuarantinedImage, bool, error) {
	if digest == "" {
		return QuarantinedImage{}, false, nil
	}
	row := s.r.QueryRowContext(ctx, `SELECT repository, digest, tag, target, reason, actor, created_at
		FROM quarantine WHERE repository = ? AND digest = ?`, repository, digest)
	q, err := scanQuarantine(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return QuarantinedImage{}, false, nil
	}
	if err != nil {
		return QuarantinedImage{}, false, fmt.Errorf("quarantine %s@%s: %w", repository, digest, err)
	}
	return q, true, nil
}

// QuarantineList returns every quarantined image, newest first.
func (s *Store) QuarantineList(ctx context.Context) ([]QuarantinedImage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT repository, digest, tag, target, reason, actor, created_at
		FROM quarantine ORDER BY created_at DESC, repository, digest`)
	if err != nil {
		return nil, fmt.Errorf("quarantine list: %w", err)
	}
	defer rows.Close()
	var out []QuarantinedImage
	for rows.Next() {
		q, err := scanQuarantine(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("quarantine list: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// Unquarantine lets an image digest be promoted again; ErrNotFound when it
// was not quarantined.
func (s *Store) Unquarantine(ctx context.Context, repository, digest string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM quarantine WHERE repository = ? AND digest = ?`, repository, digest)
	if err != nil {
		return fmt.Errorf("unquarantine %s@%s: %w", repository, digest, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("unquarantine %s@%s: %w", repository, digest, ErrNotFound)
	}
	return nil
}

func scanQuarantine(scan func(...any) error) (QuarantinedImage, error) {
	var q QuarantinedImage
	var at sql.NullString
	if err := scan(&q.Repository, &q.Digest, &q.Tag, &q.Target, &q.Reason, &q.Actor, &at); err != nil {
		return q, err
	}
	t, err := parseTime(at)
	q.CreatedAt = t
	return q, err
}
