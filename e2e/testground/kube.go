package testground

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// FakeNodeAnnotation marks the nodes that kwok simulates.
	FakeNodeAnnotation = "kwok.x-k8s.io/node"
	adminUser          = "ground-admin"
)

// Kube is the ground's Kubernetes: a real control plane with kwok nodes.
type Kube struct {
	// Kubeconfig is the path of a kubeconfig with cluster-admin rights.
	Kubeconfig string
	// Server is the https URL of kube-apiserver.
	Server string
	// Token is the admin bearer token in Kubeconfig.
	Token string
	// CAData is the PEM of the CA that signed the serving certificate.
	CAData []byte
	// Nodes are the names of the simulated nodes.
	Nodes []string
	// PodLogLines is what every container's log says.
	PodLogLines []string
}

// RESTConfig returns a fresh client configuration for the admin user.
func (k *Kube) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            k.Server,
		BearerToken:     k.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: k.CAData},
		QPS:             200,
		Burst:           400,
	}
}

// Clientset returns a typed client for the admin user.
func (k *Kube) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(k.RESTConfig())
}

func (g *Ground) startKube(ctx context.Context, bins Binaries) error {
	dir := filepath.Join(g.Dir, "kube")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	certs, err := newPKI(dir)
	if err != nil {
		return fmt.Errorf("creating certificates: %w", err)
	}
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	token := randomString(32)
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, fmt.Appendf(nil, "%s,%s,%s-uid,\"system:masters\"\n", token, adminUser, adminUser), 0o600); err != nil {
		return err
	}
	k := &Kube{
		Kubeconfig:  filepath.Join(dir, "kubeconfig"),
		Server:      "https://" + hostPort(apiPort),
		Token:       token,
		CAData:      certs.caPEM,
		PodLogLines: g.opts.PodLogLines,
	}
	if err := os.WriteFile(k.Kubeconfig, []byte(kubeconfigYAML(k)), 0o600); err != nil {
		return err
	}

	// etcd
	etcdURL := "http://" + hostPort(etcdClient)
	peerURL := "http://" + hostPort(etcdPeer)
	etcd, err := g.start("etcd", bins["etcd"],
		"--name=ground",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=ground="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "etcd", 30*time.Second, etcd, httpOK(http.DefaultClient, etcdURL+"/health")); err != nil {
		return err
	}

	// kube-apiserver
	api, err := g.start("kube-apiserver", bins["kube-apiserver"],
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The kubernetes Service's endpoints may not be loopback addresses;
		// nothing in the ground needs them.
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file="+certs.servingCert,
		"--tls-private-key-file="+certs.servKey,
		"--client-ca-file="+certs.caCert,
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-key-file="+certs.saPub,
		"--service-account-signing-key-file="+certs.saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/16",
		"--allow-privileged=true",
		"--kubelet-preferred-address-types=InternalIP",
		"--max-requests-inflight=1000",
		"--max-mutating-requests-inflight=500",
		"--profiling=false",
		"--v=0",
	)
	if err != nil {
		return err
	}
	tlsClient, err := adminHTTPClient(k)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "kube-apiserver", 90*time.Second, api, httpOK(tlsClient, k.Server+"/readyz")); err != nil {
		return err
	}

	// kube-controller-manager and kube-scheduler
	kcm, err := g.start("kube-controller-manager", bins["kube-controller-manager"],
		"--kubeconfig="+k.Kubeconfig,
		"--service-account-private-key-file="+certs.saKey,
		"--root-ca-file="+certs.caCert,
		"--controllers=*,-nodeipam",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(kcmPort),
		"--cert-dir="+filepath.Join(dir, "kcm-certs"),
		// kwok renews node leases less often than the default 50s grace.
		"--node-monitor-grace-period=1h",
		"--kube-api-qps=1000",
		"--kube-api-burst=2000",
		"--concurrent-deployment-syncs=20",
		"--concurrent-replicaset-syncs=20",
		"--concurrent-service-endpoint-syncs=20",
		"--concurrent-gc-syncs=50",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	schedConfig := filepath.Join(dir, "scheduler.yaml")
	if err := os.WriteFile(schedConfig, fmt.Appendf(nil, `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 1000
  burst: 2000
leaderElection:
  leaderElect: false
`, k.Kubeconfig), 0o644); err != nil {
		return err
	}
	sched, err := g.start("kube-scheduler", bins["kube-scheduler"],
		"--config="+schedConfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--cert-dir="+filepath.Join(dir, "scheduler-certs"),
	)
	if err != nil {
		return err
	}

	// kwok, serving the kubelet API (logs) on kwokPort.
	logsFile := filepath.Join(dir, "container.log")
	if err := writeCRILog(logsFile, g.opts.PodLogLines); err != nil {
		return err
	}
	kwokConfig := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(kwokConfig, fmt.Appendf(nil, `apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: ground-logs
spec:
  logs:
  - logsFile: %q
    follow: false
`, logsFile), 0o644); err != nil {
		return err
	}
	kwok, err := g.start("kwok", bins["kwok"],
		"--kubeconfig="+k.Kubeconfig,
		"--config="+kwokConfig,
		"--manage-nodes-with-annotation-selector="+FakeNodeAnnotation+"=fake",
		"--node-ip=127.0.0.1",
		"--node-port="+strconv.Itoa(kwokPort),
		"--server-address="+hostPort(kwokPort),
		"--tls-cert-file="+certs.servingCert,
		"--tls-private-key-file="+certs.servKey,
	)
	if err != nil {
		return err
	}

	cs, err := k.Clientset()
	if err != nil {
		return err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed health endpoints on loopback
	if err := waitFor(ctx, "kube-controller-manager", 60*time.Second, kcm, httpOK(insecure, "https://"+hostPort(kcmPort)+"/healthz")); err != nil {
		return err
	}
	if err := waitFor(ctx, "kube-scheduler", 60*time.Second, sched, httpOK(insecure, "https://"+hostPort(schedPort)+"/healthz")); err != nil {
		return err
	}
	if err := waitFor(ctx, "kwok", 60*time.Second, kwok, func(context.Context) error {
		c, err := tls.Dial("tcp", hostPort(kwokPort), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // probe only
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		return err
	}
	for i := range g.opts.Nodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		if err := createFakeNode(ctx, cs, name, i); err != nil {
			return err
		}
		k.Nodes = append(k.Nodes, name)
	}
	if err := waitFor(ctx, "fake nodes Ready", 60*time.Second, kwok, func(ctx context.Context) error {
		for _, n := range k.Nodes {
			node, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !nodeReady(node) {
				return fmt.Errorf("node %s not Ready", n)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	// The service account controller creating "default" shows the controllers run.
	if err := waitFor(ctx, "default service account", 60*time.Second, kcm, func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}

	lb := &loadBalancerController{client: cs}
	g.goBackground(func(ctx context.Context) { lb.run(ctx) })
	g.Kube = k
	return nil
}

func adminHTTPClient(k *Kube) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(k.CAData) {
		return nil, fmt.Errorf("bad CA PEM")
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &bearer{token: k.Token, rt: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
	}, nil
}

type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

func kubeconfigYAML(k *Kube) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testground
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: testground
  context:
    cluster: testground
    user: %s
current-context: testground
`, k.Server, base64Std(k.CAData), adminUser, k.Token, adminUser)
}

// writeCRILog writes lines in the CRI log format kwok serves as container logs.
func writeCRILog(path string, lines []string) error {
	var b strings.Builder
	t := time.Now().UTC()
	for i, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", t.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), l)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func createFakeNode(ctx context.Context, cs kubernetes.Interface, name string, i int) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{FakeNodeAnnotation: "fake"},
			Labels: map[string]string{
				"type":                   "kwok",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
		},
		// Each node gets its own /24 so the ground holds more than 254 pods.
		Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.1.%d.0/24", i), PodCIDRs: []string{fmt.Sprintf("10.1.%d.0/24", i)}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("1k"),
				corev1.ResourceMemory: resource.MustParse("1Ti"),
				corev1.ResourcePods:   resource.MustParse("250"),
			},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("1k"),
				corev1.ResourceMemory: resource.MustParse("1Ti"),
				corev1.ResourcePods:   resource.MustParse("250"),
			},
		},
	}
	_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
