// Package secrets resolves the credentials Slipway needs — cluster
// kubeconfigs, forge tokens, webhook secrets — by name, so that config files
// in Git can say "kubeconfig: prod-cluster" and never hold the value itself.
//
// A Store looks a name up in one place: a directory of files (Dir, which also
// reads a mounted Kubernetes Secret volume), environment variables (Env) or
// one Kubernetes Secret read through the API (KubeSecret). A Chain tries
// several in order, and Parse builds one from the server's --secrets flag.
//
// Secret names are deliberately narrow — letters, digits, '.', '_' and '-',
// not starting with '.' — so that the same name means the same thing in every
// store and cannot reach outside a directory. Values never appear in errors.
package secrets
