// Package manifests turns a deploy target's manifest directory in the config
// repo into the Kubernetes objects Slipway applies, and edits the one part of
// that directory Slipway writes back: kustomize's images: list.
//
// It is pure with respect to the outside world: it reads only the fs.FS it is
// given (a Git tree at a revision), never the local disk, the network or a
// cluster.
//
//   - Render builds a directory: a kustomization is built in memory with
//     kustomize's krusty (plugins off, remote bases and files refused,
//     loads restricted to the repository); a plain directory is read as YAML
//     and JSON files.
//   - Stamp labels and annotates rendered objects so the reconciler can find
//     what it owns (app.kubernetes.io/managed-by=slipway, application, target)
//     and the console can group them (Spinnaker-style moniker annotations).
//   - Hash and SortForApply give the reconciler a cheap "nothing changed"
//     check and a deterministic apply order.
//   - SetImage, ReadKustomizationImages and ParseImageRef bind an image
//     artifact ("repo:tag@digest") to a target by editing its
//     kustomization.yaml, preserving comments and layout.
package manifests
