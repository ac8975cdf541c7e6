package config

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// This file decodes each kind of object and checks what can be checked
// within its own file. Checks that need other files live in load.go.

// object decodes the envelope every kind shares — apiVersion, kind,
// metadata.name — and then spec with the kind's fields. The name must
// equal want, the name given by the file or directory. It reports false
// when apiVersion or kind is wrong, in which case spec is not decoded: its
// shape is unknown.
func (d *decoder) object(root *yaml.Node, kind, want, wantFrom string, name *string, spec map[string]field) bool {
	return d.objectNamed(root, kind, want, wantFrom, name, labelNames, spec)
}

// names says what an object's metadata.name must be.
type names struct {
	valid func(string) bool
	rule  string // what valid accepts, in words
	// fileChecked: the file name was checked already, so a name equal to
	// it is not reported a second time.
	fileChecked bool
}

// labelNames are DNS-1123 labels, the rule of most kinds.
var labelNames = names{valid: isLabel, rule: labelRule}

// objectNamed is object for kinds whose names follow another rule.
func (d *decoder) objectNamed(root *yaml.Node, kind, want, wantFrom string, name *string, rule names, spec map[string]field) bool {
	var apiVersion, gotKind string
	var specNode *yaml.Node
	d.mapping(root, "", map[string]field{
		"apiVersion": d.str(&apiVersion),
		"kind":       d.str(&gotKind),
		"metadata":   d.fields(map[string]field{"name": d.str(name)}),
		"spec":       func(n *yaml.Node, _ string) { specNode = n },
	})
	if resolve(root).Kind != yaml.MappingNode {
		return false
	}
	ok := true
	switch apiVersion {
	case APIVersion:
	case "":
		d.errorAt("apiVersion", "required; want %q", APIVersion)
		ok = false
	default:
		d.errorAt("apiVersion", "must be %q", APIVersion)
		ok = false
	}
	switch gotKind {
	case kind:
	case "":
		d.errorAt("kind", "required; want %q", kind)
		ok = false
	default:
		d.errorAt("kind", "must be %q in %s", kind, path.Dir(d.file))
		ok = false
	}
	switch {
	case *name == "":
		d.errorAt("metadata.name", "required; want %q", want)
	case !(rule.fileChecked && *name == want) && !rule.valid(*name):
		d.errorAt("metadata.name", "%s, got %q", rule.rule, *name)
	case *name != want:
		d.errorAt("metadata.name", "must equal the %s %q", wantFrom, want)
	}
	if !ok {
		return false
	}
	if specNode == nil {
		d.errorAt("spec", "required")
		return true
	}
	d.mapping(specNode, "spec", spec)
	return true
}

// label checks that the value at path is a DNS-1123 label, as Kubernetes
// names and namespaces must be.
func (d *decoder) label(path, value string) {
	if value == "" {
		d.errorAt(path, "required")
		return
	}
	if !isLabel(value) {
		d.errorAt(path, "%s, got %q", labelRule, value)
	}
}

// optionalLabel is label for fields that may be left empty.
func (d *decoder) optionalLabel(path, value string) {
	if value != "" {
		d.label(path, value)
	}
}

// unique checks that the names of a list's items are unique. The name of
// item i is at path[i] + sub (sub is "" for a list of names).
func (d *decoder) unique(path, sub string, names []string, what string) {
	for i, n := range names {
		if j := slices.Index(names[:i], n); j >= 0 && n != "" {
			d.errorAt(index(path, i)+sub, "duplicate %s %q (also at line %d)", what, n, d.at(index(path, j)+sub).Line)
		}
	}
}

