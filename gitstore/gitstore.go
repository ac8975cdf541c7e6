package gitstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage"
	gossh "golang.org/x/crypto/ssh"
)

// Auth holds the credentials for the config repo. Only the fields that fit the
// URL's scheme are used; none of them ever appears in an error.
type Auth struct {
	// Username and Password are HTTPS basic auth.
	Username, Password string
	// Token is an HTTPS access token, sent as the basic auth password with
	// Username, or "x-access-token" when Username is empty (GitHub and Gitea
	// accept this).
	Token string

	// SSHKey is a PEM private key; SSHKeyPassphrase decrypts it if needed.
	SSHKey           []byte
	SSHKeyPassphrase string
	// SSHUser defaults to the user in the URL, else "git".
	SSHUser string
	// InsecureIgnoreHostKey skips host key checking (tests and labs only);
	// otherwise known_hosts is used.
	InsecureIgnoreHostKey bool
}

// Identity is a commit author and committer.
type Identity struct{ Name, Email string }

// DefaultAuthor is the identity Slipway commits as unless Options.Author says
// otherwise.
var DefaultAuthor = Identity{Name: "Slipway", Email: "slipway@localhost"}

// Options say which repo and branch to use and where to cache it.
type Options struct {
	// URL is https://…, ssh://…, git@host:path, file:///path or a plain
	// local path to a (bare) repo.
	URL string
	// Branch defaults to "main".
	Branch string
	Auth   Auth
	// CacheDir holds the local bare clone and is reused across restarts.
	// Required. One CacheDir must not be shared by two Repo values.
	CacheDir string
	// Author defaults to DefaultAuthor.
	Author Identity
}

// ErrNoChange is returned by Commit, with the current head, when the change
// left the tree as it was; nothing is pushed.
var ErrNoChange = errors.New("gitstore: change left the tree as it was")

// ErrConflict is returned by Commit when the branch head kept moving under it
// for every attempt. Callers may retry later.
var ErrConflict = errors.New("gitstore: branch head kept moving, gave up")

// errHeadMoved is how a local push reports a failed compare-and-swap.
var errHeadMoved = errors.New("branch head moved")

const remoteName = "origin"

// Repo is one branch of a config repo, cached in a local bare clone. All
// methods are safe for concurrent use.
type Repo struct {
	url, branch string
	author      Identity
	auth        transport.AuthMethod
	secrets     []string
	label       string // redacted URL and branch, for errors

	localDir  string // git dir of a local remote; "" for network remotes
	branchRef plumbing.ReferenceName
	trackRef  plumbing.ReferenceName

	// commitMu serialises Commit within this Repo so that in-process writers
	// queue instead of racing each other's pushes.
	commitMu sync.Mutex
	// mu guards every use of repo and its storage: go-git's filesystem
	// storage is not safe for concurrent use, not even for reads.
	mu   sync.Mutex
	repo *git.Repository
	sto  storage.Storer

	head atomic.Value // plumbing.Hash of the last fetched head
}

