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

// ErrNotFound means the record asked for does not exist (or no longer does).
// Errors that wrap it name what was looked for; test with errors.Is.
var ErrNotFound = errors.New("not found")

// ExecutionRecord is one stored pipeline execution.
//
// The store does not know the pipeline types: it keeps the fields lists are
// filtered by as columns, and the execution itself as an opaque JSON
// document, so package pipeline can change its types without a migration.
type ExecutionRecord struct {
	ID          int64 // assigned by CreateExecution (INTEGER PRIMARY KEY AUTOINCREMENT: ids are never reused)
	Application string
	Pipeline    string
	Status      string
	// DedupKey, when not empty, is unique: creating a second execution with
	// the same key returns the first. It is what makes "this webhook delivery
	// starts this pipeline" happen once even when the delivery is processed
	// again after a crash.
	DedupKey  string
	CreatedAt time.Time
	UpdatedAt time.Time
	Doc       []byte // the execution as JSON, owned by package pipeline
}

// CreateExecution inserts rec (ID is ignored) and returns its id. When
// rec.DedupKey is set and an execution with that key exists, it returns that
// execution's id and created=false, changing nothing. A zero CreatedAt means
// now, a zero UpdatedAt means CreatedAt.
func (s *Store) CreateExecution(ctx context.Context, rec ExecutionRecord) (id int64, created bool, err error) {
	return s.CreateExecutionFunc(ctx, rec, func(int64) ([]byte, error) { return rec.Doc, nil })
}

