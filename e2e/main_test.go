package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/slipwaycd/slipway/e2e/testground"
)

// ground is shared by the package's tests; each test works in its own
// namespace and repositories.
var ground *testground.Ground

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	g, err := testground.Start(ctx, testground.Options{})
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
