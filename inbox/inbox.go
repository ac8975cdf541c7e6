// Package inbox keeps accepted webhook deliveries and works them off: a
// delivery is written to the store before the sender gets its 2xx, then
// processed once, in order, by a worker that also picks up what a crash
// left pending. Inputs only enqueue; the handler decides.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/slipwaycd/slipway/store"
	"github.com/slipwaycd/slipway/webhooks"
)

// Handler acts on one event of a delivery and says in one line what it did.
// An error marks the delivery failed; it is not retried (the sender's retry
// is a new delivery only if the sender gives it a new id).
type Handler func(ctx context.Context, d store.Delivery, ev webhooks.Event) (string, error)

// Inbox is a webhooks.Sink backed by the store.
type Inbox struct {
	Store  *store.Store
	Handle Handler
	Log    *slog.Logger

	wake chan struct{}
}

// New makes an Inbox; Run works it off.
func New(s *store.Store, h Handler, log *slog.Logger) *Inbox {
	if log == nil {
		log = slog.Default()
	}
	return &Inbox{Store: s, Handle: h, Log: log, wake: make(chan struct{}, 1)}
}

// Accept persists a verified delivery. A delivery seen before is
// acknowledged without being stored or run again.
func (in *Inbox) Accept(ctx context.Context, d webhooks.Delivery) error {
	events, err := encodeEvents(d.Events)
	if err != nil {
		return err
	}
	rec := &store.Delivery{
		Provider: d.Provider, Receiver: d.Receiver, DeliveryID: d.ID, Event: d.Event,
		ReceivedAt: d.ReceivedAt, Header: d.Header, Body: d.Body, Events: events,
	}
	dup, err := in.Store.InsertDelivery(ctx, rec)
	if err != nil {
		return err
	}
	if dup {
		in.Log.Info("redelivery acknowledged, not run again", "provider", d.Provider, "receiver", d.Receiver, "delivery", d.ID)
		return nil
	}
	select {
	case in.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run processes pending deliveries until ctx ends, oldest first.
func (in *Inbox) Run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second) // belt and braces: never miss a wake-up
	defer tick.Stop()
	for {
		for in.drain(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
		case <-tick.C:
		}
	}
}

// drain processes one batch and reports whether there may be more.
func (in *Inbox) drain(ctx context.Context) bool {
	pending, err := in.Store.PendingDeliveries(ctx, 50)
	if err != nil {
		if ctx.Err() == nil {
			in.Log.Error("reading pending deliveries", "err", err)
		}
		return false
	}
	for _, d := range pending {
		if ctx.Err() != nil {
			return false
		}
		state, outcome := in.process(ctx, d)
		if err := in.Store.FinishDelivery(context.WithoutCancel(ctx), d.ID, state, outcome); err != nil {
			in.Log.Error("recording a delivery's outcome", "delivery", d.DeliveryID, "err", err)
			return false
		}
		in.Log.Info("delivery processed", "provider", d.Provider, "receiver", d.Receiver, "delivery", d.DeliveryID,
			"state", state, "outcome", outcome)
	}
	return len(pending) == 50
}

func (in *Inbox) process(ctx context.Context, d store.Delivery) (state, outcome string) {
	defer func() {
		if p := recover(); p != nil {
			in.Log.Error("panic while processing a delivery", "delivery", d.DeliveryID, "panic", p, "stack", string(debug.Stack()))
			state, outcome = store.DeliveryFailed, fmt.Sprintf("panic: %v", p)
		}
	}()
	events, err := decodeEvents(d.Events)
	if err != nil {
		return store.DeliveryFailed, err.Error()
	}
	if len(events) == 0 {
		return store.DeliveryIgnored, "no events to act on"
	}
	var outcomes []string
	var errs []error
	for _, ev := range events {
		o, err := in.Handle(ctx, d, ev)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if o != "" {
			outcomes = append(outcomes, o)
		}
	}
	if len(errs) > 0 {
		return store.DeliveryFailed, errors.Join(errs...).Error()
	}
	if len(outcomes) == 0 {
		return store.DeliveryIgnored, "nothing to do"
	}
	return store.DeliveryDone, strings.Join(outcomes, "; ")
}

type envelope struct {
	Kind  webhooks.Kind   `json:"kind"`
	Event json.RawMessage `json:"event"`
}

func encodeEvents(events []webhooks.Event) ([]byte, error) {
	out := make([]envelope, 0, len(events))
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, envelope{Kind: ev.Kind(), Event: b})
	}
	return json.Marshal(out)
}

func decodeEvents(raw []byte) ([]webhooks.Event, error) {
	var envs []envelope
	if err := json.Unmarshal(raw, &envs); err != nil {
		return nil, fmt.Errorf("stored events: %w", err)
	}
	out := make([]webhooks.Event, 0, len(envs))
	for _, e := range envs {
		var ev webhooks.Event
		var err error
		switch e.Kind {
		case webhooks.KindImagePushed:
			ev, err = decode[webhooks.ImagePushed](e.Event)
		case webhooks.KindGitPushed:
			ev, err = decode[webhooks.GitPushed](e.Event)
		case webhooks.KindPullRequest:
			ev, err = decode[webhooks.PullRequestEvent](e.Event)
		case webhooks.KindComment:
			ev, err = decode[webhooks.CommentEvent](e.Event)
		case webhooks.KindPing:
			ev, err = decode[webhooks.Ping](e.Event)
		case webhooks.KindWebhook:
			ev, err = decode[webhooks.WebhookReceived](e.Event)
		default:
			err = fmt.Errorf("unknown event kind %q", e.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("stored %s event: %w", e.Kind, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func decode[T webhooks.Event](raw json.RawMessage) (webhooks.Event, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}
