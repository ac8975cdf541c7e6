package store

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var secretFormat = regexp.MustCompile(`^swt_[0-9A-Za-z]{40}$`)

func TestCreateToken(t *testing.T) {
	s := openMemory(t)
	in := Token{ID: 42, Name: "ci", Role: "deployer", Projects: []string{"shop", "blog"}, CreatedBy: "token:admin",
		LastUsedAt: t0} // ID and LastUsedAt are not the caller's to set
	secret, saved, err := s.CreateToken(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !secretFormat.MatchString(secret) {
		t.Errorf("secret %q does not look like swt_ and 40 base62 characters", secret)
	}
	if saved.ID == 0 || saved.ID == 42 || saved.CreatedAt.IsZero() || !saved.LastUsedAt.IsZero() ||
		saved.CreatedAt.Location() != time.UTC {
		t.Errorf("saved = %+v", saved)
	}

	// The secret is not stored, only its hash.
	var row string
	if err := s.r.QueryRowContext(t.Context(), `SELECT concat_ws(' ', name, secret_sha256, role, projects, created_by)
		FROM tokens WHERE id = ?`, saved.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, secret[len(tokenPrefix):]) || !strings.Contains(row, hashSecret(secret)) {
		t.Errorf("stored row %q: want the secret's hash, not the secret", row)
	}

	got, err := s.TokenBySecret(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt.IsZero() {
		t.Error("LastUsedAt not recorded on first use")
	}
	want := saved
	want.LastUsedAt = got.LastUsedAt
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TokenBySecret (-want +got):\n%s", diff)
	}

	// Secrets differ from token to token.
	secret2, _, err := s.CreateToken(t.Context(), Token{Name: "other", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret {
		t.Error("two tokens got the same secret")
	}
}

func TestCreateTokenRefused(t *testing.T) {
	s := openMemory(t)
	const secret = "bootstrap-secret-0123456789"
	if _, err := s.CreateTokenWithSecret(t.Context(), Token{Name: "admin", Role: "admin", Projects: []string{"*"}}, secret); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		tok     Token
		secret  string
		wantErr string
		is      error
	}{
		"duplicate name":     {Token{Name: "admin", Role: "viewer"}, "another-long-secret-xyz", `"admin"`, ErrTokenExists},
		"no name":            {Token{Role: "viewer"}, "another-long-secret-xyz", "name is empty", nil},
		"no role":            {Token{Name: "x"}, "another-long-secret-xyz", "role is empty", nil},
		"short secret":       {Token{Name: "x", Role: "viewer"}, "admin", "shorter than 16", nil},
		"trailing newline":   {Token{Name: "x", Role: "viewer"}, "another-long-secret-xyz\n", "white space", nil},
		"another's secret":   {Token{Name: "x", Role: "viewer"}, secret, "another token's", nil},
		"duplicate and same": {Token{Name: "admin", Role: "admin"}, secret, "exists", ErrTokenExists},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := s.CreateTokenWithSecret(t.Context(), tc.tok, tc.secret)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	if _, _, err := s.CreateToken(t.Context(), Token{Name: "admin", Role: "admin"}); !errors.Is(err, ErrTokenExists) {
		t.Errorf("CreateToken with a taken name: err = %v, want ErrTokenExists", err)
	}
	if toks, _ := s.Tokens(t.Context()); len(toks) != 1 {
		t.Errorf("refused tokens were stored: %+v", toks)
	}
}

func TestTokenBySecret(t *testing.T) {
	s := openMemory(t)
	secret, _, err := s.CreateToken(t.Context(), Token{Name: "ci", Role: "deployer", Projects: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	const boot = "bootstrap-secret-0123456789"
	if _, err := s.CreateTokenWithSecret(t.Context(), Token{Name: "admin", Role: "admin", Projects: []string{"*"}}, boot); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		secret, want string // want "" is ErrNotFound
	}{
		"generated":       {secret, "ci"},
		"given":           {boot, "admin"},
		"wrong":           {secret[:len(secret)-1] + "0", ""},
		"prefix only":     {"swt_", ""},
		"empty":           {"", ""},
		"surrounded":      {" " + secret, ""},
		"other case":      {strings.ToUpper(boot), ""},
		"hash not secret": {hashSecret(secret), ""},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := s.TokenBySecret(t.Context(), tc.secret)
			if tc.want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("err = %v (token %+v), want ErrNotFound", err, got)
				}
				return
			}
			if err != nil || got.Name != tc.want {
				t.Errorf("token = %q, %v; want %q", got.Name, err, tc.want)
			}
		})
	}
}

