package store

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestEmbeddedMigrationsLoad(t *testing.T) {
	migs, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) == 0 || migs[0].name != "0001_sync_history.sql" {
		t.Fatalf("embedded migrations = %v, want 0001_sync_history.sql first", migs)
	}
}

func TestLoadMigrationsRefusesBadSets(t *testing.T) {
	tests := map[string]struct {
		files   fstest.MapFS
		wantErr string
	}{
		"gap": {
			files:   fstest.MapFS{"0001_a.sql": {}, "0003_c.sql": {}},
			wantErr: "0003_c.sql: expected version 0002",
		},
		"repeat": {
			files:   fstest.MapFS{"0001_a.sql": {}, "0001_b.sql": {}},
			wantErr: "expected version 0002",
		},
		"does not start at 1": {
			files:   fstest.MapFS{"0002_b.sql": {}},
			wantErr: "expected version 0001",
		},
		"bad name": {
			files:   fstest.MapFS{"1_Add Table.sql": {}},
			wantErr: "name must look like",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := loadMigrations(tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

type migrationRow struct {
	Version         int
	Name, AppliedAt string
}

func migrationRows(t *testing.T, s *Store) []migrationRow {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.Version, &r.Name, &r.AppliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrationsAppliedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	// Neither step is idempotent: running one twice fails the open.
	m1 := migration{version: 1, name: "0001_a.sql", sql: `CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);`}
	m2 := migration{version: 2, name: "0002_b.sql", sql: `CREATE TABLE b (y INTEGER);`}

	s, err := open(t.Context(), path, []migration{m1})
	if err != nil {
		t.Fatal(err)
	}
	first := migrationRows(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		s, err = open(t.Context(), path, []migration{m1, m2})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		got := migrationRows(t, s)
		if len(got) != 2 || got[1].Version != 2 || got[1].Name != "0002_b.sql" {
			t.Fatalf("schema_migrations = %+v, want versions 1 and 2", got)
		}
		if diff := cmp.Diff(first[0], got[0]); diff != "" {
			t.Errorf("version 1 row changed on reopen (-before +after):\n%s", diff)
		}
		var n int
		if err := s.r.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM a`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows in a = %d, %v; want 1 (migration 1 ran once)", n, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	m1 := migration{version: 1, name: "0001_a.sql", sql: `CREATE TABLE a (x INTEGER);`}
	bad := migration{version: 2, name: "0002_bad.sql", sql: `CREATE TABLE b (y INTEGER); INSERT INTO missing VALUES (1);`}

	_, err := open(t.Context(), path, []migration{m1, bad})
	if err == nil || !strings.Contains(err.Error(), "migration 0002_bad.sql") {
		t.Fatalf("open err = %v, want it to name the failed migration", err)
	}

	s, err := open(t.Context(), path, []migration{m1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := migrationRows(t, s); len(got) != 1 {
		t.Errorf("schema_migrations = %+v, want only version 1", got)
	}
	var name string
	err = s.r.QueryRowContext(t.Context(), `SELECT name FROM sqlite_master WHERE name = 'b'`).Scan(&name)
	if !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("table b exists after its migration failed (err %v)", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.w.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', '2030-01-01T00:00:00.000000000Z')`)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = Open(t.Context(), path)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open err = %v, want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), "version 999") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q should name the file and its version", err)
	}
}