// account decodes accounts/<name>.yaml.
func (d *decoder) account(root *yaml.Node, name string) *Account {
	a := &Account{Source: d.source(root)}
	if !d.object(root, KindAccount, name, "file name", &a.Name, map[string]field{
		"description": d.str(&a.Description),
		"kubeconfig": d.fields(map[string]field{
			"secretRef": d.str(&a.Kubeconfig.Secret),
			"context":   d.str(&a.Kubeconfig.Context),
		}),
		"namespaces":  d.strs(&a.Namespaces),
		"environment": d.str(&a.Environment),
	}) {
		return a
	}
	switch ref := a.Kubeconfig.Secret; {
	case ref == "":
		d.errorAt("spec.kubeconfig.secretRef", "required: the name of the kubeconfig in the server's secret store")
	case len(validation.IsDNS1123Subdomain(ref)) > 0:
		d.errorAt("spec.kubeconfig.secretRef", "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'), got %q; it names a secret, it is not the kubeconfig", ref)
	}
	for i, ns := range a.Namespaces {
		d.label(index("spec.namespaces", i), ns)
	}
	d.unique("spec.namespaces", "", a.Namespaces, "namespace")
	return a
}

// project decodes projects/<name>.yaml.
func (d *decoder) project(root *yaml.Node, name string) *Project {
	p := &Project{Source: d.source(root)}
	if !d.object(root, KindProject, name, "file name", &p.Name, map[string]field{
		"description":  d.str(&p.Description),
		"applications": d.strs(&p.Applications),
		"chatops": d.fields(map[string]field{
			"groups":       d.listMap(&p.ChatOps.Groups),
			"allow":        d.strs(&p.ChatOps.Allow),
			"environments": d.listMap(&p.ChatOps.Environments),
		}),
	}) {
		return p
	}
	for g, members := range p.ChatOps.Groups {
		if !isLabel(g) {
			d.errorAt(join("spec.chatops.groups", g), "group name %s, got %q", labelRule, g)
		}
		for i, m := range members {
			if m == "" || strings.HasPrefix(m, "@") {
				d.errorAt(index(join("spec.chatops.groups", g), i), "must be a user name (groups do not nest), got %q", m)
			}
		}
	}
	checkRefs := func(at string, list []string) {
		for i, who := range list {
			if g, ok := strings.CutPrefix(who, "@"); ok {
				if _, found := p.ChatOps.Groups[g]; !found {
					d.errorAt(index(at, i), "group %q is not defined in spec.chatops.groups", g)
				}
			} else if who == "" {
				d.errorAt(index(at, i), "required: a user name or @group")
			}
		}
	}
	checkRefs("spec.chatops.allow", p.ChatOps.Allow)
	for env, list := range p.ChatOps.Environments {
		checkRefs(join("spec.chatops.environments", env), list)
	}
	for i, app := range p.Applications {
		d.label(index("spec.applications", i), app)
	}
	d.unique("spec.applications", "", p.Applications, "application")
	return p
}

// application decodes applications/<name>/application.yaml and applies
// defaults.
func (d *decoder) application(root *yaml.Node, name string) *Application {
	a := &Application{Dir: path.Dir(d.file), Source: d.source(root)}
	var portSet bool
	if !d.object(root, KindApplication, name, "directory name", &a.Name, map[string]field{
		"description":         d.str(&a.Description),
		"provider":            d.str(&a.Provider),
		"healthProviderOnly":  d.boolean(&a.HealthProviderOnly),
		"healthOverride":      d.boolean(&a.HealthOverride),
		"instancePort":        d.integer(&a.InstancePort, &portSet),
		"allowRestartRunning": d.boolean(&a.AllowRestartRunning),
		"allowConcurrent":     d.boolean(&a.AllowConcurrent),
		"targets": d.list(func(n *yaml.Node, path string) {
			a.Targets = append(a.Targets, d.target(n, path, a.Dir))
		}),
	}) {
		return a
	}
	switch a.Provider {
	case "":
		a.Provider = "kubernetes"
	case "kubernetes":
	default:
		d.errorAt("spec.provider", "must be \"kubernetes\", got %q", a.Provider)
	}
	if portSet && (a.InstancePort < 1 || a.InstancePort > 65535) {
		d.errorAt("spec.instancePort", "must be between 1 and 65535, got %d", a.InstancePort)
	}
	names := make([]string, len(a.Targets))
	for i, t := range a.Targets {
		names[i] = t.Name
	}
	d.unique("spec.targets", ".name", names, "target")
	return a
}

