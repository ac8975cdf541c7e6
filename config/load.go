package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds what one config file may hold. Config files are small;
// the bound keeps a hostile pull request from making validation read a
// huge file into memory.
const maxFileSize = 1 << 20

// Load reads and validates the whole config repo in fsys. It returns the
// Repo only when everything is valid; otherwise it returns an ErrorList
// with every problem in every file, sorted by file and position.
//
// Load only reads fsys. Files it does not know are ignored, except YAML
// files with the wrong extension in accounts/ and projects/, which are
// reported rather than silently skipped.
func Load(fsys fs.FS) (*Repo, error) {
	repo, errs := load(fsys)
	if len(errs) > 0 {
		return nil, errs
	}
	return repo, nil
}

// Validate reports every problem in the config repo in fsys, or nil when
// it is valid; it is Load for callers that only need the verdict, such as
// the pull request check.
func Validate(fsys fs.FS) ErrorList {
	_, errs := load(fsys)
	return errs
}

// loader holds the state of one Load: what was decoded so far, and each
// file's decoder so that checks across files can point at positions.
type loader struct {
	fsys fs.FS
	errs ErrorList
	repo *Repo
	docs map[string]*decoder // by file
}

func load(fsys fs.FS) (*Repo, ErrorList) {
	l := &loader{
		fsys: fsys,
		repo: &Repo{
			Accounts:     map[string]*Account{},
			Projects:     map[string]*Project{},
			Applications: map[string]*Application{},
		},
		docs: map[string]*decoder{},
	}
	l.loadAccounts()
	l.loadProjects()
	l.loadApplications()
	l.loadPipelines()
	l.checkTargets()
	l.checkProjects()
	l.checkPipelines()
	l.errs.sort()
	return l.repo, l.errs
}

// loadAccounts reads accounts/<name>.yaml.
func (l *loader) loadAccounts() {
	for _, name := range l.objectFiles("accounts", KindAccount) {
		file := "accounts/" + name + ".yaml"
		d, root := l.parse(file, KindAccount)
		a := &Account{Name: name, Source: Source{File: file}}
		if root != nil {
			a = d.account(root, name)
		}
		// Keyed by file name even when metadata.name is wrong, so that
		// references to it do not fail a second time.
		l.repo.Accounts[name] = a
	}
}

// loadProjects reads projects/<name>.yaml.
func (l *loader) loadProjects() {
	for _, name := range l.objectFiles("projects", KindProject) {
		file := "projects/" + name + ".yaml"
		d, root := l.parse(file, KindProject)
		p := &Project{Name: name, Source: Source{File: file}}
		if root != nil {
			p = d.project(root, name)
		}
		l.repo.Projects[name] = p
	}
}

// loadApplications reads applications/<name>/application.yaml. Every
// directory under applications/ must hold one; other files in it (manifests,
// pipelines) are not read here.
func (l *loader) loadApplications() {
	entries := l.readDir("applications")
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		file := "applications/" + name + "/application.yaml"
		if _, err := fs.Stat(l.fsys, file); errors.Is(err, fs.ErrNotExist) {
			l.errs = append(l.errs, &Error{File: path.Dir(file), Msg: "missing application.yaml"})
			continue
		}
		d, root := l.parse(file, KindApplication)
		a := &Application{Name: name, Dir: path.Dir(file), Source: Source{File: file}}
		if root != nil {
			a = d.application(root, name)
		}
		l.repo.Applications[name] = a
	}
}

// checkTargets checks what each target refers to: its account, the
// account's namespaces, and its manifest directory.
func (l *loader) checkTargets() {
	for _, name := range sortedKeys(l.repo.Applications) {
		a := l.repo.Applications[name]
		d := l.docs[a.Source.File]
		for i, t := range a.Targets {
			at := index("spec.targets", i)
			if acc, ok := l.repo.Accounts[t.Account]; t.Account != "" && !ok {
				d.errorAt(join(at, "account"), "account %q not found (no accounts/%s.yaml)", t.Account, t.Account)
			} else if ok && len(acc.Namespaces) > 0 && t.Namespace != "" && !slices.Contains(acc.Namespaces, t.Namespace) {
				d.errorAt(join(at, "namespace"), "namespace %q is not allowed by account %q (allowed: %s)",
					t.Namespace, t.Account, strings.Join(acc.Namespaces, ", "))
			}
			if t.Path != "" {
				if msg := l.checkManifestDir(t.Path); msg != "" {
					d.errorAt(join(at, "path"), "%s", msg)
				}
			}
		}
	}
}

