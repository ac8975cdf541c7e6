package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/slipwaycd/slipway/automation"
	"github.com/slipwaycd/slipway/chatops"
	"github.com/slipwaycd/slipway/inbox"
	"github.com/slipwaycd/slipway/pipeline"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/review"
	"github.com/slipwaycd/slipway/secrets"
	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// parseReceivers reads --receiver provider/name=secret flags and resolves each
// secret from the secret store. A receiver without a secret stops the server
// from starting (fail closed).
func parseReceivers(ctx context.Context, specs []string, sec secrets.Store) ([]webhooks.Receiver, error) {
	var out []webhooks.Receiver
	for _, spec := range specs {
		route, secretName, ok := strings.Cut(spec, "=")
		provider, name, ok2 := strings.Cut(route, "/")
		if !ok || !ok2 || provider == "" || name == "" || secretName == "" {
			return nil, fmt.Errorf("--receiver %q: want provider/name=secret-name (e.g. distribution/main=registry-webhook)", spec)
		}
		value, err := sec.Get(ctx, secretName)
		if err != nil {
			return nil, fmt.Errorf("--receiver %s: %w", route, err)
		}
		value = []byte(strings.TrimSpace(string(value)))
		if len(value) == 0 {
			return nil, fmt.Errorf("--receiver %s: secret %q is empty; refusing to accept unauthenticated webhooks", route, secretName)
		}
		out = append(out, webhooks.Receiver{Name: name, Provider: provider, Secret: value})
	}
	return out, nil
}

// eventHandler acts on verified events: an image push runs image
// automation and starts pipelines with a matching docker trigger; a push to
// a Git repo refreshes the config repo (the reconciler then syncs only the
// targets the change touches) and starts pipelines with a git trigger; a
// generic webhook starts pipelines with a webhook trigger. The inbox calls
// it from one goroutine.
func eventHandler(h handlers) inbox.Handler {
	rec, auto, eng, configRepo, log := h.rec, h.auto, h.eng, h.configRepo, h.log
	var lastFetch time.Time // when the newest fetch for a Git push started
	return func(ctx context.Context, d store.Delivery, ev webhooks.Event) (string, error) {
		switch e := ev.(type) {
		case webhooks.PullRequestEvent:
			if h.review == nil {
				return "pull request: no forge configured (--forge)", nil
			}
			return h.review.Handle(ctx, e)
		case webhooks.CommentEvent:
			if h.chatops == nil {
				return "comment: no forge configured (--forge)", nil
			}
			return h.chatops.Handle(ctx, e)
		case webhooks.ImagePushed:
			repo := e.Repository
			if e.Registry != "" {
				repo = e.Registry + "/" + e.Repository
			}
			results, err := auto.Handle(ctx, automation.Push{
				Repository: repo, Tag: e.Tag, Digest: e.Digest,
				Source: fmt.Sprintf("%s delivery %s", e.Provider, e.DeliveryID),
			})
			var parts []string
			for _, r := range results {
				if r.Bumped {
					parts = append(parts, fmt.Sprintf("%s: %s (commit %.12s)", r.Target, r.Reason, r.Commit))
				} else {
					parts = append(parts, fmt.Sprintf("%s: %s", r.Target, r.Reason))
				}
			}
			started, perr := eng.OnImagePushed(ctx, e)
			for _, s := range started {
				parts = append(parts, s.String())
			}
			if len(parts) == 0 {
				parts = append(parts, fmt.Sprintf("no target automates and no pipeline expects %s", repo))
			}
			return fmt.Sprintf("%s:%s: %s", repo, e.Tag, strings.Join(parts, "; ")), errors.Join(err, perr)
		case webhooks.GitPushed:
			isConfig := sameRepo(e.Repo, configRepo)
			var parts []string
			// A burst of pushes needs one fetch: one that started after this
			// push was received has already seen it.
			if d.ReceivedAt.Before(lastFetch) {
				parts = append(parts, "already fetched")
			} else {
				lastFetch = time.Now()
				if err := rec.Refresh(ctx); err != nil {
					return "", err
				}
				parts = append(parts, fmt.Sprintf("config repo at %.12s", rec.Revision()))
			}
			started, err := eng.OnGitPushed(ctx, e, isConfig)
			for _, s := range started {
				parts = append(parts, s.String())
			}
			return fmt.Sprintf("push to %s %s: %s", e.Repo, e.Ref, strings.Join(parts, "; ")), err
		case webhooks.WebhookReceived:
			started, err := eng.OnWebhook(ctx, e)
			parts := []string{}
			for _, s := range started {
				parts = append(parts, s.String())
			}
			if len(parts) == 0 {
				parts = append(parts, "no pipeline's webhook trigger matched")
			}
			return fmt.Sprintf("webhook %s: %s", e.Source, strings.Join(parts, "; ")), err
		case webhooks.Ping:
			return "ping", nil
		default:
			log.Debug("event not acted on", "kind", ev.Kind())
			return "", nil
		}
	}
}

// handlers are what verified events are handed to; review and chatops
// are nil without a forge.
type handlers struct {
	rec        *reconciler.Reconciler
	auto       *automation.Automator
	eng        *pipeline.Engine
	review     *review.Reviewer
	chatops    *chatops.Runner
	configRepo string
	log        *slog.Logger
}

// sameRepo says whether a forge's "owner/name" names the config repo,
// given the config repo's URL.
func sameRepo(name, url string) bool {
	if name == "" || url == "" {
		return false
	}
	u := strings.ToLower(strings.TrimSuffix(strings.TrimRight(url, "/"), ".git"))
	n := strings.ToLower(name)
	return u == n || strings.HasSuffix(u, "/"+n)
}
