package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// InitBare creates the embedded default config repo: a bare repo at path
// whose branch has one commit holding seed's files (seed may be nil for an
// empty tree). If path already holds a repo it is left alone. It returns a
// URL that Open accepts (the absolute path).
func InitBare(path, branch string, seed fs.FS, msg string, author Identity) (string, error) {
	if branch == "" {
		branch = "main"
	}
	if author == (Identity{}) {
		author = DefaultAuthor
	}
	if msg == "" {
		msg = "Initial config"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("gitstore: init %s: %w", path, err)
	}
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("gitstore: init %s branch %s: %w", abs, branch, err)
	}
	if _, err := git.PlainOpen(abs); err == nil {
		return abs, nil
	} else if !errors.Is(err, git.ErrRepositoryNotExists) {
		return fail(err)
	}
	if ents, err := os.ReadDir(abs); err == nil && len(ents) > 0 {
		return fail(errors.New("path exists and is not an empty directory or a git repository"))
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if err := ref.Validate(); err != nil {
		return fail(err)
	}

	files := map[string]leaf{}
	repo, err := git.PlainInitWithOptions(abs, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: ref},
	})
	if err != nil {
		return fail(err)
	}
	sto := repo.Storer
	if seed != nil {
		err := fs.WalkDir(seed, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(seed, p)
			if err != nil {
				return err
			}
			h, err := writeBlob(sto, data)
			if err != nil {
				return err
			}
			mode := filemode.Regular
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o111 != 0 {
				mode = filemode.Executable
			}
			files[p] = leaf{hash: h, mode: mode}
			return nil
		})
		if err != nil {
			return fail(fmt.Errorf("read seed: %w", err))
		}
	}
	tree, err := writeTrees(sto, files)
	if err != nil {
		return fail(err)
	}
	message, err := formatMessage(msg, nil)
	if err != nil {
		return fail(err)
	}
	sig := object.Signature{Name: author.Name, Email: author.Email, When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: tree}
	obj := sto.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return fail(err)
	}
	h, err := sto.SetEncodedObject(obj)
	if err != nil {
		return fail(err)
	}
	if err := sto.SetReference(plumbing.NewHashReference(ref, h)); err != nil {
		return fail(err)
	}
	return abs, nil
}
