package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/e2e/testground"
)

// ground is shared by the package's tests; each test works in its own
// namespace and repositories.
var ground *testground.Ground

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	// Benchmarks need room for thousands of pods: SLIPWAY_GROUND_NODES=12.
	nodes, _ := strconv.Atoi(os.Getenv("SLIPWAY_GROUND_NODES"))
	// Gitea is the forge of the pull request and chat-ops tests.
	g, err := testground.Start(ctx, testground.Options{Nodes: nodes, Gitea: true})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	ground = g
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: test ground logs:\n%s\n", g.LogTails(20))
	}
	g.Stop()
	os.Exit(code)
}
