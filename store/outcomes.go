package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PendingOutcome is a merged pull request whose outcome is still to be
// reported on it.
type PendingOutcome struct {
	Repo      string
	Number    int
	CreatedAt time.Time
}

// AddPendingOutcome records that a merged pull request awaits its outcome;
// recording it again changes nothing.
func (s *Store) AddPendingOutcome(ctx context.Context, repo string, number int) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO merge_outcomes (repo, number, created_at) VALUES (?, ?, ?)
		ON CONFLICT (repo, number) DO NOTHING`, repo, number, formatTime(time.Now()))
	if err != nil {
		return fmt.Errorf("pending outcome %s#%d: %w", repo, number, err)
	}
	return nil
}

// DonePendingOutcome forgets a pull request whose outcome was reported.
func (s *Store) DonePendingOutcome(ctx context.Context, repo string, number int) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM merge_outcomes WHERE repo = ? AND number = ?`, repo, number); err != nil {
		return fmt.Errorf("pending outcome %s#%d: %w", repo, number, err)
	}
	return nil
}

// PendingOutcomes lists the pull requests awaiting their outcome, oldest first.
func (s *Store) PendingOutcomes(ctx context.Context) ([]PendingOutcome, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT repo, number, created_at FROM merge_outcomes ORDER BY created_at, repo, number`)
	if err != nil {
		return nil, fmt.Errorf("pending outcomes: %w", err)
	}
	defer rows.Close()
	var out []PendingOutcome
	for rows.Next() {
		var p PendingOutcome
		var at sql.NullString
		if err := rows.Scan(&p.Repo, &p.Number, &at); err != nil {
			return nil, fmt.Errorf("pending outcomes: %w", err)
		}
		if p.CreatedAt, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
