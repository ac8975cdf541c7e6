package testground

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options choose what a ground runs. The zero value runs everything but Gitea.
type Options struct {
	// Dir keeps data and logs; a new temporary directory when empty. A
	// temporary directory is removed by Stop.
	Dir string
	// Nodes is how many kwok nodes to create (250 pods each); default 4.
	Nodes int
	// PodLogLines is what every simulated container logs.
	PodLogLines []string
	// NoKube, NoRegistry and NoGit leave a component out.
	NoKube, NoRegistry, NoGit bool
	// Gitea adds a Gitea server (see Ground.Gitea). It is opt-in: it costs a
	// few seconds of start-up (run beside the other components) and, once,
	// a few minutes of build.
	Gitea bool
	// Log receives progress (builds, start-up); default os.Stderr.
	Log io.Writer
}

// DefaultPodLogLines is what simulated containers log unless told otherwise.
var DefaultPodLogLines = []string{
	"slipway testground: container started",
	"listening on 0.0.0.0:8080",
}

// Ground is a running test ground. Its fields are set for the components it runs.
type Ground struct {
	Dir      string
	Kube     *Kube
	Registry *Registry
	Git      *GitServer
	// Gitea is nil unless Options.Gitea is set.
	Gitea *Gitea

	opts    Options
	tempDir bool

	mu      sync.Mutex
	procs   []*process
	servers []*http.Server
	cancel  context.CancelFunc
	bg      sync.WaitGroup
	stopped bool
}

// Start builds what is missing (once, into the cache) and starts the ground.
// On error, whatever had started is stopped again. Stop the ground when done.
func Start(ctx context.Context, opts Options) (*Ground, error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Nodes == 0 {
		opts.Nodes = 4
	}
	if opts.PodLogLines == nil {
		opts.PodLogLines = DefaultPodLogLines
	}
	g := &Ground{opts: opts, Dir: opts.Dir}
	if g.Dir == "" {
		d, err := os.MkdirTemp("", "slipway-ground-")
		if err != nil {
			return nil, err
		}
		g.Dir, g.tempDir = d, true
	} else if err := os.MkdirAll(g.Dir, 0o755); err != nil {
		return nil, err
	}
	g.cancel = func() {}

	bins, err := ensureBinaries(ctx, opts.Log, func(name string) bool {
		switch name {
		case "kube", "kwok":
			return !opts.NoKube
		case "registry", "crane":
			return !opts.NoRegistry
		case "gitea":
			return opts.Gitea
		}
		return true
	})
	if err != nil {
		g.Stop()
		return nil, err
	}
	started := time.Now()
	// Gitea sets itself up beside the other components.
	giteaCtx, cancelGitea := context.WithCancel(ctx)
	defer cancelGitea()
	var giteaDone chan error
	if opts.Gitea {
		giteaDone = make(chan error, 1)
		go func() {
			s, err := g.startGitea(giteaCtx, bins["gitea"])
			g.Gitea = s // read by Start only after giteaDone
			giteaDone <- err
		}()
	}
	waitGitea := func() error {
		if giteaDone == nil {
			return nil
		}
		err := <-giteaDone
		giteaDone = nil
		return err
	}
	steps := []struct {
		skip bool
		run  func() error
	}{
		{opts.NoGit, g.startGit},
		{opts.NoRegistry, func() error { return g.startRegistry(ctx, bins) }},
		{opts.NoKube, func() error { return g.startKube(ctx, bins) }},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		if err := s.run(); err != nil {
			cancelGitea()
			_ = waitGitea()
			g.Stop()
			return nil, fmt.Errorf("starting the test ground (logs in %s): %w", g.Dir, err)
		}
	}
	if err := waitGitea(); err != nil {
		g.Stop()
		return nil, fmt.Errorf("starting the test ground's gitea (logs in %s): %w", g.Dir, err)
	}
	fmt.Fprintf(opts.Log, "testground: ready in %s (data and logs in %s)\n", time.Since(started).Round(100*time.Millisecond), g.Dir)
	return g, nil
}

// start launches one component and remembers it for Stop.
func (g *Ground) start(name, bin string, args ...string) (*process, error) {
	return g.startEnv(name, bin, nil, args...)
}

// startEnv is start with extra environment variables.
func (g *Ground) startEnv(name, bin string, env []string, args ...string) (*process, error) {
	p, err := startProcess(name, g.Dir, bin, args, env)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// serve runs an in-process HTTP server until Stop.
func (g *Ground) serve(srv *http.Server, l net.Listener) {
	g.mu.Lock()
	g.servers = append(g.servers, srv)
	g.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// goBackground runs f until Stop cancels its context.
func (g *Ground) goBackground(f func(ctx context.Context)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	prev := g.cancel
	g.cancel = func() { cancel(); prev() }
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		defer func() { _ = recover() }() // client-go is third-party code; never take the test down
		f(ctx)
	}()
}

// Stop ends every process and server of the ground, newest first, and removes
// its directory if Start made it. It is safe to call more than once.
func (g *Ground) Stop() {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	g.stopped = true
	procs, servers := g.procs, g.servers
	g.mu.Unlock()

	if g.cancel != nil {
		g.cancel()
	}
	g.bg.Wait()
	for _, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop(10 * time.Second)
	}
	if g.tempDir {
		_ = os.RemoveAll(g.Dir)
	}
}

// Failed reports whether a component has exited, with the end of its log.
func (g *Ground) Failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, p := range g.procs {
		if err := p.diedError(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LogTails returns the last lines of every component's log, for a test that
// failed and wants to say why.
func (g *Ground) LogTails(lines int) string {
	files, _ := filepath.Glob(filepath.Join(g.Dir, "*.log"))
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "==> %s <==\n%s\n", f, tail(f, lines))
	}
	return b.String()
}

// Env describes the ground as shell variable assignments, for people and for
// processes started beside it.
func (g *Ground) Env() []string {
	var env []string
	if g.Kube != nil {
		env = append(env, "KUBECONFIG="+g.Kube.Kubeconfig)
	}
	if g.Registry != nil {
		env = append(env, "SLIPWAY_GROUND_REGISTRY="+g.Registry.Host)
	}
	if g.Git != nil {
		env = append(env,
			"SLIPWAY_GROUND_GIT_URL="+g.Git.BaseURL,
			"SLIPWAY_GROUND_GIT_USER="+g.Git.User,
			"SLIPWAY_GROUND_GIT_PASSWORD="+g.Git.Password,
		)
	}
	if g.Gitea != nil {
		env = append(env,
			"SLIPWAY_GROUND_GITEA_URL="+g.Gitea.URL,
			"SLIPWAY_GROUND_GITEA_USER="+g.Gitea.AdminUser,
			"SLIPWAY_GROUND_GITEA_PASSWORD="+g.Gitea.AdminPassword,
			"SLIPWAY_GROUND_GITEA_TOKEN="+g.Gitea.AdminToken,
		)
	}
	return env
}

func randomString(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)[:n]
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
