// Command testground builds and runs Slipway's local test ground by hand.
//
//	testground            start everything, print how to reach it, run until interrupted
//	testground build      only build the binaries into the cache
//	testground -env FILE  also write the ground's variables to FILE (shell syntax)
//	testground -gitea     also run Gitea
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/slipwaycd/slipway/e2e/testground"
)

func main() {
	envFile := flag.String("env", "", "write the ground's variables to this file while it runs")
	nodes := flag.Int("nodes", 4, "number of simulated nodes (250 pods each)")
	gitea := flag.Bool("gitea", false, "also run Gitea "+testground.GiteaVersion)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: testground [-env FILE] [-nodes N] [-gitea] [build]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch flag.Arg(0) {
	case "build":
		bins, err := testground.EnsureBinaries(ctx, os.Stderr)
		if err != nil {
			fail(err)
		}
		cache, _ := testground.CacheDir()
		fmt.Printf("testground: %d binaries ready under %s\n", len(bins), cache)
		return
	case "":
	default:
		flag.Usage()
		os.Exit(2)
	}

	g, err := testground.Start(ctx, testground.Options{Nodes: *nodes, Gitea: *gitea})
	if err != nil {
		fail(err)
	}
	defer g.Stop()
	env := g.Env()
	if *envFile != "" {
		var b strings.Builder
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(&b, "export %s=%q\n", k, v)
		}
		if err := os.WriteFile(*envFile, []byte(b.String()), 0o600); err != nil {
			fail(err)
		}
		defer os.Remove(*envFile)
	}

	giteaLine := ""
	if g.Gitea != nil {
		giteaLine = fmt.Sprintf("  Gitea %s      %s   (API: /api/v1) admin %s, password %s\n",
			testground.GiteaVersion, g.Gitea.URL, g.Gitea.AdminUser, g.Gitea.AdminPassword)
	}
	fmt.Printf(`
The Slipway test ground is running. Everything listens on 127.0.0.1 only.

  Kubernetes %s   %s   (%d kwok nodes; LoadBalancer Services get 127.0.0.x)
  Registry            http://%s   (push with: %s)
  Git (smart HTTP)    %s/<repo>.git   user %s, password %s
%s
Use it from another shell:
`, testground.KubernetesVersion, g.Kube.Server, len(g.Kube.Nodes), g.Registry.Host,
		"crane --insecure push|append … "+g.Registry.Host+"/team/app:v1", g.Git.BaseURL, g.Git.User, g.Git.Password, giteaLine)
	for _, kv := range env {
		fmt.Printf("  export %s\n", kv)
	}
	fmt.Printf("\nData and logs: %s\nPress Ctrl-C to stop; everything started here stops with it.\n", g.Dir)
	select {
	case <-ctx.Done():
	case <-watchFailure(ctx, g):
	}
	fmt.Println("\ntestground: stopping")
}

// watchFailure ends the command if a component dies, saying which.
func watchFailure(ctx context.Context, g *testground.Ground) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := g.Failed(); err != nil {
					fmt.Fprintf(os.Stderr, "testground: a component died: %v\n", err)
					return
				}
			}
		}
	}()
	return ch
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "testground: %v\n", err)
	os.Exit(1)
}
