package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrTokenExists means a token of that name exists already; names are how
// people refer to tokens (revoke "ci"), so they must be unique.
var ErrTokenExists = errors.New("token exists")

// Token is an API token's record; the secret itself is never stored, only
// its SHA-256, so reading the database (or a backup of it) does not reveal
// working credentials.
type Token struct {
	ID   int64  `json:"id"`
	Name string `json:"name"` // unique
	Role string `json:"role"` // viewer, deployer or admin — the store does not interpret it
	// Projects are the projects the token applies to; ["*"] means all.
	Projects   []string  `json:"projects"`
	CreatedBy  string    `json:"createdBy,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
}

// tokenPrefix starts every secret CreateToken makes, so a leaked one is
// recognisable to people and to secret scanners.
const tokenPrefix = "swt_"

// secretChars is the alphabet of generated secrets: base62, so a secret is
// one word to double-click, with no characters a shell or URL would mangle.
const secretChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// secretLen is the number of random characters in a generated secret:
// 40 base62 characters carry 238 bits.
const secretLen = 40

// minSecretLen is the shortest secret CreateTokenWithSecret accepts: a
// bootstrap secret is chosen by a person, and "admin" would be guessed.
const minSecretLen = 16

// lastUsedEvery is how stale LastUsedAt may get: a token used by every
// request of a busy CI job must not turn each of them into a disk write.
const lastUsedEvery = time.Minute

// CreateToken stores a new token and returns its secret, which is shown
// once: only its hash is kept. The secret is "swt_" followed by 40 random
// base62 characters. t.ID is ignored; a zero CreatedAt means now. A duplicate
// name is ErrTokenExists.
func (s *Store) CreateToken(ctx context.Context, t Token) (secret string, saved Token, err error) {
	secret = newSecret()
	saved, err = s.CreateTokenWithSecret(ctx, t, secret)
	if err != nil {
		return "", Token{}, err
	}
	return secret, saved, nil
}

// CreateTokenWithSecret stores a token with a given secret, for a bootstrap
// admin token read from a file; the same rules as CreateToken apply. The
// secret must be at least 16 characters with no surrounding white space (a
// newline left from the file would make the token unusable), and must not be
// another token's.
func (s *Store) CreateTokenWithSecret(ctx context.Context, t Token, secret string) (Token, error) {
	switch {
	case t.Name == "":
		return Token{}, errors.New("create token: name is empty")
	case t.Role == "":
		return Token{}, fmt.Errorf("create token %q: role is empty", t.Name)
	case len(secret) < minSecretLen:
		return Token{}, fmt.Errorf("create token %q: secret is shorter than %d characters", t.Name, minSecretLen)
	case strings.TrimSpace(secret) != secret:
		return Token{}, fmt.Errorf("create token %q: secret starts or ends with white space", t.Name)
	}
	t.ID, t.LastUsedAt = 0, time.Time{}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	t.CreatedAt = t.CreatedAt.UTC()
	// An empty list, not null: the API shows "projects": [] either way.
	t.Projects = slices.Clone(t.Projects)
	if t.Projects == nil {
		t.Projects = []string{}
	}
	projects, err := json.Marshal(t.Projects)
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	hash := hashSecret(secret)

	err = inTx(ctx, s.w, func(tx *sql.Tx) error {
		// Checked rather than read from the constraint error, to tell the
		// two unique columns apart; the transaction holds the write lock.
		if taken, err := hasRow(ctx, tx, `SELECT 1 FROM tokens WHERE name = ?`, t.Name); err != nil {
			return err
		} else if taken {
			return ErrTokenExists
		}
		if taken, err := hasRow(ctx, tx, `SELECT 1 FROM tokens WHERE secret_sha256 = ?`, hash); err != nil {
			return err
		} else if taken {
			return errors.New("the secret is another token's") // which one stays unsaid
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, secret_sha256, role, projects, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			t.Name, hash, t.Role, string(projects), t.CreatedBy, formatTime(t.CreatedAt))
		if err != nil {
			return err
		}
		t.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	return t, nil
}

// TokenBySecret finds the token whose secret this is; ErrNotFound when none.
//
// It looks up the SHA-256 of secret, never the secret: the comparison is of
// hashes, so how long it takes tells an attacker nothing about any secret.
// It also records LastUsedAt, at most once a minute per token so requests do
// not each cost a write. That record is best effort: a failed write does not
// fail the lookup, as it must not lock out the admin who would fix the disk.
func (s *Store) TokenBySecret(ctx context.Context, secret string) (Token, error) {
	if secret == "" {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE secret_sha256 = ?`, hashSecret(secret))
	if err != nil {
		return Token{}, fmt.Errorf("token: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Token{}, fmt.Errorf("token: %w", err)
		}
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	t, err := scanToken(rows)
	if err != nil {
		return Token{}, fmt.Errorf("token: %w", err)
	}
	// Done with the read before writing: for ":memory:" both pools are the
	// same single connection.
	if err := rows.Close(); err != nil {
		return Token{}, fmt.Errorf("token: %w", err)
	}

	now := time.Now().UTC()
	if now.Sub(t.LastUsedAt) < lastUsedEvery {
		return t, nil
	}
	// The condition repeats the check in the database, so concurrent first
	// uses (or another server on the file) record it once.
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
		formatTime(now), t.ID, formatTime(now.Add(-lastUsedEvery)))
	if err == nil {
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			t.LastUsedAt = now
		}
	}
	return t, nil
}

// Tokens returns all tokens, by name.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// DeleteToken deletes the token named name, which stops its secret working
// at once; ErrNotFound when there is none.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete token %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete token %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("delete token %q: %w", name, ErrNotFound)
	}
	return nil
}

// newSecret returns tokenPrefix and secretLen random base62 characters.
func newSecret() string {
	b := make([]byte, 0, len(tokenPrefix)+secretLen)
	b = append(b, tokenPrefix...)
	var buf [64]byte
	for len(b) < cap(b) {
		rand.Read(buf[:]) // never fails: since Go 1.24 it crashes the program instead
		for _, r := range buf {
			// 248 is 4×62: dropping the bytes above keeps every character
			// equally likely.
			if r >= 248 {
				continue
			}
			b = append(b, secretChars[r%62])
			if len(b) == cap(b) {
				break
			}
		}
	}
	return string(b)
}

// hasRow reports whether query, run in tx, returns a row.
func hasRow(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// hashSecret is the stored form of a secret: its SHA-256, in hex. A secret
// has far more entropy than a password, so a plain fast hash is enough.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

const tokenColumns = `id, name, role, projects, created_by, created_at, last_used_at`

func scanToken(rows *sql.Rows) (Token, error) {
	var (
		t                 Token
		projects          string
		created, lastUsed sql.NullString
	)
	if err := rows.Scan(&t.ID, &t.Name, &t.Role, &projects, &t.CreatedBy, &created, &lastUsed); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(projects), &t.Projects); err != nil {
		return t, fmt.Errorf("token %q: projects: %w", t.Name, err)
	}
	if t.Projects == nil {
		t.Projects = []string{}
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return t, fmt.Errorf("token %q: %w", t.Name, err)
	}
	if t.LastUsedAt, err = parseTime(lastUsed); err != nil {
		return t, fmt.Errorf("token %q: %w", t.Name, err)
	}
	return t, nil
}
