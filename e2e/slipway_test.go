package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/reconciler"
)

// slipwayBinary is built once per test run from this checkout.
var slipwayBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "slipway-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "slipway")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/slipwaycd/slipway/cmd/slipway")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building slipway: %v\n%s", err, out)
	}
	return bin, nil
})

// slipway is one `slipway serve` process under test.
type slipway struct {
	t       testing.TB
	args    []string
	dataDir string
	URL     string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// startSlipway runs slipway serve against a config repo on the ground's Git
// server, with the ground's kubeconfig in its secret store as each secret
// named in kubeconfigs.
func startSlipway(t testing.TB, repo string, kubeconfigs map[string]string, extra ...string) *slipway {
	t.Helper()
	return startSlipwayWithSecrets(t, repo, kubeconfigs, nil, extra...)
}

// startSlipwayWithSecrets is startSlipway with more secrets (name → value)
// in its secret store.
func startSlipwayWithSecrets(t testing.TB, repo string, kubeconfigs, secrets map[string]string, extra ...string) *slipway {
	t.Helper()
	if _, err := slipwayBinary(); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	secretDir := filepath.Join(dataDir, "secrets")
	if err := os.MkdirAll(secretDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(secretDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("git-password", []byte(ground.Git.Password))
	// The admin token slipway serve reads at start (it creates one when the
	// file is missing); every API call of the tests sends it.
	if err := os.WriteFile(filepath.Join(dataDir, "admin-token"), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, value := range secrets {
		write(name, []byte(value))
	}
	for name, path := range kubeconfigs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		write(name, b)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &slipway{
		t:       t,
		dataDir: dataDir,
		URL:     "http://" + addr,
		logPath: filepath.Join(dataDir, "slipway.log"),
		args: append([]string{"serve",
			"--repo", ground.Git.RepoURL(repo),
			"--git-username", ground.Git.User,
			"--git-password-secret", "git-password",
			"--secrets", "dir:" + secretDir,
			"--data-dir", dataDir,
			"--listen", addr,
			"--poll-interval", "500ms",
			"--log-level", "debug",
		}, extra...),
	}
	s.start()
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(s.logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("slipway log (last lines):\n%s", strings.Join(lines, "\n"))
		}
	})
	return s
}

func (s *slipway) start() {
	s.t.Helper()
	bin, _ := slipwayBinary()
	lf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); lf.Close(); close(s.done) }()
	ctx, cancel := context.WithTimeout(s.t.Context(), 60*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.logPath)
			s.t.Fatalf("slipway exited during start-up:\n%s", b)
		case <-ctx.Done():
			s.t.Fatalf("slipway not ready: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *slipway) stop(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// status reads a target's status from the API.
func (s *slipway) status(ref string) (reconciler.TargetStatus, error) {
	var st reconciler.TargetStatus
	err := getJSON(s.URL+"/api/v1/targets/"+ref, &st)
	return st, err
}

// waitStatus polls a target's status until ok accepts it.
func (s *slipway) waitStatus(ref string, timeout time.Duration, what string, ok func(reconciler.TargetStatus) bool) reconciler.TargetStatus {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last reconciler.TargetStatus
	var err error
	for time.Now().Before(deadline) {
		last, err = s.status(ref)
		if err == nil && ok(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(last, "", "  ")
	s.t.Fatalf("%s: %s not reached within %s (last error %v); last status:\n%s", ref, what, timeout, err, b)
	return last
}

// synced accepts a target synced at rev (any revision when rev is "") and Healthy.
func synced(rev string) func(reconciler.TargetStatus) bool {
	return func(st reconciler.TargetStatus) bool {
		return st.Phase == reconciler.PhaseSynced && st.Health == reconciler.Healthy &&
			(rev == "" || st.DesiredRevision == rev)
	}
}

// configRepo is a config repo on the ground's Git server with a working copy.
type configRepo struct {
	t    testing.TB
	name string
	work string
}

func newConfigRepo(t testing.TB, files map[string]string) *configRepo {
	t.Helper()
	name := fmt.Sprintf("config-%d", time.Now().UnixNano())
	if _, err := ground.Git.CreateRepo(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	r := &configRepo{t: t, name: name, work: filepath.Join(t.TempDir(), "work")}
	git(t, "", "clone", ground.Git.AuthRepoURL(name), r.work)
	git(t, r.work, "checkout", "-b", "main")
	r.commit("Initial config", files)
	return r
}

// commit writes files (an empty content removes the file), commits and
// pushes, and returns the new revision.
func (r *configRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for path, content := range files {
		full := filepath.Join(r.work, path)
		if content == "" {
			if err := os.Remove(full); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	git(r.t, r.work, "add", "-A")
	git(r.t, r.work, "-c", "user.name=Test", "-c", "user.email=test@example.invalid", "commit", "-q", "-m", msg)
	git(r.t, r.work, "push", "-q", "origin", "HEAD:main")
	return strings.TrimSpace(git(r.t, r.work, "rev-parse", "HEAD"))
}

// adminToken is the admin API token of every slipway the tests start.
const adminToken = "swt_e2eAdminTokenForTheTestGround0123456789"

// getJSON GETs an API URL as the admin and decodes a 200 answer.
func getJSON(url string, out any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// apiPost POSTs a JSON body (nil for none) to an API URL with a token and
// returns the status code and the body.
func apiPost(url, token string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, url, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
