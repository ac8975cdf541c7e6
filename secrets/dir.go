package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Dir reads secret name from the file Path/name. It suits a directory
// written by an operator as well as a Kubernetes Secret mounted as a volume
// (whose files are symlinks into a hidden "..data" directory; those links are
// followed, but nothing outside Path is ever read). The file's bytes are
// returned as they are, trailing newline included.
type Dir struct {
	Path string
}

// Get implements Store.
func (d Dir) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if d.Path == "" {
		return nil, fmt.Errorf("secret %q: secrets directory is not set", name)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	// os.Root refuses any path, symlink target included, that leaves d.Path.
	root, err := os.OpenRoot(d.Path)
	if err != nil {
		return nil, fmt.Errorf("secret %q: secrets directory: %w", name, err)
	}
	defer root.Close()
	v, err := root.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	return v, nil
}

// String returns the store in Parse's syntax.
func (d Dir) String() string { return "dir:" + d.Path }
