package webhooks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Receiver is one configured webhook endpoint: /webhooks/{Provider}/{Name}.
type Receiver struct {
	// Name is unique across all receivers; it is the {receiver} URL segment.
	Name string
	// Provider is one of Providers().
	Provider string
	// Secret is the HMAC key (github, ghcr, gitea, coding) or the token
	// (distribution, harbor, gitlab, dockerhub, quay); generic takes it as
	// either. Required.
	Secret []byte
}

// Options tune the handler; the zero value is sensible.
type Options struct {
	// MaxBody caps a request body; larger ones get 413. Default 1 MiB.
	MaxBody int64
	// RatePerSecond and Burst limit requests per remote IP (RemoteAddr; put
	// the handler behind a proxy that sets it, no forwarded header is
	// trusted). Zero means 50/s with a burst of 100; a negative rate turns
	// limiting off.
	RatePerSecond float64
	Burst         int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger gets one line per refused or failed delivery (default: none).
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultMaxBody       = 1 << 20
	DefaultRatePerSecond = 50
	DefaultBurst         = 100
)

// maxDeliveryID bounds a delivery id taken from a header.
const maxDeliveryID = 200

type handler struct {
	receivers map[string]Receiver // key: provider + "/" + name
	sink      Sink
	opts      Options
	limiter   *limiter
	mux       *http.ServeMux
}

// NewHandler returns the handler for /webhooks/{provider}/{receiver}. It
// refuses to build (fail closed) when a receiver has no secret, names an
// unknown provider, or repeats a name; sink is required.
//
// For each request the order is fixed: method and route, rate limit, cap
// the body, verify the credential, parse strictly, translate, hand to the
// sink, reply once. Replies are one plain-text line:
//
//	202 accepted (the sink took it) or "ignored: …" (verified, nothing to do)
//	400 malformed payload or missing field   401 credential missing
//	403 credential wrong   404 unknown receiver   405 not POST
//	413 body over MaxBody  429 rate limited (Retry-After)
//	503 the sink failed (Retry-After); the sender should retry
func NewHandler(receivers []Receiver, sink Sink, opts Options) (http.Handler, error) {
	if sink == nil {
		return nil, errors.New("webhooks: nil sink")
	}
	h := &handler{receivers: map[string]Receiver{}, sink: sink, opts: opts}
	names := map[string]bool{}
	for i, r := range receivers {
		switch {
		case r.Name == "" || strings.ContainsAny(r.Name, "/?#%") || strings.TrimSpace(r.Name) != r.Name:
			return nil, fmt.Errorf("webhooks: receiver %d: invalid name %q", i, r.Name)
		case names[r.Name]:
			return nil, fmt.Errorf("webhooks: receiver %q: duplicate name", r.Name)
		case providers[r.Provider].parse == nil:
			return nil, fmt.Errorf("webhooks: receiver %q: unknown provider %q (known: %s)", r.Name, r.Provider, strings.Join(Providers(), ", "))
		case len(r.Secret) == 0:
			return nil, fmt.Errorf("webhooks: receiver %q: empty secret: refusing to accept unauthenticated deliveries", r.Name)
		}
		names[r.Name] = true
		r.Secret = append([]byte(nil), r.Secret...)
		h.receivers[r.Provider+"/"+r.Name] = r
	}
	if h.opts.MaxBody <= 0 {
		h.opts.MaxBody = DefaultMaxBody
	}
	if h.opts.Now == nil {
		h.opts.Now = time.Now
	}
	if h.opts.Logger == nil {
		h.opts.Logger = slog.New(slog.DiscardHandler)
	}
	rate, burst := h.opts.RatePerSecond, h.opts.Burst
	if rate == 0 {
		rate = DefaultRatePerSecond
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	if rate > 0 {
		h.limiter = newLimiter(rate, burst, h.opts.Now)
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("/webhooks/{provider}/{receiver}", h.serve)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusNotFound, "not a webhook URL: want /webhooks/{provider}/{receiver}")
	})
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	providerName, name := r.PathValue("provider"), r.PathValue("receiver")
	status, msg, n := h.handle(w, r, providerName, name)
	if status >= 400 || n == 0 {
		h.opts.Logger.Info("webhook delivery not accepted", "provider", providerName, "receiver", name, "status", status, "reason", msg, "remote", r.RemoteAddr)
	}
	reply(w, status, msg)
}

