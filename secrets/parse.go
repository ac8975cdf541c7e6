package secrets

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// Parse builds the server's secret store from its --secrets flag: a
// comma-separated list of
//
//	dir:/path           files in a directory (Dir)
//	env:PREFIX_         environment variables (Env)
//	kube:namespace/name keys of a Kubernetes Secret (KubeSecret)
//
// tried in the order given. kube returns the client for kube: entries; it is
// called at most once, and only if there is one, so a server without cluster
// access can still use files and variables. Directory paths cannot contain
// commas. Parse checks syntax only; it does not read any secret.
func Parse(spec string, kube func() (kubernetes.Interface, error)) (Store, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("secrets: no secret store given; want e.g. dir:/etc/slipway/secrets,env:SLIPWAY_SECRET_")
	}
	var (
		chain  Chain
		client kubernetes.Interface
	)
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		kind, arg, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("secrets: entry %d %q: want dir:/path, env:PREFIX_ or kube:namespace/name", i+1, part)
		}
		switch kind {
		case "dir":
			if arg == "" {
				return nil, fmt.Errorf("secrets: entry %d %q: directory is empty", i+1, part)
			}
			chain = append(chain, Dir{Path: filepath.Clean(arg)})
		case "env":
			if err := checkPrefix(arg); err != nil {
				return nil, fmt.Errorf("secrets: entry %d %q: %w", i+1, part, err)
			}
			chain = append(chain, Env{Prefix: arg})
		case "kube":
			ns, name, ok := strings.Cut(arg, "/")
			if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
				return nil, fmt.Errorf("secrets: entry %d %q: want kube:namespace/name", i+1, part)
			}
			if client == nil {
				if kube == nil {
					return nil, fmt.Errorf("secrets: entry %d %q: no Kubernetes client available", i+1, part)
				}
				c, err := kube()
				if err != nil {
					return nil, fmt.Errorf("secrets: entry %d %q: kubernetes client: %w", i+1, part, err)
				}
				if c == nil {
					return nil, fmt.Errorf("secrets: entry %d %q: no Kubernetes client available", i+1, part)
				}
				client = c
			}
			chain = append(chain, KubeSecret{Client: client, Namespace: ns, Name: name})
		default:
			return nil, fmt.Errorf("secrets: entry %d %q: unknown kind %q; want dir, env or kube", i+1, part, kind)
		}
	}
	return chain, nil
}

// checkPrefix refuses an empty prefix, which would expose every variable of
// the process as a secret, and one that could not start a variable name.
func checkPrefix(p string) error {
	if p == "" {
		return errors.New("prefix is empty; an empty prefix would expose every environment variable")
	}
	for i, c := range p {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("prefix %q: only letters, digits and '_' are allowed, not starting with a digit", p)
		}
	}
	return nil
}
