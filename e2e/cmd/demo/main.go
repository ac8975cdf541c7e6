// Command demo runs Slipway's main job on the embedded default: it starts the
// test ground, builds slipway from this checkout and runs `slipway serve` with
// no --repo, so slipway creates its local config repo (seeded with
// examples/config-repo) and syncs the flaskapp example into the ground's
// cluster. It waits until the target is Synced and Healthy, prints how to look
// at it and change it, and runs until interrupted.
//
//	demo                  run until Ctrl-C
//	demo -once            exit 0 right after the summary (a smoke check)
//	demo -timeout 5m      wait longer for the target to become healthy
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipwaycd/slipway/e2e/testground"
)

// What the embedded default config repo (examples/config-repo) deploys.
const (
	application     = "flaskapp"
	target          = "testing"
	namespace       = "flaskapp-testing"
	kubeconfigName  = "local-kubeconfig"
	exampleImageTag = "team/flaskapp:v1"
)

func main() {
	once := flag.Bool("once", false, "exit 0 right after printing the summary (a smoke check)")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to wait for the target to become Synced and Healthy")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: demo [-once] [-timeout D]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *once, *timeout); err != nil {
		code := 1
		if ctx.Err() != nil {
			err, code = errors.New("interrupted"), 130
		}
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		stop()
		os.Exit(code)
	}
}

func run(ctx context.Context, once bool, timeout time.Duration) error {
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}

	// 1. The test ground.
	fmt.Println("demo: starting the test ground (Kubernetes, registry, Git server)")
	g, err := testground.Start(ctx, testground.Options{Log: os.Stdout})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("demo: stopping the test ground")
		g.Stop()
	}()

	// The example's image, so the registry holds what the cluster runs. (The
	// example names it 127.0.0.1:5000/…; kwok pulls nothing, so either works.)
	digest, err := g.Registry.PushImage(ctx, exampleImageTag, "flaskapp v1 (slipway demo)")
	if err != nil {
		return fmt.Errorf("pushing the example image: %w", err)
	}
	fmt.Printf("demo: pushed %s@%s\n", g.Registry.Ref(exampleImageTag), digest)

	// 2. slipway, built from this checkout.
	binDir, err := os.MkdirTemp("", "slipway-demo-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	bin := filepath.Join(binDir, "slipway")
	fmt.Printf("demo: building slipway from %s\n", root)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/slipway")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/slipway: %v\n%s", err, out)
	}

	// 3. Its data directory, with the ground's kubeconfig as the secret the
	// example's account names.
	dataDir, err := os.MkdirTemp("", "slipway-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	fmt.Printf("demo: data dir %s\n", dataDir)
	secretDir := filepath.Join(dataDir, "secrets")
	if err := os.MkdirAll(secretDir, 0o700); err != nil {
		return err
	}
	kc, err := os.ReadFile(g.Kube.Kubeconfig)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(secretDir, kubeconfigName), kc, 0o600); err != nil {
		return err
	}

	// 4. slipway serve on the embedded default config repo.
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	s, err := startSlipway(bin, dataDir, addr)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Printf("demo: started slipway serve (pid %d) on http://%s, log %s\n", s.cmd.Process.Pid, addr, s.logPath)

	// 5. Wait for the example to be synced and healthy.
	st, err := waitHealthy(ctx, s, g, timeout)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Println("\ndemo: interrupted")
			return nil
		}
		return fmt.Errorf("%v\nlast lines of %s:\n%s", err, s.logPath, tail(s.logPath, 30))
	}
	pods, err := listPods(ctx, g.Kube.Kubeconfig)
	if err != nil {
		return err
	}
	printSummary(os.Stdout, g, s, bin, dataDir, st, pods)
	if !once {
		fmt.Println("\nPress Ctrl-C to stop; slipway and the test ground stop with it.")
	}
	if once {
		fmt.Println("demo: -once: stopping")
		return nil
	}

	// 6. Run until interrupted, or until something dies.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\ndemo: interrupted, stopping slipway")
			return nil
		case <-s.done:
			return fmt.Errorf("slipway exited (%v); last lines of %s:\n%s", s.exitErr, s.logPath, tail(s.logPath, 30))
		case <-tick.C:
			if err := g.Failed(); err != nil {
				return fmt.Errorf("a test ground component died: %w", err)
			}
		}
	}
}

// repoRoot is the directory of the main module, found from the current directory.
func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the slipway module: run the demo from the repository (make demo)")
	}
	return filepath.Dir(gomod), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// slipway is the `slipway serve` child process.
type slipway struct {
	cmd     *exec.Cmd
	URL     string
	logPath string
	done    chan struct{}
	exitErr error
}