// checkManifestDir says what is wrong with a target's manifest directory,
// or "" when it holds a kustomization or at least one manifest file.
func (l *loader) checkManifestDir(dir string) string {
	info, err := fs.Stat(l.fsys, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("directory %s does not exist", dir)
	case err != nil:
		return err.Error()
	case !info.IsDir():
		return fmt.Sprintf("%s is not a directory", dir)
	}
	entries, err := fs.ReadDir(l.fsys, dir)
	if err != nil {
		return err.Error()
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch name := e.Name(); {
		case name == "kustomization.yaml", name == "kustomization.yml", name == "Kustomization":
			return ""
		case strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".yml"), strings.HasSuffix(name, ".json"):
			return ""
		}
	}
	return fmt.Sprintf("%s holds no kustomization.yaml and no .yaml, .yml or .json manifests", dir)
}

// checkProjects checks that projects name existing applications and that
// no application is bound to two projects.
func (l *loader) checkProjects() {
	boundBy := map[string]*Project{}
	for _, name := range sortedKeys(l.repo.Projects) {
		p := l.repo.Projects[name]
		d := l.docs[p.Source.File]
		for i, app := range p.Applications {
			at := index("spec.applications", i)
			switch first, bound := boundBy[app]; {
			case app == "" || !isLabel(app):
				// Already reported.
			case l.repo.Applications[app] == nil:
				d.errorAt(at, "application %q not found (no applications/%s/application.yaml)", app, app)
			case bound && first != p:
				d.errorAt(at, "application %q is already bound to project %q (%s); an application belongs to at most one project", app, first.Name, first.Source.File)
			default:
				boundBy[app] = p
			}
		}
	}
}

// objectFiles lists the object names in dir: the file names of its *.yaml
// files without the extension. A *.yml or *.json file there is reported,
// since it would otherwise be silently ignored.
func (l *loader) objectFiles(dir, kind string) []string {
	var names []string
	for _, e := range l.readDir(dir) {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		switch ext := path.Ext(name); ext {
		case ".yaml":
			names = append(names, strings.TrimSuffix(name, ext))
		case ".yml", ".json":
			l.errs = append(l.errs, &Error{File: dir + "/" + name, Msg: fmt.Sprintf("an %s must be in a file named <name>.yaml", kind)})
		}
	}
	return names
}

// readDir lists dir, sorted; a missing dir is empty.
func (l *loader) readDir(dir string) []fs.DirEntry {
	entries, err := fs.ReadDir(l.fsys, dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.errs = append(l.errs, &Error{File: dir, Msg: err.Error()})
	}
	return entries
}

// parse reads file and parses its single YAML document. It returns the
// file's decoder and the document's root node, or a nil root when the file
// cannot be used (the problem is recorded).
func (l *loader) parse(file, kind string) (*decoder, *yaml.Node) {
	d := newDecoder(file, &l.errs)
	l.docs[file] = d
	fail := func(line int, format string, args ...any) (*decoder, *yaml.Node) {
		l.errs = append(l.errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
		return d, nil
	}

	info, err := fs.Stat(l.fsys, file)
	if err != nil {
		return fail(0, "%v", err)
	}
	if info.IsDir() {
		return fail(0, "is a directory, want a file")
	}
	if info.Size() > maxFileSize {
		return fail(0, "file is larger than %d bytes", maxFileSize)
	}
	data, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		return fail(0, "%v", err)
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return fail(0, "file is empty; want one %s", kind)
	case err != nil:
		line, msg := yamlError(err)
		return fail(line, "invalid YAML: %s", msg)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return fail(doc.Line, "document is empty; want one %s", kind)
	}
	// A second document is an error, unless it is empty (a trailing "---").
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		line, msg := yamlError(err)
		return fail(line, "invalid YAML: %s", msg)
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		l.errs = append(l.errs, &Error{File: file, Line: next.Line, Column: next.Column,
			Msg: fmt.Sprintf("more than one YAML document; a file holds exactly one %s", kind)})
	}
	return d, doc.Content[0]
}

// yamlLine matches the position yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError splits a yaml.v3 syntax error into the line it names (0 when it
// names none) and the message.
func yamlError(err error) (line int, msg string) {
	msg = err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
