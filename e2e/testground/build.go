package testground

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Pinned versions of the ground's components. The Kubernetes and etcd
// versions are also pinned by the module in ../tools.
const (
	KubernetesVersion   = "v1.36.3"
	KwokVersion         = "v0.7.0"
	RegistryVersion     = "v3.1.2"
	CraneVersion        = "v0.22.1"
	GiteaVersion        = "v1.26.0"
	kubernetesGitMinor  = "36"
	kubernetesGitMajor  = "1"
	kubeBuildEstimate   = "about 6-8 minutes on 2 cores"
	smallBuildsEstimate = "about 4 minutes"
	giteaBuildEstimate  = "about 6 minutes on 2 cores, more when busy"
)

// tool is one cached build: a set of binaries produced by one go command.
type tool struct {
	name     string
	version  string
	bins     []string
	files    []string // other files the build leaves beside the binaries
	estimate string
	build    func(ctx context.Context, outDir string, log io.Writer) error
}

func tools() []tool {
	return []tool{
		{name: "kube", version: KubernetesVersion, estimate: kubeBuildEstimate,
			bins:  []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"},
			build: buildKube},
		{name: "kwok", version: KwokVersion, estimate: smallBuildsEstimate, bins: []string{"kwok"},
			build: goInstall("sigs.k8s.io/kwok/cmd/kwok@" + KwokVersion)},
		{name: "registry", version: RegistryVersion, estimate: smallBuildsEstimate, bins: []string{"registry"},
			build: goInstall("github.com/distribution/distribution/v3/cmd/registry@" + RegistryVersion)},
		{name: "crane", version: CraneVersion, estimate: smallBuildsEstimate, bins: []string{"crane"},
			build: goInstall("github.com/google/go-containerregistry/cmd/crane@" + CraneVersion)},
		{name: "gitea", version: GiteaVersion, estimate: giteaBuildEstimate, bins: []string{"gitea"},
			files: []string{giteaLocale}, build: buildGitea},
	}
}

// Binaries maps a binary name (etcd, kube-apiserver, kwok, registry, crane…)
// to its path in the cache.
type Binaries map[string]string

// CacheDir is where built binaries are kept between runs: $SLIPWAY_CACHE, or
// slipway under the user's cache directory (~/.cache/slipway).
func CacheDir() (string, error) {
	if d := os.Getenv("SLIPWAY_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache directory (set SLIPWAY_CACHE): %w", err)
	}
	return filepath.Join(d, "slipway"), nil
}

// EnsureBinaries builds whatever binary of the ground is not in the cache yet
// and returns where they all are. It is safe to call from several processes
// at once: builds are serialised by a lock file and published by rename. Progress
// goes to log.
func EnsureBinaries(ctx context.Context, log io.Writer) (Binaries, error) {
	return ensureBinaries(ctx, log, func(string) bool { return true })
}

// ensureBinaries is EnsureBinaries for the tools that need says it needs (by
// name: kube, kwok, registry, crane, gitea); the others are left unbuilt and
// out of the map.
func ensureBinaries(ctx context.Context, log io.Writer, need func(name string) bool) (Binaries, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(cache, "ground")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	bins := Binaries{}
	var missing []tool
	for _, t := range tools() {
		if !need(t.name) {
			continue
		}
		dir := filepath.Join(root, t.name+"-"+t.version)
		if !complete(dir, t) {
			missing = append(missing, t)
		}
		for _, b := range t.bins {
			bins[b] = filepath.Join(dir, b)
		}
	}
	if len(missing) == 0 {
		return bins, nil
	}

	unlock, err := lockFile(ctx, filepath.Join(root, ".lock"), log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for _, t := range missing {
		dir := filepath.Join(root, t.name+"-"+t.version)
		if complete(dir, t) { // another process built it while we waited
			continue
		}
		if err := buildTool(ctx, t, dir, log); err != nil {
			return nil, err
		}
	}
	return bins, nil
}

func complete(dir string, t tool) bool {
	for _, b := range t.bins {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	for _, f := range t.files {
		if !fileExists(filepath.Join(dir, f)) {
			return false
		}
	}
	return true
}

func buildTool(ctx context.Context, t tool, dir string, log io.Writer) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(filepath.Dir(dir), t.name+"-"+t.version+".build.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer lf.Close()

	fmt.Fprintf(log, "testground: building %s %s into %s (first run only, %s)\n", t.name, t.version, dir, t.estimate)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- t.build(ctx, tmp, lf) }()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("building %s %s failed (log: %s): %w\n%s", t.name, t.version, logPath, err, tail(logPath, 30))
			}
			if !complete(tmp, t) {
				return fmt.Errorf("building %s %s: expected binaries %v in %s (log: %s)", t.name, t.version, t.bins, tmp, logPath)
			}
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			if err := os.Rename(tmp, dir); err != nil {
				return err
			}
			fmt.Fprintf(log, "testground: built %s %s in %s\n", t.name, t.version, time.Since(start).Round(time.Second))
			return nil
		case <-tick.C:
			fmt.Fprintf(log, "testground: still building %s %s (%s so far)\n", t.name, t.version, time.Since(start).Round(time.Second))
		}
	}
}