// target decodes one item of spec.targets and applies defaults. Its path is
// made repo-relative; whether the directory exists is checked by the loader.
func (d *decoder) target(n *yaml.Node, at, appDir string) Target {
	t := Target{Source: d.source(n)}
	var rel string
	d.mapping(n, at, map[string]field{
		"name":      d.str(&t.Name),
		"account":   d.str(&t.Account),
		"namespace": d.str(&t.Namespace),
		"path":      d.str(&rel),
		"stack":     d.str(&t.Stack),
		"detail":    d.str(&t.Detail),
		"sync": d.fields(map[string]field{
			"mode":  d.str((*string)(&t.Sync.Mode)),
			"prune": d.boolean(&t.Sync.Prune),
			"drift": d.str((*string)(&t.Sync.Drift)),
		}),
		"images": d.list(func(n *yaml.Node, path string) {
			t.Images = append(t.Images, d.image(n, path))
		}),
		"deployments": d.boolean(&t.Deployments),
	})
	if resolve(n).Kind != yaml.MappingNode {
		return t
	}
	d.label(join(at, "name"), t.Name)
	if t.Account == "" {
		d.errorAt(join(at, "account"), "required")
	}
	d.label(join(at, "namespace"), t.Namespace)
	d.optionalLabel(join(at, "stack"), t.Stack)
	d.optionalLabel(join(at, "detail"), t.Detail)
	names := make([]string, len(t.Images))
	for i, img := range t.Images {
		names[i] = img.Name
	}
	d.unique(join(at, "images"), ".name", names, "image automation")
	t.Path = d.targetPath(join(at, "path"), rel, appDir)

	switch t.Sync.Mode {
	case "":
		t.Sync.Mode = SyncAutomatic
	case SyncAutomatic, SyncManual:
	default:
		d.errorAt(join(at, "sync.mode"), "must be %q or %q, got %q", SyncAutomatic, SyncManual, t.Sync.Mode)
	}
	switch t.Sync.Drift {
	case "":
		t.Sync.Drift = DriftSelfHeal
	case DriftSelfHeal, DriftReport:
	default:
		d.errorAt(join(at, "sync.drift"), "must be %q or %q, got %q", DriftSelfHeal, DriftReport, t.Sync.Drift)
	}
	return t
}