// CreateExecutionFunc inserts like CreateExecution, calling doc(id) inside
// the same transaction to produce the document once the id is known: the
// document contains the id, and writing a row without it first would leave
// a half-made execution for a crash to expose. rec.Doc is ignored.
//
// doc runs while the store's single write connection is held, so it must be
// quick and must not call the Store (that would wait for itself forever). It
// is not called when the dedup key finds an existing execution; when it fails
// nothing is stored.
func (s *Store) CreateExecutionFunc(ctx context.Context, rec ExecutionRecord, doc func(id int64) ([]byte, error)) (id int64, created bool, err error) {
	if err := checkExecution(rec.Application, rec.Pipeline, rec.Status); err != nil {
		return 0, false, fmt.Errorf("create execution: %w", err)
	}
	if doc == nil {
		return 0, false, fmt.Errorf("create execution %s/%s: nil document function", rec.Application, rec.Pipeline)
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now()
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = rec.CreatedAt
	}
	dedup := sql.NullString{String: rec.DedupKey, Valid: rec.DedupKey != ""}

	err = inTx(ctx, s.w, func(tx *sql.Tx) error {
		// The transaction holds the write lock from BEGIN (txlock=immediate),
		// so nothing can insert the same key between this look and the insert.
		if dedup.Valid {
			err := tx.QueryRowContext(ctx, `SELECT id FROM executions WHERE dedup_key = ?`, dedup).Scan(&id)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		// The document is written once the id exists; '{}' never commits.
		res, err := tx.ExecContext(ctx, `INSERT INTO executions
			(application, pipeline, status, dedup_key, created_at, updated_at, doc)
			VALUES (?, ?, ?, ?, ?, ?, '{}')`,
			rec.Application, rec.Pipeline, rec.Status, dedup, formatTime(rec.CreatedAt), formatTime(rec.UpdatedAt))
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		b, err := doc(id)
		if err != nil {
			return fmt.Errorf("document: %w", err)
		}
		if err := checkDoc(b); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE executions SET doc = ? WHERE id = ?`, string(b), id); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("create execution %s/%s: %w", rec.Application, rec.Pipeline, err)
	}
	return id, created, nil
}

// UpdateExecution replaces the status and document of execution id
// (ErrNotFound when missing) and sets UpdatedAt to now.
func (s *Store) UpdateExecution(ctx context.Context, id int64, status string, doc []byte) error {
	if status == "" {
		return fmt.Errorf("update execution %d: status is empty", id)
	}
	if err := checkDoc(doc); err != nil {
		return fmt.Errorf("update execution %d: %w", id, err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE executions SET status = ?, doc = ?, updated_at = ? WHERE id = ?`,
		status, string(doc), formatTime(time.Now()), id)
	if err != nil {
		return fmt.Errorf("update execution %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update execution %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("update execution %d: %w", id, ErrNotFound)
	}
	return nil
}

// Execution returns one execution; ErrNotFound when missing.
func (s *Store) Execution(ctx context.Context, id int64) (ExecutionRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = ?`, id)
	if err != nil {
		return ExecutionRecord{}, fmt.Errorf("execution %d: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return ExecutionRecord{}, fmt.Errorf("execution %d: %w", id, err)
		}
		return ExecutionRecord{}, fmt.Errorf("execution %d: %w", id, ErrNotFound)
	}
	rec, err := scanExecution(rows)
	if err != nil {
		return ExecutionRecord{}, fmt.Errorf("execution %d: %w", id, err)
	}
	return rec, nil
}

// defaultExecutionLimit is how many executions a list returns when the
// filter does not say: a console page.
const defaultExecutionLimit = 50

// ExecutionFilter selects executions; zero fields match all.
type ExecutionFilter struct {
	Application string
	Pipeline    string
	Statuses    []string // matches any of them
	Limit       int      // 0 (or less) means 50
	// BeforeID > 0 returns only executions older than it (id < BeforeID):
	// pass the last id of a page to get the next one. Paging by id rather
	// than offset stays correct while new executions are created.
	BeforeID int64
}

// ListExecutions returns the executions f selects, newest first (id
// descending), documents included.
func (s *Store) ListExecutions(ctx context.Context, f ExecutionFilter) ([]ExecutionRecord, error) {
	var q strings.Builder
	q.WriteString(`SELECT ` + executionColumns + ` FROM executions WHERE 1=1`)
	var args []any
	if f.Application != "" {
		q.WriteString(` AND application = ?`)
		args = append(args, f.Application)
	}
	if f.Pipeline != "" {
		q.WriteString(` AND pipeline = ?`)
		args = append(args, f.Pipeline)
	}
	if len(f.Statuses) > 0 {
		q.WriteString(` AND status IN (?` + strings.Repeat(`, ?`, len(f.Statuses)-1) + `)`)
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.BeforeID > 0 {
		q.WriteString(` AND id < ?`)
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultExecutionLimit
	}
	q.WriteString(` ORDER BY id DESC LIMIT ?`)
	args = append(args, limit)

	rows, err := s.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	var out []ExecutionRecord
	for rows.Next() {
		rec, err := scanExecution(rows)
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	return out, nil
}

func checkExecution(app, pipeline, status string) error {
	switch {
	case app == "":
		return errors.New("application is empty")
	case pipeline == "":
		return fmt.Errorf("%s: pipeline is empty", app)
	case status == "":
		return fmt.Errorf("%s/%s: status is empty", app, pipeline)
	}
	return nil
}

// checkDoc refuses a document that is not JSON: the store cannot read it,
// but whoever reads it back after a restart must be able to.
func checkDoc(doc []byte) error {
	if !json.Valid(doc) {
		return errors.New("document is not valid JSON")
	}
	return nil
}

const executionColumns = `id, application, pipeline, status, dedup_key, created_at, updated_at, doc`

func scanExecution(rows *sql.Rows) (ExecutionRecord, error) {
	var (
		rec              ExecutionRecord
		dedup            sql.NullString
		created, updated sql.NullString
		doc              string
	)
	if err := rows.Scan(&rec.ID, &rec.Application, &rec.Pipeline, &rec.Status, &dedup, &created, &updated, &doc); err != nil {
		return rec, err
	}
	rec.DedupKey = dedup.String
	rec.Doc = []byte(doc)
	var err error
	if rec.CreatedAt, err = parseTime(created); err != nil {
		return rec, fmt.Errorf("execution %d: %w", rec.ID, err)
	}
	if rec.UpdatedAt, err = parseTime(updated); err != nil {
		return rec, fmt.Errorf("execution %d: %w", rec.ID, err)
	}
	return rec, nil
}