// buildKube builds etcd and the Kubernetes control plane from the tools module
// that sits beside this package's source.
func buildKube(ctx context.Context, outDir string, log io.Writer) error {
	modDir, err := toolsModuleDir()
	if err != nil {
		return err
	}
	pkgs := map[string]string{
		"etcd":                    "go.etcd.io/etcd/server/v3",
		"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
		"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
		"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
	}
	ldflags := strings.Join([]string{
		"-s", "-w",
		"-X", "k8s.io/component-base/version.gitVersion=" + KubernetesVersion,
		"-X", "k8s.io/component-base/version.gitMajor=" + kubernetesGitMajor,
		"-X", "k8s.io/component-base/version.gitMinor=" + kubernetesGitMinor,
		"-X", "k8s.io/component-base/version.gitTreeState=clean",
		"-X", "k8s.io/client-go/pkg/version.gitVersion=" + KubernetesVersion,
	}, " ")
	for _, bin := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		fmt.Fprintf(log, "== %s\n", bin)
		cmd := exec.CommandContext(ctx, goBinary(), "build", "-trimpath", "-ldflags", ldflags,
			"-o", filepath.Join(outDir, bin), pkgs[bin])
		cmd.Dir = modDir
		cmd.Env = goEnv()
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", pkgs[bin], err)
		}
	}
	return nil
}

func goInstall(pkgAtVersion string) func(ctx context.Context, outDir string, log io.Writer) error {
	return func(ctx context.Context, outDir string, log io.Writer) error {
		cmd := exec.CommandContext(ctx, goBinary(), "install", "-trimpath", "-ldflags", "-s -w", pkgAtVersion)
		cmd.Dir = outDir // outside any module
		cmd.Env = append(goEnv(), "GOBIN="+outDir)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go install %s: %w", pkgAtVersion, err)
		}
		return nil
	}
}

func goEnv() []string {
	env := []string{"GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOWORK", "GOFLAGS", "CGO_ENABLED", "GOBIN", "GOOS", "GOARCH":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// goBinary finds the go command: on PATH, or where the official tarball puts it.
func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// toolsModuleDir finds e2e/tools from this source file's location, which is
// where `go test` and `go run` compile it from.
func toolsModuleDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the testground source to find e2e/tools")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "tools")
	if !fileExists(filepath.Join(dir, "go.mod")) {
		return "", fmt.Errorf("tools module not found at %s: build the ground from a checkout of the repository", dir)
	}
	return dir, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// lockFile takes an exclusive flock, telling the user once if it has to wait.
func lockFile(ctx context.Context, path string, log io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(log, "testground: waiting for another build holding %s\n", path)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// giteaLocale is one of the files Gitea reads at run time from its options
// directory, which the build copies beside the binary (STATIC_ROOT_PATH).
const giteaLocale = "options/locale/locale_en-US.json"

// buildGitea builds Gitea with SQLite (cgo) from its module, which `go install`
// cannot do (its go.mod has replace directives). The module is downloaded into
// the module cache (read-only), copied somewhere writable and built there.
// Without the bindata tag, Gitea reads its options (translations, which it
// needs to start, licences, labels…) and templates from disk: both are copied
// beside the binary. There are no built web assets (no JavaScript or CSS):
// the API and Git over HTTP are what the ground uses.
func buildGitea(ctx context.Context, outDir string, log io.Writer) error {
	const mod = "code.gitea.io/gitea@" + GiteaVersion
	work, err := os.MkdirTemp("", "slipway-gitea-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintf(log, "== go mod download %s\n", mod)
	var out strings.Builder
	dl := exec.CommandContext(ctx, goBinary(), "mod", "download", "-json", mod)
	dl.Dir = work // outside any module
	dl.Env = goEnv()
	dl.Stdout, dl.Stderr = &out, log
	if err := dl.Run(); err != nil {
		return fmt.Errorf("go mod download %s: %w\n%s", mod, err, out.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out.String()), &info); err != nil {
		return fmt.Errorf("go mod download %s: %w", mod, err)
	}
	if info.Dir == "" {
		return fmt.Errorf("go mod download %s: no directory (%s)", mod, info.Error)
	}

	src := filepath.Join(work, "gitea")
	fmt.Fprintf(log, "== copy %s to %s\n", info.Dir, src)
	if err := os.CopyFS(src, os.DirFS(info.Dir)); err != nil {
		return fmt.Errorf("copying the gitea module: %w", err)
	}
	tags := "sqlite sqlite_unlock_notify"
	ldflags := "-s -w -X main.Version=" + strings.TrimPrefix(GiteaVersion, "v") + " -X 'main.Tags=" + tags + "'"
	fmt.Fprintf(log, "== go build -tags %q (cgo)\n", tags)
	cmd := exec.CommandContext(ctx, goBinary(), "build", "-trimpath", "-tags", tags, "-ldflags", ldflags,
		"-o", filepath.Join(outDir, "gitea"), ".")
	cmd.Dir = src
	cmd.Env = append(goEnv(), "CGO_ENABLED=1") // the last value wins
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (needs a C compiler for SQLite): %w", mod, err)
	}
	for _, d := range []string{"options", "templates"} {
		if err := os.CopyFS(filepath.Join(outDir, d), os.DirFS(filepath.Join(info.Dir, d))); err != nil {
			return fmt.Errorf("copying gitea's %s: %w", d, err)
		}
	}
	return nil
}
