// Command demo runs Slipway's main job on the embedded default. It starts the
// test ground, seeds a local config repo with the flaskapp example (account
// local, project cd-demo, pipeline deployTesting), builds slipway from this
// checkout and runs `slipway serve` with no --repo, so that repo is its
// embedded default, with a webhook receiver the ground's registry notifies.
// Once flaskapp/testing is Synced and Healthy it pushes team/flaskapp:v2,
// follows the release order the push starts until it succeeds, prints how to
// look at it and change it, and runs until interrupted.
//
//	demo                  run until Ctrl-C
//	demo -once            exit 0 right after the summary (a smoke check)
//	demo -timeout 5m      wait longer at each step (healthy target, release order)
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing/fstest"
	"time"

	"github.com/slipwaycd/slipway/e2e/testground"
	"github.com/slipwaycd/slipway/examples"
	"github.com/slipwaycd/slipway/gitstore"
)

// What the example config repo (examples/config-repo) deploys, and how.
const (
	application    = "flaskapp"
	target         = "testing"
	namespace      = "flaskapp-testing"
	pipelineName   = "deployTesting"
	kubeconfigName = "local-kubeconfig"
	imageRepo      = "team/flaskapp"
	// exampleRegistry is the registry the example names; the demo puts the
	// ground's in its place (see seedConfigRepo).
	exampleRegistry = "127.0.0.1:5000"
	// The webhook receiver the ground's registry notifies, and the secret
	// (in slipway's secret store) holding its bearer token.
	receiverName   = "ground"
	receiverSecret = "registry-webhook"
)

