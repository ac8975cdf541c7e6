package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/secrets"
	"github.com/slipwaycd/slipway/store"
)

// forgeFlags say which forge hosts the config repo, for pull request
// plans, chat-ops, commit statuses and image-bump pull requests.
type forgeFlags struct {
	kind        string
	url         string
	tokenSecret string
	repo        string
}

func (f *forgeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "forge", "", "forge hosting the config repo: github, gitea, gitlab or coding (enables pull request plans, chat-ops and commit statuses)")
	fl.StringVar(&f.url, "forge-url", "", "the forge's base URL (GitHub Enterprise, Gitea, GitLab or CODING; default https://api.github.com for github)")
	fl.StringVar(&f.tokenSecret, "forge-token-secret", "", "name of the secret holding the forge API token")
	fl.StringVar(&f.repo, "forge-repo", "", "the config repo on the forge as owner/name (default: from --repo's URL)")
}

// open returns the forge, or nil when none is configured.
func (f *forgeFlags) open(ctx context.Context, sec secrets.Store, repoURL string) (forge.Forge, string, error) {
	if f.kind == "" {
		return nil, "", nil
	}
	if f.tokenSecret == "" {
		return nil, "", fmt.Errorf("--forge %s needs --forge-token-secret", f.kind)
	}
	token, err := sec.Get(ctx, f.tokenSecret)
	if err != nil {
		return nil, "", fmt.Errorf("--forge-token-secret: %w", err)
	}
	tok := strings.TrimSpace(string(token))
	if tok == "" {
		return nil, "", fmt.Errorf("--forge-token-secret: secret %q is empty", f.tokenSecret)
	}
	repo := f.repo
	if repo == "" {
		repo = repoPath(repoURL)
	}
	if strings.Count(repo, "/") < 1 {
		return nil, "", fmt.Errorf("--forge-repo: want owner/name, got %q (it cannot be derived from --repo %q)", repo, repoURL)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	fg, err := forge.New(f.kind, f.url, tok, client)
	if err != nil {
		return nil, "", err
	}
	return fg, repo, nil
}

// repoPath derives owner/name from a clone URL such as
// https://host/owner/name.git.
func repoPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" {
		return ""
	}
	return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}

// statusHistory records syncs in the store and, once a forge is set,
// reports each sync that did something as a commit status on the revision
// it applied: slipway/sync: app/target, success or failure.
//
// Targets with deployments: true also get a deployment of the revision in
// environment app/target, with the same outcome, where the forge has
// deployments (GitHub).
type statusHistory struct {
	reconciler.History
	mu     sync.Mutex
	forge  forge.Forge
	repo   string
	log    *slog.Logger
	config func() *config.Repo
	queue  chan func()
}

func (h *statusHistory) set(f forge.Forge, repo string, log *slog.Logger, cfg func() *config.Repo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forge, h.repo, h.log, h.config = f, repo, log, cfg
	h.queue = make(chan func(), 1024)
	go func() {
		for send := range h.queue {
			send()
		}
	}()
}

// post sends to the forge in the background, in order (a sync's pending
// status never lands after its result), without ever holding up a sync.
func (h *statusHistory) post(send func()) {
	select {
	case h.queue <- send:
	default:
		h.log.Warn("too many commit statuses waiting to be sent; dropping one")
	}
}

// SyncStarted implements reconciler.SyncStarter: the sync's status is
// pending until RecordSync reports how it ended.
func (h *statusHistory) SyncStarted(app, target, rev string) {
	h.mu.Lock()
	f, repo, log := h.forge, h.repo, h.log
	h.mu.Unlock()
	if f == nil || rev == "" {
		return
	}
	h.post(func() {
		st := forge.Status{SHA: rev, Context: "slipway/sync: " + app + "/" + target, State: forge.StatePending, Description: "syncing"}
		if err := f.SetStatus(context.Background(), repo, st); err != nil {
			log.Warn("setting a sync status", "target", app+"/"+target, "err", err)
		}
	})
}

// RecordSync implements reconciler.History.
func (h *statusHistory) RecordSync(ctx context.Context, r *store.SyncRecord) (int64, error) {
	id, err := h.History.RecordSync(ctx, r)
	h.mu.Lock()
	f, repo, log := h.forge, h.repo, h.log
	h.mu.Unlock()
	if f == nil || r.Revision == "" || r.Result == store.ResultSkipped {
		return id, err
	}
	st := forge.Status{SHA: r.Revision, Context: "slipway/sync: " + r.Application + "/" + r.Target, State: forge.StateSuccess,
		Description: fmt.Sprintf("applied (%d change(s))", len(r.Changes))}
	if r.Result == store.ResultFailed {
		st.State, st.Description = forge.StateFailure, r.Error
	}
	deploy := false
	if c := h.config(); c != nil {
		if _, t, ok := c.Target(r.Application, r.Target); ok {
			deploy = t.Deployments
		}
	}
	ref := r.Application + "/" + r.Target
	h.post(func() {
		ctx := context.WithoutCancel(ctx)
		if err := f.SetStatus(ctx, repo, st); err != nil {
			log.Warn("setting a sync status", "target", ref, "err", err)
		}
		d, ok := f.(forge.Deployer)
		if !deploy || !ok {
			return
		}
		id, err := d.CreateDeployment(ctx, repo, forge.Deployment{Ref: r.Revision, Environment: ref, Description: "slipway sync of " + ref})
		if err == nil {
			err = d.SetDeploymentStatus(ctx, repo, id, string(st.State), "", st.Description)
		}
		if err != nil {
			log.Warn("recording a deployment", "target", ref, "err", err)
		}
	})
	return id, err
}
