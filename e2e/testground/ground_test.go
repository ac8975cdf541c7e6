package testground

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestStopLeavesNothing starts a ground with only the registry and the Git
// server, and checks that Stop ends the processes, closes the ports and
// removes the data directory.
func TestStopLeavesNothing(t *testing.T) {
	g, err := Start(t.Context(), Options{NoKube: true, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.procs) != 1 || g.procs[0].name != "registry" {
		t.Fatalf("processes = %v, want only the registry", g.procs)
	}
	pid := g.procs[0].cmd.Process.Pid
	regAddr := g.Registry.Host
	gitAddr := strings.TrimPrefix(g.Git.BaseURL, "http://")
	dir := g.Dir

	g.Stop()
	g.Stop() // idempotent

	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("registry (pid %d) still exists after Stop: kill(0) = %v", pid, err)
	}
	for _, addr := range []string{regAddr, gitAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data directory %s still exists after Stop (stat: %v)", dir, err)
	}
}

func TestWriteCRILog(t *testing.T) {
	path := t.TempDir() + "/log"
	if err := writeCRILog(path, []string{"one", "two"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %q", len(lines), b)
	}
	for i, want := range []string{"one", "two"} {
		ts, rest, ok := strings.Cut(lines[i], " ")
		if !ok || rest != "stdout F "+want {
			t.Errorf("line %d = %q, want '<time> stdout F %s'", i, lines[i], want)
		}
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("line %d timestamp %q: %v", i, ts, err)
		}
	}
}

func TestLoadBalancerAddresses(t *testing.T) {
	c := &loadBalancerController{assigned: map[types.UID]string{}}
	a, b := c.addressFor("a"), c.addressFor("b")
	if a != "127.0.0.2" || b != "127.0.0.3" {
		t.Errorf("addresses = %s, %s; want 127.0.0.2, 127.0.0.3", a, b)
	}
	if again := c.addressFor("a"); again != a {
		t.Errorf("address of a changed from %s to %s", a, again)
	}
	c.next = 253
	if got := c.addressFor("c"); got != "127.0.1.2" {
		t.Errorf("254th address = %s, want 127.0.1.2", got)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