func startSlipway(bin, dataDir, addr string) (*slipway, error) {
	s := &slipway{URL: "http://" + addr, logPath: filepath.Join(dataDir, "slipway.log"), done: make(chan struct{})}
	lf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve",
		"--data-dir", dataDir,
		"--secrets", "dir:"+filepath.Join(dataDir, "secrets"),
		"--listen", addr,
		"--poll-interval", "2s",
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

func (s *slipway) status(ctx context.Context) (targetStatus, error) {
	var st targetStatus
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/targets/"+application+"/"+target, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return st, json.Unmarshal(b, &st)
}

// waitHealthy polls the example target, printing each change of phase or
// health, until it is Synced and Healthy with a load balancer address.
func waitHealthy(ctx context.Context, s *slipway, g *testground.Ground, timeout time.Duration) (targetStatus, error) {
	fmt.Printf("demo: waiting up to %s for %s/%s to be Synced and Healthy\n", timeout, application, target)
	start := time.Now()
	deadline := time.After(timeout)
	var last targetStatus
	var lastErr error
	shown := ""
	for {
		st, err := s.status(ctx)
		if err == nil {
			last, lastErr = st, nil
			line := fmt.Sprintf("phase %s, health %s", st.Phase, st.Health)
			if st.HealthMessage != "" {
				line += " (" + st.HealthMessage + ")"
			}
			if st.LastError != "" {
				line += "; error: " + firstLine(st.LastError)
			}
			if line != shown {
				fmt.Printf("demo: [%5.1fs] %s/%s: %s\n", time.Since(start).Seconds(), application, target, line)
				shown = line
			}
			if st.Phase == "Synced" && st.Health == "Healthy" && len(st.Ingress) > 0 {
				return st, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-s.done:
			return last, fmt.Errorf("slipway exited (%v) before %s/%s became healthy", s.exitErr, application, target)
		case <-deadline:
			msg := fmt.Sprintf("%s/%s not Synced and Healthy within %s (last: phase %q, health %q", application, target, timeout, last.Phase, last.Health)
			if last.LastError != "" {
				msg += ", error " + firstLine(last.LastError)
			}
			if lastErr != nil {
				msg += fmt.Sprintf(", last API error: %v", lastErr)
			}
			return last, errors.New(msg + ")")
		case <-time.After(500 * time.Millisecond):
		}
		if err := g.Failed(); err != nil {
			return last, fmt.Errorf("a test ground component died: %w", err)
		}
	}
}

func listPods(ctx context.Context, kubeconfig string) ([]corev1.Pod, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + application})
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	return list.Items, nil
}

func printSummary(w io.Writer, g *testground.Ground, s *slipway, bin, dataDir string, st targetStatus, pods []corev1.Pod) {
	repo := filepath.Join(dataDir, "config.git")
	fmt.Fprintf(w, `
Slipway is running on the embedded default: it syncs the example config repo
into the test ground's cluster. Everything listens on 127.0.0.1 only.

  Config repo      %s   (bare; seeded from examples/config-repo)
  Target           %s/%s   namespace %s
  Synced revision  %s
  Load balancer    %s   (Service %s, port 80)
  Pods:
`, repo, application, target, namespace, st.SyncedRevision, strings.Join(st.Ingress, ", "), application)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    NAME\tPHASE\tREADY\tIMAGE")
	for _, p := range pods {
		ready, images := 0, make([]string, 0, len(p.Spec.Containers))
		for _, c := range p.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
		}
		for _, c := range p.Spec.Containers {
			images = append(images, c.Image)
		}
		fmt.Fprintf(tw, "    %s\t%s\t%d/%d\t%s\n", p.Name, p.Status.Phase, ready, len(p.Spec.Containers), strings.Join(images, ","))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, `
  API              %[1]s/api/v1/targets   (%[1]s/api/v1/targets/%[2]s/%[3]s)
  Metrics          %[1]s/metrics   health %[1]s/healthz, %[1]s/readyz
  Registry         http://%[4]s   (the example's image is %[4]s/%[5]s)
  slipway log      %[6]s
  Data dir         %[7]s   (removed when the demo stops)

Use it from another shell:

  export KUBECONFIG=%[8]s
  kubectl get deploy,svc,pods -n %[9]s
  %[10]s status --server %[1]s
  %[10]s status --server %[1]s %[2]s/%[3]s

Change the config and watch slipway sync it (it polls the repo every 2s):

  git clone %[11]s /tmp/slipway-demo-work && cd /tmp/slipway-demo-work
  sed -i 's/replicas: 2/replicas: 3/' applications/%[2]s/%[3]s/deployment.yaml
  git commit -am 'Scale %[2]s to 3' && git push
  %[10]s status --server %[1]s %[2]s/%[3]s
`, s.URL, application, target, g.Registry.Host, exampleImageTag, s.logPath, dataDir,
		g.Kube.Kubeconfig, namespace, bin, repo)
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
