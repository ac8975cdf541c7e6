package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// APIVersion is the only apiVersion the config repo's objects may declare;
// a later schema gets a new version so old revisions keep loading as written.
const APIVersion = "slipway.dev/v1alpha1"

// The kinds of object in the config repo, one kind per directory.
const (
	KindAccount     = "Account"
	KindProject     = "Project"
	KindApplication = "Application"
)

// Repo is the desired state held by one revision of the config repo. A Repo
// returned by Load is valid as a whole: every reference in it resolves.
// Maps are keyed by object name.
type Repo struct {
	Accounts     map[string]*Account
	Projects     map[string]*Project
	Applications map[string]*Application
}

// Account is a Kubernetes cluster Slipway deploys to (the console's cloud
// account, 云账号). It names its kubeconfig instead of holding it, because
// secrets never enter Git.
type Account struct {
	Name        string
	Description string
	// Environment is a free label such as testing, staging or production,
	// used for display and for policies that differ per environment.
	Environment string
	Kubeconfig  SecretRef
	// Namespaces lists the namespaces targets may deploy to; empty means all.
	Namespaces []string
	Source     Source
}

// SecretRef points at a kubeconfig in the server's secret store.
type SecretRef struct {
	// Secret is the name of the entry in the server's secret store.
	Secret string
	// Context is the kubeconfig context to use; empty means the current one.
	Context string
}

// Project groups applications (the console's project binding), so that
// permissions and views can be given per group. An application belongs to
// at most one project.
type Project struct {
	Name         string
	Description  string
	Applications []string
	ChatOps      ChatOpsPolicy
	Source       Source
}

// ChatOpsPolicy says who may act on a project's applications by commenting
// on the config repo's pull requests and issues. On top of it, the
// commenter always needs write permission on the config repo.
type ChatOpsPolicy struct {
	// Groups name sets of forge users: release-managers: [alice, bob].
	Groups map[string][]string
	// Allow lists who may run commands that change something (deploy,
	// rollback, scale, approve, reject): forge user names and @group
	// references. Empty means anyone with write permission.
	Allow []string
	// Environments restrict targets whose account has that environment
	// further: production: ["@release-managers"].
	Environments map[string][]string
}

// Allows reports whether user may act under the policy on a target whose
// account has the given environment, and if not, why not.
func (p ChatOpsPolicy) Allows(user, environment string) (bool, string) {
	if len(p.Allow) > 0 && !p.matches(p.Allow, user) {
		return false, fmt.Sprintf("%s is not in the project's chat-ops allow list (%s)", user, strings.Join(p.Allow, ", "))
	}
	if env, ok := p.Environments[environment]; ok && environment != "" && !p.matches(env, user) {
		return false, fmt.Sprintf("%s environment needs one of %s", environment, strings.Join(env, ", "))
	}
	return true, ""
}

func (p ChatOpsPolicy) matches(list []string, user string) bool {
	for _, who := range list {
		if g, ok := strings.CutPrefix(who, "@"); ok {
			if slices.ContainsFunc(p.Groups[g], func(m string) bool { return strings.EqualFold(m, user) }) {
				return true
			}
		} else if strings.EqualFold(who, user) {
			return true
		}
	}
	return false
}

// Application is a deployable unit (the console's application, 应用) and
// the deploy targets it is released to.
type Application struct {
	Name        string
	Description string
	// Provider is the cloud provider deployed to; only "kubernetes" exists.
	Provider string
	// HealthProviderOnly makes health consider only what the provider
	// reports (the console's "consider only cloud provider health").
	HealthProviderOnly bool
	// HealthOverride is the console's "health override" option.
	HealthOverride bool
	// InstancePort is the port instances serve on; 0 when not set.
	InstancePort int
	// AllowRestartRunning allows restarting an execution that is running.
	AllowRestartRunning bool
	// AllowConcurrent allows executions of this application to overlap.
	AllowConcurrent bool
	Targets         []Target
	// Pipelines are the application's pipelines, sorted by name.
	Pipelines []*Pipeline
	// Dir is the application's directory, repo-relative, e.g.
	// applications/flaskapp.
	Dir    string
	Source Source
}

// Target is one place an application is deployed to: a namespace of an
// account, the manifests to apply there, and how to keep them in sync.
type Target struct {
	Name      string
	Account   string
	Namespace string
	// Path is the manifest directory, cleaned and repo-relative, e.g.
	// applications/flaskapp/testing. It holds a kustomization or plain
	// YAML/JSON manifests.
	Path string
	// Stack and Detail complete the moniker: the cluster of this target is
	// app-stack-detail.
	Stack  string
	Detail string
	Sync   SyncPolicy
	// Images are automated: a matching push to the registry becomes a
	// commit that sets the image in the target's kustomization.
	Images []ImageAutomation
	// Deployments records each sync as a deployment (with its status) on
	// forges that have them (GitHub), in environment app/target.
	Deployments bool
	Source      Source
}

