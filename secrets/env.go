package secrets

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// b64Suffix marks an environment variable whose value is base64, for
// secrets (kubeconfigs, binary keys) awkward to put in a variable as is.
const b64Suffix = "_B64"

// Env reads secret name from the environment variable Prefix+NAME, where
// NAME is name upper-cased with '-' and '.' turned into '_': with Prefix
// "SLIPWAY_SECRET_", "local-kubeconfig" is SLIPWAY_SECRET_LOCAL_KUBECONFIG.
// If that is unset, Prefix+NAME+"_B64" is read instead. The value of a
// variable whose name ends in _B64 is base64-decoded; any other is used as
// is. Setting both is an error rather than a silent choice. An empty
// variable counts as unset, as container platforms often set variables they
// have no value for.
type Env struct {
	Prefix string
}

// Get implements Store.
func (e Env) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	// Without a prefix any variable (PATH, HOME…) would pass for a secret.
	if e.Prefix == "" {
		return nil, fmt.Errorf("secret %q: environment prefix is not set", name)
	}
	plainVar := e.VarName(name)
	b64Var := plainVar + b64Suffix
	plain, b64 := os.Getenv(plainVar), os.Getenv(b64Var)
	switch {
	case plain != "" && b64 != "":
		return nil, fmt.Errorf("secret %q: both %s and %s are set; set one", name, plainVar, b64Var)
	case plain != "":
		// A name like "token-b64" maps to a _B64 variable too, and gets
		// decoded like any other: the rule is about the variable's name.
		if strings.HasSuffix(plainVar, b64Suffix) {
			return decodeVar(name, plainVar, plain)
		}
		return []byte(plain), nil
	case b64 != "":
		return decodeVar(name, b64Var, b64)
	}
	return nil, notFound(name)
}

// VarName returns the variable Get reads for name (without the _B64
// variant), so error messages and docs can tell operators what to set.
func (e Env) VarName(name string) string {
	return e.Prefix + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
}

// String returns the store in Parse's syntax.
func (e Env) String() string { return "env:" + e.Prefix }

// decodeVar base64-decodes the value of variable v, which holds secret name.
func decodeVar(name, v, encoded string) ([]byte, error) {
	// Tolerate the line breaks `base64` inserts by default.
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(encoded), ""))
	if err != nil {
		// Say only what is wrong, never what the value is.
		return nil, fmt.Errorf("secret %q: %s is not valid base64", name, v)
	}
	return b, nil
}
