package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipwaycd/slipway/api"
	"github.com/slipwaycd/slipway/automation"
	"github.com/slipwaycd/slipway/chatops"
	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/examples"
	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/gitstore"
	"github.com/slipwaycd/slipway/inbox"
	"github.com/slipwaycd/slipway/pipeline"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/review"
	"github.com/slipwaycd/slipway/secrets"
	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// repoFlags say where the config repo is and how to reach it.
type repoFlags struct {
	url            string
	branch         string
	dataDir        string
	username       string
	passwordSecret string
	tokenSecret    string
	sshKeySecret   string
	secrets        string
}

func (f *repoFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "repo", "", "config repo URL (https://, ssh://, file://) or path; default: a local bare repo in --data-dir, seeded with the example on first start")
	fl.StringVar(&f.branch, "branch", "main", "config repo branch")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "where Slipway keeps its database, Git cache and embedded config repo")
	fl.StringVar(&f.username, "git-username", "", "HTTPS username for the config repo")
	fl.StringVar(&f.passwordSecret, "git-password-secret", "", "name of the secret holding the HTTPS password")
	fl.StringVar(&f.tokenSecret, "git-token-secret", "", "name of the secret holding an HTTPS token")
	fl.StringVar(&f.sshKeySecret, "git-ssh-key-secret", "", "name of the secret holding an SSH private key")
	fl.StringVar(&f.secrets, "secrets", "", `secret store: comma-separated dir:/path, env:PREFIX_, kube:namespace/name (default "dir:<data-dir>/secrets,env:SLIPWAY_SECRET_")`)
}

func defaultDataDir() string {
	if d := os.Getenv("SLIPWAY_DATA_DIR"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "slipway")
	}
	return ".slipway"
}

func (f *repoFlags) secretStore() (secrets.Store, error) {
	spec := f.secrets
	if spec == "" {
		spec = "dir:" + filepath.Join(f.dataDir, "secrets") + ",env:SLIPWAY_SECRET_"
	}
	return secrets.Parse(spec, func() (kubernetes.Interface, error) {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(cfg)
	})
}

// open opens the config repo, creating the embedded default when no URL is given.
func (f *repoFlags) open(ctx context.Context, sec secrets.Store) (*gitstore.Repo, error) {
	url := f.url
	if url == "" {
		path := filepath.Join(f.dataDir, "config.git")
		u, err := gitstore.InitBare(path, f.branch, examples.ConfigRepo(), "Seed the config repo with the example", gitstore.DefaultAuthor)
		if err != nil {
			return nil, fmt.Errorf("creating the embedded config repo: %w", err)
		}
		url = u
	}
	auth := gitstore.Auth{Username: f.username}
	for _, s := range []struct {
		name string
		dst  *string
	}{{f.passwordSecret, &auth.Password}, {f.tokenSecret, &auth.Token}} {
		if s.name == "" {
			continue
		}
		v, err := sec.Get(ctx, s.name)
		if err != nil {
			return nil, err
		}
		*s.dst = strings.TrimSpace(string(v)) // a file written with echo ends in a newline
	}
	if f.sshKeySecret != "" {
		v, err := sec.Get(ctx, f.sshKeySecret)
		if err != nil {
			return nil, err
		}
		auth.SSHKey = v
	}
	return gitstore.Open(ctx, gitstore.Options{
		URL:      url,
		Branch:   f.branch,
		Auth:     auth,
		CacheDir: filepath.Join(f.dataDir, "cache", "config-repo"),
	})
}

// connector reads an account's kubeconfig from the secret store.
func connector(sec secrets.Store) reconciler.Connect {
	return func(ctx context.Context, acct *config.Account) (*rest.Config, error) {
		raw, err := sec.Get(ctx, acct.Kubeconfig.Secret)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		cc, err := clientcmd.Load(raw)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig in secret %q: %w", acct.Kubeconfig.Secret, err)
		}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: acct.Kubeconfig.Context}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*cc, acct.Kubeconfig.Context, overrides, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig in secret %q: %w", acct.Kubeconfig.Secret, err)
		}
		cfg.UserAgent = "slipway/" + buildVersion()
		return cfg, nil
	}
}

