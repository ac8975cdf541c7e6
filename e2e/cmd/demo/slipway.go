package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/e2e/testground"
	"github.com/slipwaycd/slipway/pipeline"
)

// slipway is the `slipway serve` child process.
type slipway struct {
	cmd     *exec.Cmd
	URL     string
	dataDir string
	logPath string
	// token is the admin API token, read once slipway serves.
	token   string
	done    chan struct{}
	exitErr error
}

// startSlipway runs slipway serve on the embedded default config repo of
// dataDir (no --repo), with one webhook receiver.
func startSlipway(bin, dataDir, addr, receiver string) (*slipway, error) {
	s := &slipway{URL: "http://" + addr, dataDir: dataDir, logPath: filepath.Join(dataDir, "slipway.log"), done: make(chan struct{})}
	lf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve",
		"--data-dir", dataDir,
		"--secrets", "dir:"+filepath.Join(dataDir, "secrets"),
		"--listen", addr,
		"--poll-interval", "2s",
		"--receiver", receiver,
	)
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	// Its own process group: a Ctrl-C reaches only the demo, which stops
	// slipway before the ground it talks to. Pdeathsig covers a killed demo.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting slipway: %w", err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		lf.Close()
		close(s.done)
	}()
	return s, nil
}

// stop sends SIGTERM and waits, killing slipway if it takes too long.
func (s *slipway) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		fmt.Fprintln(os.Stderr, "demo: slipway did not stop within 15s; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// tokenFile is where slipway serve keeps the admin API token.
func (s *slipway) tokenFile() string { return filepath.Join(s.dataDir, "admin-token") }

// waitServing waits until slipway answers /healthz, then reads the admin
// token it wrote before it started listening.
func (s *slipway) waitServing(ctx context.Context, timeout time.Duration) error {
	err := poll(ctx, s, timeout, 100*time.Millisecond, func() (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/healthz", nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil // not listening yet
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("slipway serve never answered %s/healthz: %w", s.URL, err)
	}
	b, err := os.ReadFile(s.tokenFile())
	if err != nil {
		return fmt.Errorf("reading the admin token: %w", err)
	}
	if s.token = strings.TrimSpace(string(b)); s.token == "" {
		return fmt.Errorf("the admin token file %s is empty", s.tokenFile())
	}
	return nil
}

// get calls the API with the admin token and decodes the JSON answer into v.
func (s *slipway) get(ctx context.Context, path string, v any) error {
	b, err := s.getRaw(ctx, path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (s *slipway) getRaw(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// targetStatus is the part of GET /api/v1/targets/<app>/<target> shown here.
type targetStatus struct {
	Phase           string   `json:"phase"`
	Health          string   `json:"health"`
	HealthMessage   string   `json:"healthMessage"`
	DesiredRevision string   `json:"desiredRevision"`
	SyncedRevision  string   `json:"syncedRevision"`
	LastError       string   `json:"lastError"`
	Ingress         []string `json:"ingress"`
}

// waitTarget polls the example target until ok holds. verbose prints each
// change of phase or health on the way.
func (s *slipway) waitTarget(ctx context.Context, g *testground.Ground, timeout time.Duration, what string, verbose bool, ok func(targetStatus) bool) (targetStatus, error) {
	if verbose {
		fmt.Printf("demo: waiting up to %s for %s/%s to be %s\n", timeout, application, target, what)
	}
	start := time.Now()
	var last targetStatus
	var lastErr error
	shown := ""
	err := poll(ctx, s, timeout, 500*time.Millisecond, func() (bool, error) {
		if err := g.Failed(); err != nil {
			return false, fmt.Errorf("a test ground component died: %w", err)
		}
		var st targetStatus
		if lastErr = s.get(ctx, "/api/v1/targets/"+application+"/"+target, &st); lastErr != nil {
			return false, nil
		}
		last = st
		line := fmt.Sprintf("phase %s, health %s", st.Phase, st.Health)
		if st.HealthMessage != "" {
			line += " (" + st.HealthMessage + ")"
		}
		if st.LastError != "" {
			line += "; error: " + firstLine(st.LastError)
		}
		if verbose && line != shown {
			fmt.Printf("demo: [%5.1fs] %s/%s: %s\n", time.Since(start).Seconds(), application, target, line)
			shown = line
		}
		return ok(st), nil
	})
	if err != nil {
		msg := fmt.Sprintf("%s/%s not %s: %v (last: phase %q, health %q, ingress %v", application, target, what, err, last.Phase, last.Health, last.Ingress)
		if last.LastError != "" {
			msg += ", error " + firstLine(last.LastError)
		}
		if lastErr != nil {
			msg += fmt.Sprintf(", last API error: %v", lastErr)
		}
		return last, errors.New(msg + ")")
	}
	return last, nil
}

// followRelease finds the release order the push of tag started (the
// newest of the application's with a docker trigger and that tag), prints
// one line per change of its status or its stages' until it ends, and
// returns it. It is an error unless the order succeeds within timeout.
func (s *slipway) followRelease(ctx context.Context, g *testground.Ground, timeout time.Duration, tag string) (*pipeline.Execution, error) {
	var ex *pipeline.Execution
	var lastErr error
	err := poll(ctx, s, timeout, 250*time.Millisecond, func() (bool, error) {
		var list []*pipeline.Execution
		if lastErr = s.get(ctx, "/api/v1/releases?"+url.Values{"app": {application}}.Encode(), &list); lastErr != nil {
			return false, nil
		}
		for _, e := range list { // newest first
			if e.Trigger.Type == config.TriggerDocker && hasTag(e, tag) {
				ex = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		msg := fmt.Sprintf("no release order for the push of %s:%s: %v", imageRepo, tag, err)
		if lastErr != nil {
			msg += fmt.Sprintf(" (last API error: %v)", lastErr)
		}
		return nil, fmt.Errorf("%s\nthe receiver's deliveries: %d relayed by the registry so far", msg, len(g.Registry.Deliveries()))
	}
	trigger := string(ex.Trigger.Type)
	if ex.Trigger.Summary != "" {
		trigger += ": " + ex.Trigger.Summary
	}
	fmt.Printf("%s  release %d  %s/%s  %s  (%s)\n", clock(ex.CreatedAt), ex.ID, ex.Application, ex.Pipeline, ex.Status, trigger)

	var prev *pipeline.Execution
	err = poll(ctx, s, timeout, 250*time.Millisecond, func() (bool, error) {
		var cur pipeline.Execution
		if lastErr = s.get(ctx, fmt.Sprintf("/api/v1/releases/%d", ex.ID), &cur); lastErr != nil {
			return false, nil
		}
		for _, l := range progress(prev, &cur) {
			fmt.Println(l)
		}
		prev, ex = &cur, &cur
		return cur.Status.Final(), nil
	})
	if err != nil {
		msg := fmt.Sprintf("release order %d is still %s: %v", ex.ID, ex.Status, err)
		if lastErr != nil {
			msg += fmt.Sprintf(" (last API error: %v)", lastErr)
		}
		return ex, errors.New(msg)
	}
	if ex.Status != pipeline.StatusSucceeded {
		msg := fmt.Sprintf("release order %d %s", ex.ID, ex.Status)
		if ex.Reason != "" {
			msg += ": " + ex.Reason
		}
		return ex, errors.New(msg)
	}
	return ex, nil
}

func hasTag(ex *pipeline.Execution, tag string) bool {
	for _, a := range ex.Artifacts {
		if a.Tag == tag {
			return true
		}
	}
	return false
}

// progress is one line per stage whose status changed since prev (nil: all
// stages that have left pending), then one when the order ends:
//
//	15:04:05  release 1  stage deploy   running
//	15:04:07  release 1  stage deploy   succeeded  commit 0123456789ab  Healthy
//	15:04:09  release 1  succeeded in 4s
func progress(prev, cur *pipeline.Execution) []string {
	width := 0
	for _, st := range cur.Stages {
		width = max(width, len(st.ID))
	}
	was := map[string]pipeline.StageStatus{}
	if prev != nil {
		for _, st := range prev.Stages {
			was[st.ID] = st.Status
		}
	}
	var lines []string
	for _, st := range cur.Stages {
		before, ok := was[st.ID]
		if !ok {
			before = pipeline.StagePending
		}
		if st.Status == before {
			continue
		}
		at := st.StartedAt
		if st.Status.Done() && !st.EndedAt.IsZero() {
			at = st.EndedAt
		}
		line := fmt.Sprintf("%s  release %d  stage %-*s  %s", clock(at), cur.ID, width, st.ID, st.Status)
		if o := st.Outputs; o.Commit != "" {
			line += "  commit " + shortRev(o.Commit)
		}
		if st.Outputs.Health != "" {
			line += "  " + st.Outputs.Health
		}
		if st.Error != "" && st.Status != pipeline.StageSucceeded {
			line += "  " + firstLine(st.Error)
		}
		lines = append(lines, line)
	}
	if cur.Status.Final() && (prev == nil || !prev.Status.Final()) {
		line := fmt.Sprintf("%s  release %d  %s", clock(cur.EndedAt), cur.ID, cur.Status)
		if !cur.StartedAt.IsZero() && !cur.EndedAt.IsZero() {
			line += " in " + cur.EndedAt.Sub(cur.StartedAt).Round(100*time.Millisecond).String()
		}
		if cur.Reason != "" {
			line += ": " + cur.Reason
		}
		lines = append(lines, line)
	}
	return lines
}

// clock is t as HH:MM:SS local time; now when t is unset.
func clock(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return t.Local().Format("15:04:05")
}

// poll calls done every interval until it reports true or an error, slipway
// exits, ctx ends or timeout passes.
func poll(ctx context.Context, s *slipway, timeout, interval time.Duration, done func() (bool, error)) error {
	deadline := time.After(timeout)
	for {
		if ok, err := done(); err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return fmt.Errorf("slipway exited (%v)", s.exitErr)
		case <-deadline:
			return fmt.Errorf("timed out after %s", timeout)
		case <-time.After(interval):
		}
	}
}