func main() {
	once := flag.Bool("once", false, "exit 0 right after printing the summary (a smoke check)")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to wait at each step: the target Synced and Healthy, the release order done")
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
	started := time.Now()
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

	// The v1 image, so the registry holds what the cluster runs. It is
	// pushed before slipway listens: it starts no release order.
	v1 := g.Registry.Ref(imageRepo + ":v1")
	digest, err := g.Registry.PushImage(ctx, imageRepo+":v1", "flaskapp v1 (slipway demo)")
	if err != nil {
		return fmt.Errorf("pushing %s: %w", v1, err)
	}
	fmt.Printf("demo: pushed %s@%s\n", v1, digest)

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

	// 3. Its data directory: the config repo, and the secrets the example's
	// account and the webhook receiver name.
	dataDir, err := os.MkdirTemp("", "slipway-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	fmt.Printf("demo: data dir %s\n", dataDir)
	repo, err := seedConfigRepo(dataDir, g.Registry.Host)
	if err != nil {
		return err
	}
	fmt.Printf("demo: seeded %s from examples/config-repo (registry %s)\n", repo, g.Registry.Host)
	kc, err := os.ReadFile(g.Kube.Kubeconfig)
	if err != nil {
		return err
	}
	hookToken := rand.Text()
	if err := writeSecrets(filepath.Join(dataDir, "secrets"), map[string]string{
		kubeconfigName: string(kc),
		receiverSecret: hookToken + "\n",
	}); err != nil {
		return err
	}

	// 4. slipway serve on that repo (no --repo: the embedded default), with
	// the registry's notifications relayed to its receiver.
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	s, err := startSlipway(bin, dataDir, addr, "distribution/"+receiverName+"="+receiverSecret)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Printf("demo: started slipway serve (pid %d) on %s, log %s\n", s.cmd.Process.Pid, s.URL, s.logPath)
	// fail adds slipway's log to an error; an interrupt is no failure.
	fail := func(err error) error {
		if ctx.Err() != nil {
			fmt.Println("\ndemo: interrupted")
			return nil
		}
		return fmt.Errorf("%v\nlast lines of %s:\n%s", err, s.logPath, tail(s.logPath, 30))
	}
	if err := s.waitServing(ctx, 30*time.Second); err != nil {
		return fail(err)
	}
	hookURL := s.URL + "/webhooks/distribution/" + receiverName
	unsubscribe := g.Registry.Subscribe(hookURL, http.Header{"Authorization": {"Bearer " + hookToken}})
	defer unsubscribe() // before slipway stops: the registry retries a failed delivery
	fmt.Printf("demo: the registry notifies %s\n", hookURL)

	// 5. Wait for the example to be synced and healthy: the Deployment at v1.
	if _, err := s.waitTarget(ctx, g, timeout, "Synced and Healthy", true, func(st targetStatus) bool {
		return st.Phase == "Synced" && st.Health == "Healthy"
	}); err != nil {
		return fail(err)
	}

	// 6. Push v2: the pipeline's docker trigger starts a release order.
	v2 := g.Registry.Ref(imageRepo + ":v2")
	pushedAt := time.Now()
	digest, err = g.Registry.PushImage(ctx, imageRepo+":v2", "flaskapp v2 (slipway demo)")
	if err != nil {
		return fmt.Errorf("pushing %s: %w", v2, err)
	}
	fmt.Printf("demo: pushed %s@%s; waiting up to %s for the release order it starts\n", v2, digest, timeout)
	ex, err := s.followRelease(ctx, g, timeout, "v2")
	if err != nil {
		return fail(err)
	}
	fmt.Printf("demo: release order %d succeeded %s after the push\n", ex.ID, time.Since(pushedAt).Round(100*time.Millisecond))

	// 7. What it did: the Service's address, the pods at v2, the timeline.
	st, err := s.waitTarget(ctx, g, 30*time.Second, "Synced and Healthy with a load balancer address", false, func(st targetStatus) bool {
		return st.Phase == "Synced" && st.Health == "Healthy" && len(st.Ingress) > 0
	})
	if err != nil {
		return fail(err)
	}
	pods, err := waitPods(ctx, g.Kube.Kubeconfig, v2, 30*time.Second)
	if err != nil {
		return err
	}
	printSummary(os.Stdout, summary{
		g: g, s: s, bin: bin, crane: cranePath(ctx), dataDir: dataDir, repo: repo, hookURL: hookURL,
		status: st, pods: pods, release: ex,
		timeline: s.releaseTimeline(ctx, bin, ex.ID),
	})
	fmt.Printf("\ndemo: ready in %s\n", time.Since(started).Round(100*time.Millisecond))
	if once {
		fmt.Println("demo: -once: stopping")
		return nil
	}
	fmt.Println("Press Ctrl-C to stop; slipway and the test ground stop with it.")

	// 8. Run until interrupted, or until something dies.
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

// seedConfigRepo creates slipway's embedded default config repo,
// <dataDir>/config.git, from examples/config-repo with every mention of the
// example's registry (127.0.0.1:5000) replaced by the ground's.
//
// slipway would seed the repo from the same files itself, but the ground's
// registry listens on a free port, not on 5000, and the pipeline's expected
// artifact must name the registry the push notifications come from: the
// docker trigger matches <registry host>/<repository> of each push against
// it, so with the example as it is, pushing v2 would start nothing. slipway
// serve still runs without --repo: InitBare leaves an existing repo alone, so
// this one is its embedded default.
func seedConfigRepo(dataDir, registry string) (string, error) {
	example := examples.ConfigRepo()
	seed := fstest.MapFS{}
	err := fs.WalkDir(example, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(example, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data = []byte(strings.ReplaceAll(string(data), exampleRegistry, registry))
		seed[p] = &fstest.MapFile{Data: data, Mode: info.Mode()}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the example config repo: %w", err)
	}
	path := filepath.Join(dataDir, "config.git")
	if _, err := gitstore.InitBare(path, "main", seed, "Seed the config repo with the example", gitstore.DefaultAuthor); err != nil {
		return "", err
	}
	return path, nil
}

// writeSecrets writes each secret as a file of dir, slipway's dir: secret store.
func writeSecrets(dir string, secrets map[string]string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, value := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600); err != nil {
			return err
		}
	}
	return nil
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
