// Package testground runs the real components Slipway is tested against, all
// on this machine and bound to 127.0.0.1:
//
//   - Kubernetes: etcd, kube-apiserver, kube-controller-manager and
//     kube-scheduler built from their Go modules at pinned versions, plus kwok
//     simulating nodes and pods (pods reach Running/Ready and serve logs through
//     the real kubelet API path), and a small controller that gives every
//     LoadBalancer Service a 127.0.0.x ingress address;
//   - an OCI registry (CNCF distribution) whose push notifications are relayed
//     to whoever subscribes, and crane to push images without a container engine;
//   - a Git server speaking smart HTTP with basic auth (git http-backend);
//   - on request (Options.Gitea), a Gitea forge with an admin user and token,
//     for the API, Git over HTTP and signed webhooks.
//
// Binaries are built once into a cache outside the repository (see CacheDir)
// and reused. Every process gets its own free ports and data directory, so
// several grounds can run at once, and is stopped when the ground stops, when
// the process that started it dies, or on interrupt.
package testground
