package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/slipwaycd/slipway/e2e/testground"
	"github.com/slipwaycd/slipway/pipeline"
)

// summary is what printSummary shows.
type summary struct {
	g        *testground.Ground
	s        *slipway
	bin      string // the slipway binary
	crane    string // the ground's crane binary
	dataDir  string
	repo     string // the config repo
	hookURL  string // the registry's webhook receiver
	status   targetStatus
	pods     []corev1.Pod
	release  *pipeline.Execution
	timeline string // slipway release show, or the API's JSON
}

func printSummary(w io.Writer, m summary) {
	s, reg, st := m.s, m.g.Registry.Host, m.status
	fmt.Fprintf(w, `
Slipway is running on the embedded default: a local config repo seeded with
the flaskapp example (account local, project cd-demo, pipeline %[1]s),
synced into the test ground's cluster. Everything listens on 127.0.0.1 only.

  Config repo      %[2]s   (bare; examples/config-repo, registry %[3]s)
  Target           %[4]s/%[5]s   namespace %[6]s
  Synced revision  %[7]s
  Load balancer    %[8]s   (Service %[4]s, port 80, written by stage service)

Release order %[9]d, started by the push of %[3]s/%[10]s:v2:

%[11]s
Pods:
`, pipelineName, m.repo, reg, application, target, namespace, st.SyncedRevision,
		strings.Join(st.Ingress, ", "), m.release.ID, imageRepo, indent(m.timeline, "  "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tPHASE\tREADY\tIMAGE")
	for _, p := range m.pods {
		ready, images := 0, make([]string, 0, len(p.Spec.Containers))
		for _, c := range p.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
		}
		for _, c := range p.Spec.Containers {
			images = append(images, c.Image)
		}
		phase := string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d/%d\t%s\n", p.Name, phase, ready, len(p.Spec.Containers), strings.Join(images, ","))
	}
	_ = tw.Flush()

	fmt.Fprintf(w, `
  API              %[1]s/api/v1/targets   (%[1]s/api/v1/targets/%[2]s/%[3]s)
  Release orders   %[1]s/api/v1/releases?app=%[2]s   (%[1]s/api/v1/releases/%[4]d)
  OpenAPI          %[1]s/api/v1/openapi.yaml   (no token needed)
  Metrics          %[1]s/metrics   health %[1]s/healthz, %[1]s/readyz
  Admin token      %[5]s   (send it as Authorization: Bearer <token>)
  Webhook          %[6]s   (the registry's push notifications)
  Registry         http://%[7]s   (%[7]s/%[8]s:v1 and :v2)
  slipway log      %[9]s
  Data dir         %[10]s   (removed when the demo stops)

Use it from another shell:

  export SLIPWAY_SERVER=%[1]s SLIPWAY_TOKEN=$(cat %[5]s)
  export PATH=%[11]s:$PATH KUBECONFIG=%[12]s
  slipway release list
  slipway release show %[4]d
  slipway status %[2]s/%[3]s
  kubectl get deploy,svc,pods -n %[13]s

Roll back to v1 with a release order by hand:

  slipway release create --app %[2]s --pipeline %[14]s --artifact %[7]s/%[8]s:v1 --wait

Push another tag: the registry notifies slipway, whose docker trigger starts a release order:

  echo 'flaskapp v3' > /tmp/version.txt && tar -cf /tmp/flaskapp-v3.tar -C /tmp version.txt
  %[15]s --insecure append -f /tmp/flaskapp-v3.tar -t %[7]s/%[8]s:v3
  slipway release list

Change the config and watch slipway sync it (it polls the repo every 2s):

  git clone %[16]s /tmp/slipway-demo-work && cd /tmp/slipway-demo-work
  sed -i 's/replicas: 2/replicas: 3/' applications/%[2]s/%[3]s/deployment.yaml
  git commit -am 'Scale %[2]s to 3' && git push
  slipway status %[2]s/%[3]s
`, s.URL, application, target, m.release.ID, s.tokenFile(), m.hookURL, reg, imageRepo,
		s.logPath, m.dataDir, filepath.Dir(m.bin), m.g.Kube.Kubeconfig, namespace, pipelineName,
		m.crane, m.repo)
}

// releaseTimeline is `slipway release show <id>` run with the built binary,
// as a user would; if that fails, the API's JSON of the order, saying why.
func (s *slipway) releaseTimeline(ctx context.Context, bin string, id int64) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "release", "show", strconv.FormatInt(id, 10))
	cmd.Env = append(os.Environ(), "SLIPWAY_SERVER="+s.URL, "SLIPWAY_TOKEN="+s.token)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out)
	}
	note := fmt.Sprintf("(slipway release show %d failed: %v: %s; the API's answer instead)\n", id, err, strings.TrimSpace(string(out)))
	raw, err := s.getRaw(ctx, fmt.Sprintf("/api/v1/releases/%d", id))
	if err != nil {
		return note + err.Error() + "\n"
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return note + string(raw) + "\n"
	}
	return note + b.String() + "\n"
}

// cranePath is the ground's crane binary, from the build cache.
func cranePath(ctx context.Context) string {
	bins, err := testground.EnsureBinaries(ctx, io.Discard)
	if err != nil || bins["crane"] == "" {
		return "crane"
	}
	return bins["crane"]
}

// waitPods waits until every pod of the example runs image (a repo:tag; the
// pods' references add the digest) and none is terminating, then returns
// them. After timeout it returns them as they are.
func waitPods(ctx context.Context, kubeconfig, image string, timeout time.Duration) ([]corev1.Pod, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + application})
		if err != nil {
			return nil, fmt.Errorf("listing pods in %s: %w", namespace, err)
		}
		if allRun(list.Items, image) || time.Now().After(deadline) {
			return list.Items, nil
		}
		select {
		case <-ctx.Done():
			return list.Items, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func allRun(pods []corev1.Pod, image string) bool {
	if len(pods) == 0 {
		return false
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			return false
		}
		for _, c := range p.Spec.Containers {
			if c.Image != image && !strings.HasPrefix(c.Image, image+"@") {
				return false
			}
		}
	}
	return true
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

// indent prefixes every non-empty line of s, without trailing blanks.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, " \t\n") // tabwriter pads the last column
		if line != "" {
			b.WriteString(prefix)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