// handle runs the fixed steps and returns the reply and the number of
// events handed to the sink.
func (h *handler) handle(w http.ResponseWriter, r *http.Request, providerName, name string) (int, string, int) {
	if h.limiter != nil {
		if wait, ok := h.limiter.allow(remoteIP(r)); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			return http.StatusTooManyRequests, "rate limited: retry later", 0
		}
	}
	rc, ok := h.receivers[providerName+"/"+name]
	if !ok {
		return http.StatusNotFound, "unknown webhook receiver", 0
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, "method not allowed: webhooks are POSTed", 0
	}
	p := providers[rc.Provider]

	// Cap the body.
	if r.ContentLength > h.opts.MaxBody {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.opts.MaxBody), 0
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.opts.MaxBody), 0
		}
		return http.StatusBadRequest, "could not read body", 0
	}

	// Verify, then parse; nothing from the body is looked at before this.
	if err := p.verify(r, body, rc.Secret); err != nil {
		return statusOf(err)
	}
	id, err := deliveryID(p, r.Header, body)
	if err != nil {
		return statusOf(err)
	}
	var event string
	if p.eventHeader != "" {
		event = r.Header.Get(p.eventHeader)
	}
	payload := body
	if p.form {
		if payload, err = formPayload(r.Header, body); err != nil {
			return statusOf(err)
		}
	}
	origin := Origin{Provider: rc.Provider, Receiver: rc.Name, DeliveryID: id}
	events, err := p.parse(origin, event, r.Header, payload)
	if err != nil {
		return statusOf(err)
	}
	if len(events) == 0 {
		return http.StatusAccepted, "ignored: nothing to act on", 0
	}

	d := Delivery{
		Provider:   rc.Provider,
		Receiver:   rc.Name,
		ID:         id,
		Event:      event,
		Events:     events,
		Body:       body,
		Header:     safeHeader(r.Header),
		ReceivedAt: h.opts.Now().UTC(),
	}
	if d.Event == "" {
		d.Event = string(events[0].Kind())
	}
	if err := h.sink.Accept(r.Context(), d); err != nil {
		h.opts.Logger.Error("webhook sink failed", "provider", rc.Provider, "receiver", rc.Name, "delivery", id, "err", err)
		w.Header().Set("Retry-After", "5")
		return http.StatusServiceUnavailable, "not stored: retry later", 0
	}
	return http.StatusAccepted, fmt.Sprintf("accepted %d event(s), delivery %s", len(events), id), len(events)
}

// statusOf maps a refusal to its reply; any other error is a bad request,
// since only the sink may cause a 5xx.
func statusOf(err error) (int, string, int) {
	if rf, ok := errors.AsType[*refusal](err); ok {
		return rf.status, rf.reason, 0
	}
	return http.StatusBadRequest, oneLine(err.Error()), 0
}

// deliveryID takes the provider's id, or hashes the body when there is none.
func deliveryID(p provider, h http.Header, body []byte) (string, error) {
	var id string
	switch {
	case p.deliveryID != nil:
		id = p.deliveryID(h, body)
	case p.idHeader != "":
		id = h.Get(p.idHeader)
	}
	if id == "" {
		sum := sha256.Sum256(body)
		return "sha256:" + hex.EncodeToString(sum[:]), nil
	}
	if len(id) > maxDeliveryID {
		return "", badRequest("delivery id longer than %d bytes", maxDeliveryID)
	}
	for _, c := range id {
		if c <= 0x20 || c >= 0x7f {
			return "", badRequest("delivery id with characters other than printable ASCII")
		}
	}
	return id, nil
}

// credentialHeaders never leave the handler.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Gitlab-Token", slipwayTokenHeader}

func safeHeader(h http.Header) http.Header {
	c := h.Clone()
	for _, k := range credentialHeaders {
		c.Del(k)
	}
	return c
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, oneLine(msg)+"\n")
}
