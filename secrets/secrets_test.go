package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// value is a secret value that must never show up in an error.
const value = "s3cr3t-value-do-not-print"

// check asserts Get's outcome: the value, ErrNotFound, or another error
// containing wantErr; and that no error ever carries the secret value.
func check(t *testing.T, s Store, name string, want []byte, wantErr string) {
	t.Helper()
	got, err := s.Get(t.Context(), name)
	if err != nil && strings.Contains(err.Error(), value) {
		t.Fatalf("error leaks the secret value: %v", err)
	}
	switch {
	case wantErr == "":
		if err != nil {
			t.Fatalf("Get(%q): %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Get(%q) (-want +got):\n%s", name, diff)
		}
	case wantErr == "not found":
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q) err = %v, want ErrNotFound", name, err)
		}
		if wantMsg := fmt.Sprintf("secret %q: secret not found", name); err.Error() != wantMsg {
			t.Errorf("err = %q, want %q", err, wantMsg)
		}
	default:
		if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Get(%q) err = %v, want an error (not ErrNotFound) containing %q", name, err, wantErr)
		}
	}
}

// unsafeNames are refused by every store.
var unsafeNames = map[string]string{
	"empty":            "",
	"slash":            "a/b",
	"parent":           "..",
	"parent path":      "../outside",
	"current dir":      ".",
	"hidden":           ".hidden",
	"volume internals": "..data",
	"backslash":        `a\b`,
	"space":            "a b",
	"nul":              "a\x00b",
	"absolute":         "/etc/passwd",
	"too long":         strings.Repeat("a", 254),
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("forge-token", value)
	write("kubeconfig.prod", "apiVersion: v1\n")
	write(".hidden", value)
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A mounted Kubernetes Secret volume: name -> ..data/name -> ..2026_x/name.
	if err := os.MkdirAll(filepath.Join(dir, "..2026_01_01"), 0o700); err != nil {
		t.Fatal(err)
	}
	write("..2026_01_01/webhook-secret", value)
	if err := os.Symlink("..2026_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/webhook-secret", filepath.Join(dir, "webhook-secret")); err != nil {
		t.Fatal(err)
	}
	// A link that leads out of the directory.
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		store   Dir
		name    string
		want    string
		wantErr string
	}{
		"file":                 {Dir{dir}, "forge-token", value, ""},
		"kept as is":           {Dir{dir}, "kubeconfig.prod", "apiVersion: v1\n", ""},
		"mounted secret link":  {Dir{dir}, "webhook-secret", value, ""},
		"missing":              {Dir{dir}, "nope", "", "not found"},
		"directory":            {Dir{dir}, "subdir", "", "subdir"},
		"symlink out of dir":   {Dir{dir}, "escape", "", "escape"},
		"missing directory":    {Dir{filepath.Join(dir, "gone")}, "forge-token", "", "secrets directory"},
		"directory is not set": {Dir{}, "forge-token", "", "secrets directory is not set"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			check(t, tc.store, tc.name, []byte(tc.want), tc.wantErr)
		})
	}
	for name, secret := range unsafeNames {
		t.Run("unsafe name/"+name, func(t *testing.T) {
			check(t, Dir{dir}, secret, nil, "secret name")
		})
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("SLIPWAY_SECRET_LOCAL_KUBECONFIG", value)
	t.Setenv("SLIPWAY_SECRET_GITEA_TOKEN_B64", "c2Vj\ncmV0\n") // "secret", wrapped like `base64` does
	t.Setenv("SLIPWAY_SECRET_BINARY_B64", "AAH/")
	t.Setenv("SLIPWAY_SECRET_BOTH", "x")
	t.Setenv("SLIPWAY_SECRET_BOTH_B64", "eA==")
	t.Setenv("SLIPWAY_SECRET_BAD_B64", "not base64!")
	t.Setenv("SLIPWAY_SECRET_EMPTY", "")
	t.Setenv("OTHER_LOCAL_KUBECONFIG", "other")
	t.Setenv("PATH_LOOKALIKE", value)

	env := Env{Prefix: "SLIPWAY_SECRET_"}
	tests := map[string]struct {
		store   Env
		name    string
		want    []byte
		wantErr string
	}{
		"dash to underscore":  {env, "local-kubeconfig", []byte(value), ""},
		"dot to underscore":   {env, "local.kubeconfig", []byte(value), ""},
		"already upper":       {env, "LOCAL_KUBECONFIG", []byte(value), ""},
		"base64":              {env, "gitea-token", []byte("secret"), ""},
		"base64 binary":       {env, "binary", []byte{0, 1, 0xff}, ""},
		"other prefix":        {Env{Prefix: "OTHER_"}, "local-kubeconfig", []byte("other"), ""},
		"missing":             {env, "nope", nil, "not found"},
		"empty counts unset":  {env, "empty", nil, "not found"},
		"both set":            {env, "both", nil, "both SLIPWAY_SECRET_BOTH and SLIPWAY_SECRET_BOTH_B64 are set"},
		"bad base64":          {env, "bad", nil, "SLIPWAY_SECRET_BAD_B64 is not valid base64"},
		"no prefix":           {Env{}, "path-lookalike", nil, "prefix is not set"},
		"name ending in -b64": {env, "gitea-token-b64", []byte("secret"), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			check(t, tc.store, tc.name, tc.want, tc.wantErr)
		})
	}
	for name, secret := range unsafeNames {
		t.Run("unsafe name/"+name, func(t *testing.T) {
			check(t, env, secret, nil, "secret name")
		})
	}
	if got := env.VarName("local-kubeconfig"); got != "SLIPWAY_SECRET_LOCAL_KUBECONFIG" {
		t.Errorf("VarName = %q", got)
	}
}