func newServeCommand() *cobra.Command {
	var (
		repo           repoFlags
		forgeOpts      forgeFlags
		listen         string
		pollInterval   time.Duration
		resyncInterval time.Duration
		workers        int
		logLevel       string
		pprof          bool
		healthTimeout  time.Duration
		receivers      []string
		maxBody        int64
		hookRate       float64
		hookBurst      int
		historyKeep    int
		adminTokenFile string
		externalURL    string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reconciler and the API",
		Long: `Run Slipway: fetch the config repo, keep every target's cluster equal to it,
and serve the API (/api/v1), health (/healthz, /readyz) and metrics (/metrics).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			slog.SetDefault(log)

			if err := os.MkdirAll(repo.dataDir, 0o700); err != nil {
				return err
			}
			sec, err := repo.secretStore()
			if err != nil {
				return fmt.Errorf("--secrets: %w", err)
			}
			db, err := store.Open(ctx, filepath.Join(repo.dataDir, "slipway.db"))
			if err != nil {
				return err
			}
			defer db.Close()
			src, err := repo.open(ctx, sec)
			if err != nil {
				return err
			}

			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			syncStatuses := &statusHistory{History: db}
			rec := reconciler.New(reconciler.Options{
				Source:         src,
				Connect:        connector(sec),
				History:        syncStatuses,
				Logger:         log,
				Metrics:        reconciler.NewMetrics(reg),
				Workers:        workers,
				PollInterval:   pollInterval,
				ResyncInterval: resyncInterval,
				HealthTimeout:  healthTimeout,
			})

			// Webhooks: verified deliveries are stored, then worked off by the inbox.
			recvs, err := parseReceivers(ctx, receivers, sec)
			if err != nil {
				return err
			}
			auto := &automation.Automator{Config: rec.Config, Repo: src, Refresh: rec.Refresh, Log: log, Quarantine: db}
			// Registries that cannot send webhooks are polled (an automation's poll:).
			poller := &automation.Poller{Config: rec.Config, Automator: auto, Log: log}
			if externalURL == "" {
				externalURL = "http://" + listen
			}
			eng := pipeline.New(pipeline.Options{Store: db, Repo: src, Reconciler: rec, Connect: connector(sec), Logger: log, Quarantine: db, ExternalURL: externalURL})
			h := handlers{rec: rec, auto: auto, eng: eng, configRepo: repo.url, log: log}
			fg, forgeRepo, err := forgeOpts.open(ctx, sec, repo.url)
			if err != nil {
				return err
			}
			if fg != nil {
				h.configRepo = forgeRepo
				h.review = &review.Reviewer{Forge: fg, Repo: src, Reconciler: rec, RepoName: forgeRepo, Branch: repo.branch, Log: log, Pending: db}
				h.chatops = &chatops.Runner{Forge: fg, RepoName: forgeRepo, Releases: eng, Reconciler: rec, Repo: src, Store: db, Log: log}
				eng.SetStatus(func(ctx context.Context, sha string, state pipeline.StatusState, desc, link string) {
					err := fg.SetStatus(ctx, forgeRepo, forge.Status{SHA: sha, Context: "slipway/release", State: forge.State(state), Description: desc, TargetURL: link})
					if err != nil {
						log.Warn("setting a release status", "commit", sha, "err", err)
					}
				})
				syncStatuses.set(fg, forgeRepo, log, rec.Config)
				auto.OpenPullRequest = func(ctx context.Context, branch, title, body string) (string, error) {
					pr, err := fg.EnsurePullRequest(ctx, forgeRepo, forge.PullRequest{Head: branch, Base: repo.branch, Title: title, Body: body})
					return pr.URL, err
				}
				log.Info("forge configured", "forge", fg.Name(), "repo", forgeRepo)
			}
			box := inbox.New(db, eventHandler(h), log)
			hooks, err := webhooks.NewHandler(recvs, box, webhooks.Options{MaxBody: maxBody, RatePerSecond: hookRate, Burst: hookBurst, Logger: log})
			if err != nil {
				return err
			}

			mux := http.NewServeMux()
			mux.Handle("/webhooks/", hooks)
			if adminTokenFile == "" {
				adminTokenFile = filepath.Join(repo.dataDir, "admin-token")
			}
			if _, created, err := api.EnsureAdminToken(ctx, db, adminTokenFile); err != nil {
				return fmt.Errorf("admin token: %w", err)
			} else if created {
				log.Info("created the admin API token", "file", adminTokenFile)
			}
			apiSrv := &api.Server{Reconciler: rec, History: db, Accounts: rec, Events: db,
				Releases: eng, Tokens: db, Audit: db, Quarantine: db, Config: rec.Config, Log: log}
			mux.Handle("/api/", apiSrv.Handler())
			mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
			mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
			mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
				if !rec.Ready() {
					http.Error(w, "config repo not fetched yet", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprintln(w, "ok")
			})
			if pprof {
				mux.HandleFunc("/debug/pprof/", httppprof.Index)
				mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
				mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			go func() {
				if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server stopped", "err", err)
					stop()
				}
			}()
			log.Info("slipway serving", "address", "http://"+l.Addr().String(), "version", buildVersion(), "data", repo.dataDir)

			go func() {
				// Deliveries wait in the store until the config repo has been
				// read once: acting on them earlier would find no pipeline or
				// automation and drop what they ask for.
				for !rec.Ready() {
					select {
					case <-ctx.Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
				if h.review != nil {
					if err := h.review.Resume(ctx); err != nil {
						log.Error("resuming merge outcomes", "err", err)
					}
				}
				box.Run(ctx)
			}()
			go pruneHistory(ctx, db, historyKeep, log)
			go poller.Run(ctx)
			engDone := make(chan struct{})
			go func() {
				defer close(engDone)
				if err := eng.Run(ctx); err != nil {
					log.Error("pipeline engine stopped", "err", err)
					stop()
				}
			}()
			defer func() { <-engDone }()
			runErr := rec.Run(ctx)
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdown)
			return runErr
		},
	}
	repo.register(cmd)
	forgeOpts.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:8080", "address of the API, health and metrics endpoints")
	fl.DurationVar(&pollInterval, "poll-interval", time.Minute, "how often to fetch the config repo (webhooks make it sooner)")
	fl.DurationVar(&resyncInterval, "resync-interval", 10*time.Minute, "how often to re-check every target")
	fl.IntVar(&workers, "workers", 16, "targets synced at once")
	fl.DurationVar(&healthTimeout, "health-timeout", 5*time.Minute, "a target still Progressing this long after a sync is reported Degraded")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringArrayVar(&receivers, "receiver", nil, "a webhook receiver, provider/name=secret-name, served at /webhooks/provider/name (repeatable); providers: "+strings.Join(webhooks.Providers(), ", "))
	fl.Int64Var(&maxBody, "webhook-max-body", webhooks.DefaultMaxBody, "largest webhook body accepted, in bytes")
	fl.Float64Var(&hookRate, "webhook-rate", webhooks.DefaultRatePerSecond, "webhook deliveries accepted per second from one source address (negative: no limit)")
	fl.IntVar(&hookBurst, "webhook-burst", webhooks.DefaultBurst, "webhook deliveries one source may send in a burst")
	fl.IntVar(&historyKeep, "history-keep", 200, "sync history records kept per target (older ones are pruned hourly)")
	fl.StringVar(&externalURL, "external-url", "", "the URL people reach this server at, for links in commit statuses and comments (default http://<listen>)")
	fl.StringVar(&adminTokenFile, "admin-token-file", "", "file holding the admin API token; created with a new token when missing (default <data-dir>/admin-token)")
	fl.BoolVar(&pprof, "pprof", false, "serve Go profiles under /debug/pprof/ on the --listen address")
	return cmd
}

// pruneHistory keeps the newest keep sync records per target, hourly.
func pruneHistory(ctx context.Context, db *store.Store, keep int, log *slog.Logger) {
	if keep < 1 {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := db.PruneSyncHistory(ctx, keep); err != nil && ctx.Err() == nil {
			log.Warn("pruning sync history", "err", err)
		} else if n > 0 {
			log.Info("pruned sync history", "records", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