// Open opens the bare clone in o.CacheDir, creating it if absent, points it at
// o.URL and fetches the branch. A remote without the branch (or an empty one)
// is accepted: Head is then "" and the first Commit creates the branch.
func Open(ctx context.Context, o Options) (*Repo, error) {
	if o.Branch == "" {
		o.Branch = "main"
	}
	if o.Author == (Identity{}) {
		o.Author = DefaultAuthor
	}
	r := &Repo{
		url:       o.URL,
		branch:    o.Branch,
		author:    o.Author,
		branchRef: plumbing.NewBranchReferenceName(o.Branch),
		trackRef:  plumbing.NewRemoteReferenceName(remoteName, o.Branch),
	}
	r.secrets = secretsOf(o)
	r.label = fmt.Sprintf("gitstore: %s branch %s", redactURL(o.URL), o.Branch)
	r.head.Store(plumbing.ZeroHash)

	if o.URL == "" {
		return nil, errors.New("gitstore: options: URL is required")
	}
	if o.CacheDir == "" {
		return nil, r.errorf("open", errors.New("CacheDir is required"))
	}
	if err := r.branchRef.Validate(); err != nil {
		return nil, r.errorf("open", fmt.Errorf("invalid branch name: %w", err))
	}
	ep, err := transport.NewEndpoint(o.URL)
	if err != nil {
		return nil, r.errorf("open", err)
	}
	if ep.Protocol == "file" {
		r.localDir, err = localGitDir(ep.Path)
		if err != nil {
			return nil, r.errorf("open", err)
		}
	} else {
		// Credentials in the URL move into the auth method, so they are not
		// written to the cache's config.
		r.url, o.Auth = splitURLAuth(o.URL, o.Auth)
		r.auth, err = authFor(ep, o.Auth)
		if err != nil {
			return nil, r.errorf("open", err)
		}
	}

	r.repo, err = openCache(o.CacheDir)
	if err != nil {
		return nil, r.errorf("open cache "+o.CacheDir, err)
	}
	r.sto = r.repo.Storer
	if err := r.ensureRemote(); err != nil {
		return nil, r.errorf("configure cache "+o.CacheDir, err)
	}
	if ref, err := r.sto.Reference(r.trackRef); err == nil {
		r.head.Store(ref.Hash())
	}
	if _, err := r.Fetch(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func openCache(dir string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		return git.PlainInit(dir, true)
	}
	return repo, err
}

// ensureRemote records the URL and fetch refspec in the cache's config, so the
// cache is a normal bare clone one can inspect with git.
func (r *Repo) ensureRemote() error {
	want := &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{r.url},
		Fetch: []config.RefSpec{config.RefSpec("+" + r.branchRef.String() + ":" + r.trackRef.String())},
	}
	if rem, err := r.repo.Remote(remoteName); err == nil {
		c := rem.Config()
		if len(c.URLs) == 1 && c.URLs[0] == r.url && len(c.Fetch) == 1 && c.Fetch[0] == want.Fetch[0] {
			return nil
		}
		if err := r.repo.DeleteRemote(remoteName); err != nil {
			return err
		}
	}
	_, err := r.repo.CreateRemote(want)
	return err
}

// Fetch fetches the branch and returns its head commit hash in hex, or "" if
// the remote has no such branch yet.
func (r *Repo) Fetch(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.fetchLocked(ctx)
	if err != nil {
		return "", err
	}
	return hashString(h), nil
}

// Head returns the head commit hash seen by the last fetch, or "" if the
// branch does not exist yet.
func (r *Repo) Head() string {
	return hashString(r.head.Load().(plumbing.Hash))
}

func (r *Repo) fetchLocked(ctx context.Context) (plumbing.Hash, error) {
	if err := ctx.Err(); err != nil {
		return plumbing.ZeroHash, r.errorf("fetch", err)
	}
	var h plumbing.Hash
	var err error
	if r.localDir != "" {
		h, err = r.localFetch()
	} else {
		h, err = r.remoteFetch(ctx)
	}
	if err != nil {
		return plumbing.ZeroHash, r.errorf("fetch", err)
	}
	r.head.Store(h)
	return h, nil
}

func (r *Repo) remoteFetch(ctx context.Context) (plumbing.Hash, error) {
	rem, err := r.repo.Remote(remoteName)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   rem.Config().Fetch,
		Auth:       r.auth,
		Tags:       git.NoTags,
		Force:      true,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		// The branch does not exist (yet): forget any stale tracking ref.
		if err := r.sto.RemoveReference(r.trackRef); err != nil {
			return plumbing.ZeroHash, err
		}
		return plumbing.ZeroHash, nil
	default:
		return plumbing.ZeroHash, err
	}
	ref, err := r.sto.Reference(r.trackRef)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return ref.Hash(), nil
}