func TestKubeSecret(t *testing.T) {
	client := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "slipway", Name: "credentials"},
		Data: map[string][]byte{
			"prod-kubeconfig": []byte(value),
			"empty":           {},
		},
	})
	denied := fake.NewClientset()
	denied.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(`secrets "credentials" is forbidden: User "slipway" cannot get resource`)
	})

	store := KubeSecret{Client: client, Namespace: "slipway", Name: "credentials"}
	tests := map[string]struct {
		store   KubeSecret
		name    string
		want    []byte
		wantErr string
	}{
		"key":            {store, "prod-kubeconfig", []byte(value), ""},
		"empty value":    {store, "empty", []byte{}, ""},
		"missing key":    {store, "nope", nil, "not found"},
		"missing Secret": {KubeSecret{Client: client, Namespace: "slipway", Name: "gone"}, "prod-kubeconfig", nil, "read Secret slipway/gone"},
		"wrong ns":       {KubeSecret{Client: client, Namespace: "default", Name: "credentials"}, "prod-kubeconfig", nil, "read Secret default/credentials"},
		"forbidden":      {KubeSecret{Client: denied, Namespace: "slipway", Name: "credentials"}, "prod-kubeconfig", nil, "forbidden"},
		"no client":      {KubeSecret{Namespace: "slipway", Name: "credentials"}, "prod-kubeconfig", nil, "not fully set"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			check(t, tc.store, tc.name, tc.want, tc.wantErr)
		})
	}
	for name, secret := range unsafeNames {
		t.Run("unsafe name/"+name, func(t *testing.T) {
			check(t, store, secret, nil, "secret name")
		})
	}
}

// fakeStore returns its value for the names it has, and err for the rest.
type fakeStore struct {
	values map[string]string
	err    error
	calls  *int
}

func (f fakeStore) Get(_ context.Context, name string) ([]byte, error) {
	if f.calls != nil {
		*f.calls++
	}
	if v, ok := f.values[name]; ok {
		return []byte(v), nil
	}
	if f.err != nil {
		return nil, f.err
	}
	return nil, notFound(name)
}

func TestChain(t *testing.T) {
	broken := errors.New("disk on fire")
	var afterCalls int
	first := fakeStore{values: map[string]string{"token": "from-first"}}
	second := fakeStore{values: map[string]string{"token": "from-second", "kubeconfig": "from-second"}}
	failing := fakeStore{values: map[string]string{"hook": "from-failing"}, err: broken}
	after := fakeStore{values: map[string]string{"late": "from-after"}, calls: &afterCalls}

	tests := map[string]struct {
		chain   Chain
		name    string
		want    string
		wantErr string
	}{
		"first wins":               {Chain{first, second}, "token", "from-first", ""},
		"falls through":            {Chain{first, second}, "kubeconfig", "from-second", ""},
		"none has it":              {Chain{first, second}, "nope", "", "not found"},
		"empty chain":              {Chain{}, "token", "", "not found"},
		"error stops the lookup":   {Chain{first, failing, after}, "late", "", "disk on fire"},
		"found before the failure": {Chain{first, failing, after}, "token", "from-first", ""},
		"unsafe name":              {Chain{first}, "../token", "", "secret name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			check(t, tc.chain, tc.name, []byte(tc.want), tc.wantErr)
		})
	}
	if afterCalls != 0 {
		t.Errorf("a store after a failing one was asked %d times, want 0", afterCalls)
	}
}

