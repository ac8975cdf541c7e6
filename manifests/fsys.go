package manifests

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// errReadOnly is returned by every write on the kustomize view of the repo.
var errReadOnly = errors.New("the config repo is read-only while rendering")

// repoFS is kustomize's filesys.FileSystem over an fs.FS, read-only and lazy:
// kustomize sees the repo at "/", and nothing else. Every path is cleaned
// as an absolute path first, so "..", absolute paths and symlink-free tricks
// can never leave the fs.FS; the local disk is never touched.
//
// It also screens each kustomization (and plugin config) kustomize reads,
// refusing remote bases and files (kustomize would git clone or HTTP GET
// them, which a server rendering untrusted repos must not do) and the
// openapi: field (it changes kustomize's process-wide schema, which would
// leak between concurrent renders).
type repoFS struct {
	fsys fs.FS

	mu sync.Mutex
	// pluginConfigs holds the absolute paths of local generator,
	// transformer and validator configs named by kustomizations read so
	// far; they are screened like kustomizations when read.
	pluginConfigs map[string]bool
	// refused is the first screening refusal. kustomize swallows some
	// read errors (a kustomization it cannot read counts as missing), so
	// Render reports this instead of what kustomize made of it.
	refused error
}

var _ filesys.FileSystem = (*repoFS)(nil)

func newRepoFS(fsys fs.FS) *repoFS {
	return &repoFS{fsys: fsys, pluginConfigs: map[string]bool{}}
}

// abs cleans p as an absolute slash path inside the repo.
func abs(p string) string {
	return path.Clean("/" + filepath.ToSlash(p))
}

// rel maps a kustomize path to an fs.FS name.
func rel(p string) string {
	a := abs(p)
	if a == "/" {
		return "."
	}
	return a[1:]
}

func (r *repoFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (r *repoFS) Mkdir(string) error                  { return errReadOnly }
func (r *repoFS) MkdirAll(string) error               { return errReadOnly }
func (r *repoFS) RemoveAll(string) error              { return errReadOnly }
func (r *repoFS) WriteFile(string, []byte) error      { return errReadOnly }

func (r *repoFS) Open(p string) (filesys.File, error) {
	f, err := r.fsys.Open(rel(p))
	if err != nil {
		return nil, err
	}
	return readOnlyFile{f}, nil
}

func (r *repoFS) IsDir(p string) bool {
	fi, err := fs.Stat(r.fsys, rel(p))
	return err == nil && fi.IsDir()
}

func (r *repoFS) Exists(p string) bool {
	_, err := fs.Stat(r.fsys, rel(p))
	return err == nil
}

func (r *repoFS) ReadDir(p string) ([]string, error) {
	entries, err := fs.ReadDir(r.fsys, rel(p))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// CleanedAbs splits p into an existing directory and a file name ("" when p
// is itself a directory), as kustomize's on-disk implementation does.
func (r *repoFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	a := abs(p)
	fi, err := fs.Stat(r.fsys, rel(a))
	if err != nil {
		return "", "", fmt.Errorf("'%s' does not exist in the config repo: %w", a, err)
	}
	if fi.IsDir() {
		return filesys.ConfirmedDir(a), "", nil
	}
	return filesys.ConfirmedDir(path.Dir(a)), path.Base(a), nil
}

func (r *repoFS) Glob(pattern string) ([]string, error) {
	matches, err := fs.Glob(r.fsys, rel(pattern))
	if err != nil {
		return nil, err
	}
	for i, m := range matches {
		matches[i] = abs(m)
	}
	return matches, nil
}

func (r *repoFS) Walk(p string, walkFn filepath.WalkFunc) error {
	return fs.WalkDir(r.fsys, rel(p), func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return walkFn(abs(name), nil, err)
		}
		fi, err := d.Info()
		if err != nil {
			return walkFn(abs(name), nil, err)
		}
		return walkFn(abs(name), fi, nil)
	})
}

func (r *repoFS) ReadFile(p string) ([]byte, error) {
	a := abs(p)
	data, err := fs.ReadFile(r.fsys, rel(a))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case isKustomizationName(path.Base(a)):
		err = r.screenKustomization(a, data)
	case r.pluginConfigs[a]:
		err = screenPluginConfig(a, data)
	}
	if err != nil {
		if r.refused == nil {
			r.refused = err
		}
		return nil, err
	}
	return data, nil
}