// image decodes one image automation of a target.
func (d *decoder) image(n *yaml.Node, at string) ImageAutomation {
	img := ImageAutomation{Source: d.source(n), PinDigest: true}
	var digest string
	var pollSet bool
	d.mapping(n, at, map[string]field{
		"name":          d.str(&img.Name),
		"repository":    d.str(&img.Repository),
		"kustomizeName": d.str(&img.KustomizeName),
		"digest":        d.str(&digest),
		"write":         d.str((*string)(&img.Write)),
		"poll":          d.duration(&img.Poll, &pollSet),
		"policy": d.fields(map[string]field{
			"tag":      d.str(&img.Tag),
			"tagRegex": d.str(&img.TagRegex),
			"semver":   d.str(&img.Semver),
			"newest":   d.boolean(&img.Newest),
		}),
	})
	if resolve(n).Kind != yaml.MappingNode {
		return img
	}
	d.label(join(at, "name"), img.Name)
	if img.Repository == "" {
		d.errorAt(join(at, "repository"), "required: the image as pushed, registry host[:port]/path")
	} else if !validRepository(img.Repository) {
		d.errorAt(join(at, "repository"), "must be a repository without tag or digest, in lower case, got %q", img.Repository)
	}
	if img.KustomizeName == "" {
		img.KustomizeName = img.Repository
	}
	set := 0
	for _, on := range []bool{img.Tag != "", img.TagRegex != "", img.Semver != "", img.Newest} {
		if on {
			set++
		}
	}
	if set != 1 {
		d.errorAt(join(at, "policy"), "set exactly one of tag, tagRegex, semver or newest (found %d)", set)
	}
	if img.TagRegex != "" {
		if _, err := regexp.Compile(img.TagRegex); err != nil {
			d.errorAt(join(at, "policy.tagRegex"), "not a regular expression: %v", err)
		}
	}
	if img.Semver != "" {
		if _, err := semver.NewConstraint(img.Semver); err != nil {
			d.errorAt(join(at, "policy.semver"), "not a semantic version range: %v", err)
		}
	}
	switch digest {
	case "", "pin":
	case "none":
		img.PinDigest = false
	default:
		d.errorAt(join(at, "digest"), "must be %q or %q, got %q", "pin", "none", digest)
	}
	switch img.Write {
	case "":
		img.Write = WriteCommit
	case WriteCommit, WritePullRequest:
	default:
		d.errorAt(join(at, "write"), "must be %q or %q, got %q", WriteCommit, WritePullRequest, img.Write)
	}
	if pollSet && img.Poll < MinPoll {
		d.errorAt(join(at, "poll"), "must be at least %s, got %s", MinPoll, img.Poll)
	}
	return img
}

// duration returns a field that decodes a Go duration string such as 1m or
// 90s, and records that it was set (so 0s can be told from absent). A bare
// number is refused: its unit would be a guess.
func (d *decoder) duration(dst *time.Duration, set *bool) field {
	return func(n *yaml.Node, path string) {
		if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
			d.errorf(n, path, "must be a duration with a unit, such as %ss or 1m, got %s", n.Value, n.Value)
			return
		}
		if !d.scalar(n, path, "!!str", "a duration such as 30s or 1m") {
			return
		}
		v, err := time.ParseDuration(n.Value)
		if err != nil {
			d.errorf(n, path, "must be a duration such as 30s or 1m, got %q", n.Value)
			return
		}
		*dst, *set = v, true
	}
}

// validRepository accepts host[:port]/path/name in lower case: a port only
// in the first element, no tag, no digest, no empty element.
func validRepository(repo string) bool {
	if strings.Contains(repo, "@") || repo != strings.ToLower(repo) {
		return false
	}
	parts := strings.Split(repo, "/")
	for i, p := range parts {
		if p == "" || (strings.Contains(p, ":") && (i > 0 || len(parts) == 1)) {
			return false
		}
	}
	return true
}

// targetPath resolves a target's manifest path, relative to the
// application directory, to a clean repo-relative path. It refuses paths
// that leave the repo, and the repo root and application directories, whose
// YAML files are config rather than manifests.
func (d *decoder) targetPath(at, rel, appDir string) string {
	switch {
	case rel == "":
		d.errorAt(at, "required: the manifest directory, relative to %s", appDir)
		return ""
	case strings.Contains(rel, `\`):
		d.errorAt(at, "must use '/' as separator, got %q", rel)
		return ""
	case strings.HasPrefix(rel, "/"):
		d.errorAt(at, "must be relative to %s, got %q", appDir, rel)
		return ""
	}
	p := path.Join(appDir, rel)
	switch {
	case p == ".." || strings.HasPrefix(p, "../"):
		d.errorAt(at, "%q escapes the repository", rel)
		return ""
	case p == ".":
		d.errorAt(at, "must not be the repository root")
		return ""
	case path.Dir(p) == "applications":
		d.errorAt(at, "must not be an application directory (%s holds application.yaml, not manifests)", p)
		return ""
	}
	return p
}

func (d *decoder) source(n *yaml.Node) Source {
	n = resolve(n)
	return Source{File: d.file, Line: n.Line, Column: n.Column}
}