func TestParse(t *testing.T) {
	client := fake.NewClientset()
	var kubeCalls int
	kube := func() (kubernetes.Interface, error) {
		kubeCalls++
		return client, nil
	}
	tests := map[string]struct {
		spec      string
		want      Chain
		wantCalls int
	}{
		"dir":       {"dir:/etc/slipway/secrets", Chain{Dir{"/etc/slipway/secrets"}}, 0},
		"dir clean": {"dir:/etc/slipway/../secrets/", Chain{Dir{"/etc/secrets"}}, 0},
		"env":       {"env:SLIPWAY_SECRET_", Chain{Env{"SLIPWAY_SECRET_"}}, 0},
		"kube":      {"kube:slipway/credentials", Chain{KubeSecret{client, "slipway", "credentials"}}, 1},
		"all, in order, spaces": {
			" env:SLIPWAY_SECRET_ , dir:/run/secrets,kube:slipway/a,kube:other/b",
			Chain{Env{"SLIPWAY_SECRET_"}, Dir{"/run/secrets"}, KubeSecret{client, "slipway", "a"}, KubeSecret{client, "other", "b"}},
			1, // one client for both kube entries
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kubeCalls = 0
			got, err := Parse(tc.spec, kube)
			if err != nil {
				t.Fatal(err)
			}
			// Compare the client by identity; its internals are not ours.
			opt := cmp.Comparer(func(a, b kubernetes.Interface) bool { return a == b })
			if diff := cmp.Diff(tc.want, got, opt); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.spec, diff)
			}
			if kubeCalls != tc.wantCalls {
				t.Errorf("kube() called %d times, want %d", kubeCalls, tc.wantCalls)
			}
		})
	}
	if got, _ := Parse("env:A_,dir:/x,kube:ns/n", kube); fmt.Sprint(got) != "env:A_,dir:/x,kube:ns/n" {
		t.Errorf("Chain.String() = %q", got)
	}
}

func TestParseRefusesBadSpecs(t *testing.T) {
	ok := func() (kubernetes.Interface, error) { return fake.NewClientset(), nil }
	failing := func() (kubernetes.Interface, error) { return nil, errors.New("no kubeconfig") }
	tests := map[string]struct {
		spec    string
		kube    func() (kubernetes.Interface, error)
		wantErr string
	}{
		"empty":              {"", ok, "no secret store given"},
		"blank":              {"  ", ok, "no secret store given"},
		"no kind":            {"/etc/secrets", ok, `entry 1 "/etc/secrets": want dir:/path`},
		"unknown kind":       {"vault:kv/slipway", ok, `unknown kind "vault"`},
		"empty entry":        {"dir:/a,,env:X_", ok, "entry 2"},
		"trailing comma":     {"dir:/a,", ok, "entry 2"},
		"dir without path":   {"dir:", ok, "directory is empty"},
		"env without prefix": {"env:", ok, "prefix is empty"},
		"env bad prefix":     {"env:SLIPWAY-SECRET", ok, "only letters, digits and '_'"},
		"env digit first":    {"env:1X_", ok, "not starting with a digit"},
		"kube without name":  {"kube:slipway", ok, "want kube:namespace/name"},
		"kube empty ns":      {"kube:/credentials", ok, "want kube:namespace/name"},
		"kube extra slash":   {"kube:a/b/c", ok, "want kube:namespace/name"},
		"kube no client":     {"kube:slipway/credentials", nil, "no Kubernetes client available"},
		"kube client fails":  {"kube:slipway/credentials", failing, "no kubeconfig"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.spec, tc.kube)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Parse(%q) = %v, %v; want an error containing %q", tc.spec, got, err, tc.wantErr)
			}
		})
	}
}
