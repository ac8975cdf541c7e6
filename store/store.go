package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// memoryPath opens a private in-memory database, for tests.
const memoryPath = ":memory:"

// busyTimeout is how long a connection waits for a lock held by another
// process (a second server on the same file, a backup, the sqlite3 shell)
// before giving up. Within one process writes never contend: see Store.
const busyTimeout = 10 * time.Second

// maxReaders bounds the read pool. Reads are short; a handful is plenty for
// the API and console.
const maxReaders = 4

// Store is the handle on Slipway's database. It is safe for concurrent use.
//
// It holds two pools on the same file: w has exactly one connection, so all
// writes are serialized by database/sql instead of colliding inside SQLite,
// and r has several read-only connections, which WAL mode lets run alongside
// the writer. For an in-memory database both are the same single connection,
// because each connection to ":memory:" would otherwise be its own database.
type Store struct {
	path string
	w    *sql.DB
	r    *sql.DB

	// Deliveries are inserted by one goroutine in group commits: every
	// insert waiting when a transaction starts shares its one fsync.
	inserts     chan insertReq
	stopBatch   chan struct{}
	batcherDone chan struct{}
}

// Open opens the database at path, creating it if needed, and brings its
// schema up to date. path is a file name, or ":memory:" for a private
// in-memory database that disappears on Close. Open fails with
// ErrNewerSchema if the file was migrated by a newer Slipway.
func Open(ctx context.Context, path string) (*Store, error) {
	migs, err := embeddedMigrations()
	if err != nil {
		return nil, err
	}
	return open(ctx, path, migs)
}

func open(ctx context.Context, path string, migs []migration) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	// The driver reads connection options after the first '?', so a path
	// containing one would be silently cut short.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("store: database path %q: must not contain '?'", path)
	}

	s := &Store{path: path}
	w, err := sql.Open("sqlite", path+"?"+writerOptions(path).Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w, s.r = w, w

	if err := w.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := migrate(ctx, w, migs); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}

	if path != memoryPath {
		r, err := sql.Open("sqlite", path+"?"+readerOptions().Encode())
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("store: open %s for reading: %w", path, err)
		}
		r.SetMaxOpenConns(maxReaders)
		r.SetMaxIdleConns(maxReaders)
		s.r = r
	}
	s.inserts, s.stopBatch, s.batcherDone = make(chan insertReq), make(chan struct{}), make(chan struct{})
	go s.insertBatches()
	return s, nil
}

// writerOptions are the driver's DSN parameters for the write connection.
func writerOptions(path string) url.Values {
	v := url.Values{}
	v.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	v.Set("_foreign_keys", "on")
	if path != memoryPath {
		v.Set("_journal_mode", "WAL") // readers do not block the writer, nor it them
	}
	// FULL: a commit is on disk before it returns, so an event acknowledged
	// to a webhook sender survives a power cut, not only a crash.
	v.Set("_synchronous", "FULL")
	// Take the write lock at BEGIN, so a transaction never fails half-way
	// when another process holds it; it waits busy_timeout instead.
	v.Set("_txlock", "immediate")
	return v
}

// readerOptions are the driver's DSN parameters for read connections.
func readerOptions() url.Values {
	v := url.Values{}
	v.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	v.Set("_foreign_keys", "on")
	v.Set("_query_only", "on") // a write on the read pool is a bug; make it fail
	return v
}

// Close closes the database. The Store must not be used afterwards.
func (s *Store) Close() error {
	if s.stopBatch != nil {
		close(s.stopBatch)
		<-s.batcherDone
	}
	var errs []error
	if s.r != nil && s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// inTx runs fn in a transaction on db, committing if fn returns nil and
// rolling back otherwise.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// timeLayout is RFC 3339 in UTC with a fixed nine-digit fraction, so stored
// times keep nanoseconds and sort correctly as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime converts t to its stored form; the zero time is stored as NULL.
func formatTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: t.UTC().Format(timeLayout), Valid: true}
}

// parseTime is the inverse of formatTime; it returns times in UTC.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(timeLayout, s.String, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s.String, err)
	}
	return t.UTC(), nil
}