// ImageAutomation keeps one image of a target at the newest tag that its
// policy accepts. Exactly one of Tag, TagRegex, Semver and Newest is set.
type ImageAutomation struct {
	// Name identifies the automation within the target.
	Name string
	// Repository is the image as pushed: registry host[:port]/path.
	Repository string
	// KustomizeName is the name of the image in the kustomization's
	// images: list; default Repository.
	KustomizeName string
	// Tag follows one exact tag (re-pinned when its digest changes).
	Tag string
	// TagRegex accepts tags matching the regular expression; the newest push wins.
	TagRegex string
	// Semver accepts tags that are semantic versions within the range
	// (e.g. ">=2 <3"); the highest version wins.
	Semver string
	// Newest accepts every tag; the newest push wins.
	Newest bool
	// PinDigest also writes the pushed digest (image@sha256:…); default true.
	PinDigest bool
	// Write says how a bump reaches Git: WriteCommit or WritePullRequest.
	Write WritePolicy
	// Poll, when set, also lists the repository's tags this often, for
	// registries that cannot send push webhooks; 0 means webhooks only.
	// At least MinPoll.
	Poll   time.Duration
	Source Source
}

// MinPoll is the shortest poll interval an image automation may ask for,
// so a typo cannot make Slipway hammer a registry.
const MinPoll = 5 * time.Second

// WritePolicy says how an image bump is written to the config repo.
type WritePolicy string

// Write policies.
const (
	// WriteCommit commits straight to the branch Slipway watches.
	WriteCommit WritePolicy = "commit"
	// WritePullRequest pushes a branch per target (and opens one pull
	// request through the forge), updated in place by newer tags.
	WritePullRequest WritePolicy = "pullRequest"
)

// SyncPolicy says how the reconciler keeps a target in line with Git.
type SyncPolicy struct {
	Mode SyncMode
	// Prune deletes objects Slipway applied before that Git no longer has.
	Prune bool
	Drift DriftMode
}

// SyncMode says whether a new revision is applied without being asked.
type SyncMode string

// Sync modes.
const (
	// SyncAutomatic applies every new revision of the target.
	SyncAutomatic SyncMode = "automatic"
	// SyncManual applies only when someone (or a pipeline) asks.
	SyncManual SyncMode = "manual"
)

// DriftMode says what the reconciler does when the live state changes
// behind Git's back.
type DriftMode string

// Drift modes.
const (
	// DriftSelfHeal re-applies Git's state over live changes.
	DriftSelfHeal DriftMode = "selfHeal"
	// DriftReport only reports live changes.
	DriftReport DriftMode = "report"
)

// Source is where an object was declared, so later stages (render, apply)
// can point their own errors back at the config repo.
type Source struct {
	File   string
	Line   int
	Column int
}

// String formats the source as file:line:column.
func (s Source) String() string {
	return fmt.Sprintf("%s:%d:%d", s.File, s.Line, s.Column)
}

// Target finds a deploy target by application and target name.
func (r *Repo) Target(app, target string) (*Application, *Target, bool) {
	a, ok := r.Applications[app]
	if !ok {
		return nil, nil, false
	}
	for i := range a.Targets {
		if a.Targets[i].Name == target {
			return a, &a.Targets[i], true
		}
	}
	return nil, nil, false
}

// Pipeline finds a pipeline by application and pipeline name.
func (r *Repo) Pipeline(app, name string) (*Pipeline, bool) {
	a, ok := r.Applications[app]
	if !ok {
		return nil, false
	}
	for _, p := range a.Pipelines {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// TargetRefs lists every deploy target, sorted by application then target,
// so work over all targets happens in a stable order.
func (r *Repo) TargetRefs() []TargetRef {
	var refs []TargetRef
	for _, a := range r.Applications {
		for _, t := range a.Targets {
			refs = append(refs, TargetRef{App: a.Name, Target: t.Name})
		}
	}
	slices.SortFunc(refs, func(x, y TargetRef) int {
		return strings.Compare(x.String(), y.String())
	})
	return refs
}

// ProjectOf names the project an application is bound to, or "" when it is
// bound to none.
func (r *Repo) ProjectOf(app string) string {
	for name, p := range r.Projects {
		if slices.Contains(p.Applications, app) {
			return name
		}
	}
	return ""
}

// TargetRef names a deploy target across the repo; it is the key the
// reconciler, pipelines and the API use for a target.
type TargetRef struct {
	App    string
	Target string
}

// String formats the reference as "app/target".
func (t TargetRef) String() string {
	return t.App + "/" + t.Target
}

// ParseTargetRef parses "app/target", as typed in a CLI flag, an API path or
// a chat-ops comment.
func ParseTargetRef(s string) (TargetRef, error) {
	app, target, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(target, "/") {
		return TargetRef{}, fmt.Errorf("target %q: want application/target", s)
	}
	if !isLabel(app) {
		return TargetRef{}, fmt.Errorf("target %q: application %s", s, labelRule)
	}
	if !isLabel(target) {
		return TargetRef{}, fmt.Errorf("target %q: target %s", s, labelRule)
	}
	return TargetRef{App: app, Target: target}, nil
}

// labelRule says what a DNS-1123 label is, for error messages.
const labelRule = "must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)"

func isLabel(s string) bool {
	return len(validation.IsDNS1123Label(s)) == 0
}