func TestTokenLastUsed(t *testing.T) {
	s := openMemory(t)
	secret, _, err := s.CreateToken(t.Context(), Token{Name: "ci", Role: "deployer"})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() time.Time {
		t.Helper()
		toks, err := s.Tokens(t.Context())
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens = %+v, %v", toks, err)
		}
		return toks[0].LastUsedAt
	}
	if !stored().IsZero() {
		t.Fatal("LastUsedAt set before first use")
	}

	before := time.Now().Add(-time.Second)
	first, err := s.TokenBySecret(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if first.LastUsedAt.Before(before) || !stored().Equal(first.LastUsedAt) {
		t.Fatalf("after first use: returned %v, stored %v", first.LastUsedAt, stored())
	}

	// Within the minute, uses are not written.
	again, err := s.TokenBySecret(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if !again.LastUsedAt.Equal(first.LastUsedAt) || !stored().Equal(first.LastUsedAt) {
		t.Errorf("second use within a minute: returned %v, stored %v; want %v unchanged",
			again.LastUsedAt, stored(), first.LastUsedAt)
	}

	// A minute later, the next use is.
	old := first.LastUsedAt.Add(-2 * time.Minute)
	if _, err := s.w.ExecContext(t.Context(), `UPDATE tokens SET last_used_at = ?`, formatTime(old)); err != nil {
		t.Fatal(err)
	}
	later, err := s.TokenBySecret(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if !later.LastUsedAt.After(first.LastUsedAt) || !stored().Equal(later.LastUsedAt) {
		t.Errorf("use after a minute: returned %v, stored %v; want after %v", later.LastUsedAt, stored(), first.LastUsedAt)
	}
}

func TestTokensListAndDelete(t *testing.T) {
	s := openMemory(t)
	secrets := map[string]string{}
	for _, tok := range []Token{
		{Name: "zeta", Role: "viewer", Projects: []string{"blog"}},
		{Name: "admin", Role: "admin", Projects: []string{"*"}, CreatedBy: "bootstrap"},
		{Name: "ci", Role: "deployer", Projects: []string{"shop", "blog"}, CreatedAt: t0},
		{Name: "none", Role: "viewer"}, // no projects: an empty list, not null
	} {
		secret, _, err := s.CreateToken(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		secrets[tok.Name] = secret
	}
	toks, err := s.Tokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name, Role, CreatedBy string
		Projects              []string
	}
	var got []row
	for _, tok := range toks {
		got = append(got, row{tok.Name, tok.Role, tok.CreatedBy, tok.Projects})
	}
	want := []row{
		{"admin", "admin", "bootstrap", []string{"*"}},
		{"ci", "deployer", "", []string{"shop", "blog"}},
		{"none", "viewer", "", []string{}},
		{"zeta", "viewer", "", []string{"blog"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens by name (-want +got):\n%s", diff)
	}
	if !toks[1].CreatedAt.Equal(t0) {
		t.Errorf("ci created at %v, want %v", toks[1].CreatedAt, t0)
	}

	if err := s.DeleteToken(t.Context(), "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenBySecret(t.Context(), secrets["ci"]); !errors.Is(err, ErrNotFound) {
		t.Errorf("secret of a deleted token: err = %v, want ErrNotFound", err)
	}
	if _, err := s.TokenBySecret(t.Context(), secrets["zeta"]); err != nil {
		t.Errorf("other tokens stop working after a delete: %v", err)
	}
	if err := s.DeleteToken(t.Context(), "ci"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
	// The name is free again, with a new secret.
	if _, _, err := s.CreateToken(t.Context(), Token{Name: "ci", Role: "viewer"}); err != nil {
		t.Errorf("name of a deleted token: %v", err)
	}
}

func TestTokensSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	secret, saved, err := s.CreateToken(t.Context(), Token{Name: "ci", Role: "deployer", Projects: []string{"shop"}})
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
	got, err := s.TokenBySecret(t.Context(), secret)
	if err != nil {
		t.Fatal(err)
	}
	saved.LastUsedAt = got.LastUsedAt
	if diff := cmp.Diff(saved, got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	// With separate read and write pools, the use is recorded too.
	toks, err := s.Tokens(t.Context())
	if err != nil || len(toks) != 1 || toks[0].LastUsedAt.IsZero() {
		t.Errorf("tokens = %+v, %v; want LastUsedAt recorded", toks, err)
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 1000 {
		s := newSecret()
		if !secretFormat.MatchString(s) || seen[s] {
			t.Fatalf("secret %q: bad format or repeated", s)
		}
		seen[s] = true
		for _, c := range s[len(tokenPrefix):] {
			counts[c]++
		}
	}
	// 40,000 characters over 62: every one shows up, none wildly often.
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want all 62", len(counts))
	}
	for c, n := range counts {
		if n < 400 || n > 900 {
			t.Errorf("character %q appears %d times in 40000, want about 645", c, n)
		}
	}
}
