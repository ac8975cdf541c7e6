// Package config is the typed schema of Slipway's Git config repo: the
// accounts (clusters), projects and applications with their deploy targets
// that together are the only desired state Slipway acts on.
//
// [Load] reads a whole repo from an [fs.FS] (in production a read-only view
// of a git tree at one revision) and either returns a [Repo] that is valid
// as a whole — every reference resolves, every manifest directory exists —
// or an [ErrorList] holding every problem found, each pinned to
// file:line:column and a field path such as spec.targets[1].account, so a
// pull request comment can point at the exact line to fix.
//
// The package is pure: it reads only the fs.FS it is given, never the
// network or a cluster, and it never sees a secret. Accounts name their
// kubeconfig by a reference into the server's secret store.
//
// The repo layout and every field are documented in docs/config.md.
package config
