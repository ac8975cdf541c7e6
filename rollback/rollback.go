// Package rollback rolls a deploy target back as a Git change: the
// target's manifest directory is restored as it was at an earlier
// revision and committed, image automation stays on, and every image
// digest the rollback takes out of service is quarantined, so automation
// does not promote it again until a newer image arrives.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/manifests"
	"github.com/slipwaycd/slipway/store"
)

// Repo is the config repo (gitstore.Repo).
type Repo interface {
	Commit(ctx context.Context, msg string, trailers []gitstore.Trailer, change gitstore.Change) (string, error)
	Log(ctx context.Context, p string, n int) ([]gitstore.CommitInfo, error)
	Tree(rev string) (fs.FS, error)
}

// Quarantine records digests (store.Store).
type Quarantine interface {
	Quarantine(ctx context.Context, q store.QuarantinedImage) error
}

// Releases finds the commit a release order made for a target.
type Releases interface {
	CommitFor(ctx context.Context, id int64, target string) (string, error)
}

// Request says what to roll back, to where, and who asks.
type Request struct {
	Target config.TargetRef
	// To is "" (the state before the target's last change), a revision
	// (a hash or its prefix of at least 7), or a release order number
	// (as "12" or "#12"): the state that release order deployed.
	To   string
	User string
}

// Result is what a rollback did.
type Result struct {
	Commit string // "" when Git already had that state
	// Restored is the revision whose state the target now has.
	Restored string
	// Quarantined lists the image references taken out of service.
	Quarantined []string
}

// Rollback restores the target's directory and commits it.
func Rollback(ctx context.Context, repo Repo, q Quarantine, releases Releases, cfg *config.Repo, req Request) (Result, error) {
	_, t, ok := cfg.Target(req.Target.App, req.Target.Target)
	if !ok {
		return Result{}, fmt.Errorf("target %s not found", req.Target)
	}
	restored, err := resolve(ctx, repo, releases, t, req)
	if err != nil {
		return Result{}, err
	}
	old, err := repo.Tree(restored)
	if err != nil {
		return Result{}, err
	}
	cur, err := repo.Tree("")
	if err != nil {
		return Result{}, err
	}
	bad := outgoing(imagesIn(cur, t.Path), imagesIn(old, t.Path))
	res := Result{Restored: restored}
	for _, img := range bad {
		res.Quarantined = append(res.Quarantined, img.ref())
	}
	msg := fmt.Sprintf("Roll back %s to %.12s\n\nRequested by %s.", req.Target, restored, req.User)
	if len(bad) > 0 {
		msg += "\nQuarantined: " + strings.Join(res.Quarantined, ", ") + "."
	}
	trailers := []gitstore.Trailer{
		{Key: "Slipway-Rollback", Value: req.Target.String() + " to " + restored},
		{Key: "Slipway-Target", Value: req.Target.String()},
		{Key: "Slipway-User", Value: req.User},
	}
	// Quarantine first: if the commit lands, automation must already know.
	for _, img := range bad {
		if err := q.Quarantine(ctx, store.QuarantinedImage{
			Repository: img.repository, Digest: img.digest, Tag: img.tag, Target: req.Target.String(),
			Reason: fmt.Sprintf("rolled back to %.12s", restored), Actor: req.User,
		}); err != nil {
			return Result{}, err
		}
	}
	rev, err := repo.Commit(ctx, msg, trailers, func(w *gitstore.Worktree) error {
		return w.RestoreDir(t.Path, old)
	})
	switch {
	case errors.Is(err, gitstore.ErrNoChange):
	case err != nil:
		return Result{}, err
	default:
		res.Commit = rev
	}
	return res, nil
}

var hexRev = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// resolve finds the revision whose state the target goes back to.
func resolve(ctx context.Context, repo Repo, releases Releases, t *config.Target, req Request) (string, error) {
	to := strings.TrimPrefix(req.To, "#")
	switch {
	case to == "":
		log, err := repo.Log(ctx, t.Path, 2)
		if err != nil {
			return "", err
		}
		if len(log) < 2 {
			return "", fmt.Errorf("%s has had no change to roll back", req.Target)
		}
		return log[1].Hash, nil
	case len(to) <= 6 && isDigits(to):
		id, _ := strconv.ParseInt(to, 10, 64)
		if releases == nil {
			return "", errors.New("release orders are not available")
		}
		return releases.CommitFor(ctx, id, req.Target.String())
	case hexRev.MatchString(to):
		log, err := repo.Log(ctx, "", 0)
		if err != nil {
			return "", err
		}
		for _, c := range log {
			if strings.HasPrefix(c.Hash, to) {
				return c.Hash, nil
			}
		}
		return "", fmt.Errorf("revision %s is not in the history of the config repo's branch", to)
	}
	return "", fmt.Errorf("--to %q: want a revision (7 to 40 hex digits) or a release order number", req.To)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

type image struct{ repository, tag, digest string }

func (i image) ref() string {
	s := i.repository
	if i.tag != "" {
		s += ":" + i.tag
	}
	if i.digest != "" {
		s += "@" + i.digest
	}
	return s
}

// imagesIn reads the images: entries of a target's kustomization, keyed by
// the repository they run.
func imagesIn(tree fs.FS, dir string) map[string]image {
	out := map[string]image{}
	for _, name := range manifests.KustomizationNames {
		b, err := fs.ReadFile(tree, path.Join(dir, name))
		if err != nil {
			continue
		}
		imgs, err := manifests.ReadKustomizationImages(b)
		if err != nil {
			return out
		}
		for _, i := range imgs {
			repo := i.Name
			if i.NewName != "" {
				repo = i.NewName
			}
			out[repo] = image{repository: repo, tag: i.NewTag, digest: i.Digest}
		}
		return out
	}
	return out
}

// outgoing lists the images running now that the rollback replaces: their
// digests are quarantined. An image without a digest cannot be.
func outgoing(now, then map[string]image) []image {
	var out []image
	for repo, cur := range now {
		prev, ok := then[repo]
		if cur.digest != "" && (!ok || prev.digest != cur.digest) {
			out = append(out, cur)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].repository < out[j].repository })
	return out
}