// push sends commit newH to the branch if, and only if, the remote branch is
// still at old (zero: absent).
func (r *Repo) pushLocked(ctx context.Context, newH, old plumbing.Hash) error {
	if r.localDir != "" {
		if err := r.localPush(newH, old); err != nil {
			return err
		}
	} else {
		opts := &git.PushOptions{
			RemoteName: remoteName,
			RefSpecs:   []config.RefSpec{config.RefSpec(newH.String() + ":" + r.branchRef.String())},
			Auth:       r.auth,
		}
		if !old.IsZero() {
			opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(old.String() + ":" + r.branchRef.String())}
		}
		if err := r.repo.PushContext(ctx, opts); err != nil {
			return err
		}
	}
	if err := r.sto.SetReference(plumbing.NewHashReference(r.trackRef, newH)); err != nil {
		return err
	}
	r.head.Store(newH)
	return nil
}

// resolveLocked turns "" (head), a full hash or any revision go-git
// understands into a commit.
func (r *Repo) resolveLocked(rev string) (*object.Commit, error) {
	var h plumbing.Hash
	switch {
	case rev == "":
		h = r.head.Load().(plumbing.Hash)
		if h.IsZero() {
			return nil, fmt.Errorf("branch has no commits yet")
		}
	case plumbing.IsHash(rev):
		h = plumbing.NewHash(rev)
	default:
		p, err := r.repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			return nil, fmt.Errorf("resolve %q: %w", rev, err)
		}
		h = *p
	}
	c, err := object.GetCommit(r.sto, h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

func hashString(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

// authFor picks the go-git auth method for the endpoint's scheme.
func authFor(ep *transport.Endpoint, a Auth) (transport.AuthMethod, error) {
	switch ep.Protocol {
	case "http", "https":
		switch {
		case a.Token != "":
			user := a.Username
			if user == "" {
				user = "x-access-token"
			}
			return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
		case a.Username != "" || a.Password != "":
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, nil
	case "ssh":
		if len(a.SSHKey) == 0 {
			return nil, nil // go-git falls back to the SSH agent
		}
		user := a.SSHUser
		if user == "" {
			user = ep.User
		}
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
		if err != nil {
			// The parse error says nothing secret, but keep it short anyway.
			return nil, errors.New("cannot use SSH key: " + err.Error())
		}
		if a.InsecureIgnoreHostKey {
			keys.HostKeyCallback = gossh.InsecureIgnoreHostKey()
		}
		return keys, nil
	}
	return nil, fmt.Errorf("unsupported URL scheme %q", ep.Protocol)
}

// localGitDir finds the git directory of a local repo: the path itself if it
// is bare, else its .git.
func localGitDir(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(filepath.Join(abs, ".git")); err == nil && fi.IsDir() {
		abs = filepath.Join(abs, ".git")
	}
	if _, err := os.Stat(filepath.Join(abs, "objects")); err != nil {
		return "", fmt.Errorf("%s is not a git repository", abs)
	}
	return abs, nil
}

func secretsOf(o Options) []string {
	var s []string
	for _, v := range []string{o.Auth.Password, o.Auth.Token, o.Auth.SSHKeyPassphrase} {
		if v != "" {
			s = append(s, v)
		}
	}
	if u, err := url.Parse(o.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = append(s, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	return s
}

// splitURLAuth removes the password from an http(s) URL and uses the URL's
// user info as basic auth unless a is already set.
func splitURLAuth(raw string, a Auth) (string, Auth) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return raw, a
	}
	pass, ok := u.User.Password()
	if !ok {
		return raw, a
	}
	if a.Username == "" && a.Password == "" && a.Token == "" {
		a.Username, a.Password = u.User.Username(), pass
	}
	u.User = url.User(u.User.Username())
	return u.String(), a
}

// redactURL hides the password of a URL with user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// repoError names the repo and operation and hides every secret the Repo
// knows, while keeping the cause reachable with errors.Is and errors.As.
type repoError struct {
	msg string
	err error
}

func (e *repoError) Error() string { return e.msg }
func (e *repoError) Unwrap() error { return e.err }

func (r *Repo) errorf(op string, err error) error {
	msg := strings.TrimSpace(fmt.Sprintf("%s: %s: %v", r.label, op, err))
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return &repoError{msg: msg, err: err}
}
