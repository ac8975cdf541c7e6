package testground

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RegistryEventsMediaType is the media type of distribution's notification envelopes.
const RegistryEventsMediaType = "application/vnd.docker.distribution.events.v2+json"

// Registry is the ground's OCI registry (CNCF distribution). Its push
// notifications go to a relay in this process, which keeps them and forwards
// each delivery, byte for byte, to every subscriber.
type Registry struct {
	// Host is host:port of the registry, e.g. for image references.
	Host string
	// NotifyToken is the bearer token the registry sends with notifications.
	NotifyToken string

	crane string
	dir   string

	mu          sync.Mutex
	deliveries  []Delivery
	subscribers []subscriber
	nextSub     int
	changed     chan struct{}
}

// Delivery is one notification POST the registry made.
type Delivery struct {
	Header http.Header
	Body   []byte
	Events []RegistryEvent
}

// RegistryEvent is the part of a distribution event tests look at.
type RegistryEvent struct {
	ID        string    `json:"id"`
	Timestamp time.Time `json:"timestamp"`
	Action    string    `json:"action"`
	Target    struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		URL        string `json:"url"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

type subscriber struct {
	id     int
	url    string
	header http.Header
}

func (g *Ground) startRegistry(ctx context.Context, bins Binaries) error {
	dir := filepath.Join(g.Dir, "registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := &Registry{NotifyToken: randomString(24), crane: bins["crane"], dir: dir, changed: make(chan struct{})}

	relay, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serveRelay), ReadHeaderTimeout: 5 * time.Second}
	g.serve(srv, relay)

	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	r.Host = hostPort(ports[0])
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
notifications:
  events:
    includereferences: true
  endpoints:
  - name: testground-relay
    url: http://%s/events
    headers:
      Authorization: [Bearer %s]
    timeout: 5s
    threshold: 3
    backoff: 200ms
`, filepath.Join(dir, "data"), r.Host, randomString(16), relay.Addr(), r.NotifyToken), 0o644); err != nil {
		return err
	}
	// The registry exports traces over OTLP by default; there is no collector.
	p, err := g.startEnv("registry", bins["registry"], []string{"OTEL_TRACES_EXPORTER=none"}, "serve", config)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "registry", 30*time.Second, p, httpOK(http.DefaultClient, "http://"+r.Host+"/v2/")); err != nil {
		return err
	}
	g.Registry = r
	return nil
}

// Subscribe forwards every later notification delivery to url, with header
// added (an Authorization header replaces the registry's own), until the
// returned function is called. Unsubscribe a listener before it goes away:
// the registry retries a delivery that a subscriber fails, in order.
func (r *Registry) Subscribe(url string, header http.Header) (unsubscribe func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextSub++
	id := r.nextSub
	r.subscribers = append(r.subscribers, subscriber{id: id, url: url, header: header.Clone()})
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, s := range r.subscribers {
			if s.id == id {
				r.subscribers = append(r.subscribers[:i], r.subscribers[i+1:]...)
				return
			}
		}
	}
}

// Deliveries returns the notifications received so far.
func (r *Registry) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

// WaitForEvent waits until a received event satisfies match, and returns it.
func (r *Registry) WaitForEvent(ctx context.Context, match func(RegistryEvent) bool) (RegistryEvent, error) {
	for {
		r.mu.Lock()
		for _, d := range r.deliveries {
			for _, e := range d.Events {
				if match(e) {
					r.mu.Unlock()
					return e, nil
				}
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return RegistryEvent{}, fmt.Errorf("waiting for a registry event: %w", ctx.Err())
		case <-changed:
		}
	}
}

// serveRelay receives the registry's notifications. A subscriber's failure is
// passed back as a 502, so the registry retries as it would against it directly.
func (r *Registry) serveRelay(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/events" {
		http.NotFound(w, req)
		return
	}
	want := "Bearer " + r.NotifyToken
	if subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), []byte(want)) != 1 {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 10<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var env struct {
		Events []RegistryEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		http.Error(w, "bad envelope: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.deliveries = append(r.deliveries, Delivery{Header: req.Header.Clone(), Body: body, Events: env.Events})
	close(r.changed)
	r.changed = make(chan struct{})
	subs := append([]subscriber(nil), r.subscribers...)
	r.mu.Unlock()

	for _, s := range subs {
		if err := forward(req.Context(), s, req.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

func forward(ctx context.Context, s subscriber, h http.Header, body []byte) error {
	out, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range h {
		switch k {
		case "Content-Length", "Connection", "Accept-Encoding":
			continue
		}
		out.Header[k] = append([]string(nil), vs...)
	}
	for k, vs := range s.header {
		out.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		return fmt.Errorf("forwarding to %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("forwarding to %s: %s", s.url, resp.Status)
	}
	return nil
}

// Ref returns the full image reference of repo:tag on this registry.
func (r *Registry) Ref(repoAndTag string) string { return r.Host + "/" + repoAndTag }

// PushImage pushes a small image with crane, as a user would, and returns its
// digest. content makes the image unique; the same content gives the same digest.
func (r *Registry) PushImage(ctx context.Context, repoAndTag, content string) (string, error) {
	layer, err := os.CreateTemp(r.dir, "layer-*.tar")
	if err != nil {
		return "", err
	}
	defer os.Remove(layer.Name())
	tw := tar.NewWriter(layer)
	data := []byte(content + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "app/version.txt", Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		return "", err
	}
	if _, err := tw.Write(data); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := layer.Close(); err != nil {
		return "", err
	}
	out, err := r.Crane(ctx, "append", "-f", layer.Name(), "-t", r.Ref(repoAndTag))
	if err != nil {
		return "", err
	}
	// crane prints repo@sha256:…
	_, digest, ok := strings.Cut(strings.TrimSpace(out), "@")
	if !ok {
		return "", fmt.Errorf("crane append printed %q, want a digest reference", out)
	}
	return digest, nil
}

// Crane runs the ground's crane against this registry and returns its stdout.
func (r *Registry) Crane(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.crane, append([]string{"--insecure"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("crane %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return "", err
	}
	return stdout.String(), nil
}
