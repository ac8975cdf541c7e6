// Package e2e holds Slipway's black-box tests. They run against the real
// components of the test ground (package testground): a Kubernetes control
// plane with simulated nodes, an OCI registry and a Git server, all local.
// Nothing imports this package.
package e2e
