package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Store looks up a secret by name. It is the one thing the rest of Slipway
// needs from a secret backend, so consumers depend on this, not on a backend.
type Store interface {
	// Get returns the secret's value, or an error wrapping ErrNotFound if
	// the store does not have it. Callers must not log the value.
	Get(ctx context.Context, name string) ([]byte, error)
}

// ErrNotFound means a store does not hold the named secret. Chain moves on
// to the next store only on this error; any other error (unreadable file,
// API refused) stops the lookup, so a broken store is never silently skipped.
var ErrNotFound = errors.New("secret not found")

// notFound is the error every store returns for a missing secret.
func notFound(name string) error {
	return fmt.Errorf("secret %q: %w", name, ErrNotFound)
}

// maxNameLen matches the longest Kubernetes Secret data key.
const maxNameLen = 253

// checkName refuses names that are not a plain single path element made of
// letters, digits, '.', '_' and '-', or that start with '.'. This keeps Dir
// inside its directory (no "/", "..", or the hidden "..data" entries of a
// mounted Secret volume) and makes every name valid in every store.
func checkName(name string) error {
	if name == "" {
		return errors.New("secret name is empty")
	}
	if strings.HasPrefix(name, ".") {
		return fmt.Errorf("secret name %q must not start with '.'", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("secret name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("secret name %q is longer than %d characters", name[:32]+"…", maxNameLen)
	}
	return nil
}

// Chain looks a secret up in each store in order and returns the first
// value found, so an operator can layer, say, environment overrides over a
// mounted directory. It returns ErrNotFound only if no store has the secret,
// and any other error at once.
type Chain []Store

// Get implements Store.
func (c Chain) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	for _, s := range c {
		v, err := s.Get(ctx, name)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, notFound(name)
}

// String lists the stores in Parse's syntax, for a startup log line.
func (c Chain) String() string {
	parts := make([]string, len(c))
	for i, s := range c {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, ",")
}