// refusal returns the first screening refusal, if any.
func (r *repoFS) refusal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// readOnlyFile adapts an fs.File to kustomize's filesys.File.
type readOnlyFile struct{ fs.File }

func (f readOnlyFile) Write([]byte) (int, error)  { return 0, errReadOnly }
func (f readOnlyFile) Stat() (os.FileInfo, error) { return f.File.Stat() }

var _ io.ReadWriteCloser = readOnlyFile{}

// KustomizationNames are the file names kustomize recognises, in its
// order; whoever edits a target's kustomization looks for these.
var KustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func isKustomizationName(name string) bool {
	for _, n := range KustomizationNames {
		if name == n {
			return true
		}
	}
	return false
}

// pathListFields are the kustomization fields whose entries name a file or
// directory that kustomize may load from a remote URL.
var pathListFields = []string{
	"resources", "components", "bases", "crds", "configurations",
	"patchesStrategicMerge", "generators", "transformers", "validators",
}

// pluginFields are the fields whose entries are plugin configs, given
// either inline (multi-line YAML) or as a path to a file.
var pluginFields = map[string]bool{"generators": true, "transformers": true, "validators": true}

// nestedPathKeys are the keys, at any depth of a kustomization or a builtin
// plugin config, whose string values are paths kustomize loads
// (patches[].path, replacements[].path, configMapGenerator[].files, ...).
var nestedPathKeys = map[string]bool{"path": true, "paths": true, "files": true, "envs": true, "env": true}

// screenKustomization refuses what a server must not let a repo do. Files
// kustomize cannot parse are let through: kustomize reports those better.
func (r *repoFS) screenKustomization(file string, data []byte) error {
	var k map[string]any
	if err := sigsyaml.Unmarshal(data, &k); err != nil || k == nil {
		return nil
	}
	if v, ok := k["openapi"]; ok && v != nil {
		return fmt.Errorf("%s: openapi: is not supported (it changes kustomize's process-wide schema)", rel(file))
	}
	dir := path.Dir(file)
	for _, field := range pathListFields {
		list, _ := k[field].([]any)
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				continue
			}
			if strings.Contains(strings.TrimSpace(s), "\n") {
				// An inline patch or plugin config.
				if pluginFields[field] {
					if err := screenPluginConfig(file, []byte(s)); err != nil {
						return err
					}
				}
				continue
			}
			if isRemote(s) {
				return fmt.Errorf("%s: %s: remote reference %q is not supported; vendor it into the config repo", rel(file), field, s)
			}
			if pluginFields[field] {
				r.pluginConfigs[abs(path.Join(dir, s))] = true
			}
		}
	}
	return screenNested(file, k)
}

// screenPluginConfig refuses remote paths in (possibly multi-document)
// builtin plugin configs such as PatchTransformer or ConfigMapGenerator.
func screenPluginConfig(file string, data []byte) error {
	for _, doc := range splitDocuments(data) {
		var v any
		if err := sigsyaml.Unmarshal(doc, &v); err != nil {
			continue
		}
		if err := screenNested(file, v); err != nil {
			return err
		}
	}
	return nil
}

func screenNested(file string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		for key, val := range v {
			if nestedPathKeys[key] {
				for _, s := range stringValues(val) {
					if isRemote(s) {
						return fmt.Errorf("%s: %s: remote reference %q is not supported; vendor it into the config repo", rel(file), key, s)
					}
				}
			}
			if err := screenNested(file, val); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := screenNested(file, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// stringValues returns the string values of v (a string or a list), and for
// "key=value" entries (configMapGenerator files) the value too.
func stringValues(v any) []string {
	var out []string
	add := func(s string) {
		out = append(out, s)
		if _, after, ok := strings.Cut(s, "="); ok {
			out = append(out, after)
		}
	}
	switch v := v.(type) {
	case string:
		add(v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}

// scpUser matches the "user@" of scp-style git URLs (git@github.com:org/repo).
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether kustomize would treat s as a remote git repo or
// HTTP file. It errs on the side of "remote": it covers everything
// kustomize's own URL parser accepts (any scheme, git::, scp-style user@,
// github.com/ shorthands).
func isRemote(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	l = strings.TrimPrefix(l, "git::")
	return strings.Contains(l, "://") ||
		scpUser.MatchString(l) ||
		strings.HasPrefix(l, "github.com/") || strings.HasPrefix(l, "github.com:")
}
