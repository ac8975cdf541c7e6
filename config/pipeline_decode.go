package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // cron time zones must validate the same on every server

	"github.com/Masterminds/semver/v3"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// This file loads pipelines, applications/<app>/pipelines/<name>.yaml:
// the loader's two steps (loadPipelines after the applications, and
// checkPipelines once every file is read), then the decoding of one file
// with the checks that file alone allows, then small rules they share.

// loadPipelines reads the pipelines of every application, including one
// whose application.yaml failed, so that all errors show at once. A
// directory without application.yaml is reported by loadApplications and
// its pipelines are not read.
func (l *loader) loadPipelines() {
	for _, appName := range sortedKeys(l.repo.Applications) {
		a := l.repo.Applications[appName]
		dir := a.Dir + "/pipelines"
		for _, name := range l.pipelineFiles(dir) {
			file := dir + "/" + name + ".yaml"
			d, root := l.parse(file, KindPipeline)
			// Kept under the file name even when the file is broken, so
			// that references to it do not fail a second time.
			p := &Pipeline{Name: name, Application: appName, Source: Source{File: file}}
			if root != nil {
				p = d.pipeline(root, a, appName, name)
			}
			a.Pipelines = append(a.Pipelines, p)
		}
		slices.SortFunc(a.Pipelines, func(x, y *Pipeline) int { return strings.Compare(x.Name, y.Name) })
	}
}

// pipelineFiles lists the pipeline names in dir (an application's
// pipelines/ directory, which may be missing). Like objectFiles it reports
// *.yml and *.json files, and also directories and badly named files,
// rather than skip them silently.
func (l *loader) pipelineFiles(dir string) []string {
	info, err := fs.Stat(l.fsys, dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		l.errs = append(l.errs, &Error{File: dir, Msg: err.Error()})
		return nil
	case !info.IsDir():
		l.errs = append(l.errs, &Error{File: dir, Msg: "must be a directory holding one <name>.yaml file per pipeline"})
		return nil
	}
	var names []string
	for _, e := range l.readDir(dir) {
		name, file := e.Name(), dir+"/"+e.Name()
		ext := path.Ext(name)
		switch {
		case e.IsDir():
			l.errs = append(l.errs, &Error{File: file, Msg: "is a directory; a pipeline is a file <name>.yaml directly in " + dir})
		case ext == ".yml", ext == ".json":
			l.errs = append(l.errs, &Error{File: file, Msg: fmt.Sprintf("a %s must be in a file named <name>.yaml", KindPipeline)})
		case ext == ".yaml":
			base := strings.TrimSuffix(name, ext)
			if !validName(base) {
				l.errs = append(l.errs, &Error{File: file, Msg: "the file name is the pipeline's name, which " + nameRule})
			}
			names = append(names, base)
		}
	}
	return names
}

// pipeline decodes one pipeline file of application a (named appName,
// the directory name) and applies defaults, some of them a's.
func (d *decoder) pipeline(root *yaml.Node, a *Application, appName, name string) *Pipeline {
	p := &Pipeline{Name: name, Application: appName, Source: d.source(root)}
	var concurrentSet, restartSet bool
	var explicit []bool // per stage: dependsOn was given
	var metaName string
	ok := d.objectNamed(root, KindPipeline, name, "file name", &metaName, pipelineNames, map[string]field{
		"description": d.str(&p.Description),
		"disabled":    d.boolean(&p.Disabled),
		"execution": d.fields(map[string]field{
			"concurrent":          present(&concurrentSet, d.boolean(&p.Execution.Concurrent)),
			"keepWaiting":         d.boolean(&p.Execution.KeepWaiting),
			"allowRestartRunning": present(&restartSet, d.boolean(&p.Execution.AllowRestartRunning)),
		}),
		"expectedArtifacts": d.list(func(n *yaml.Node, at string) {
			p.ExpectedArtifacts = append(p.ExpectedArtifacts, d.expectedArtifact(n, at))
		}),
		"triggers": d.list(func(n *yaml.Node, at string) {
			p.Triggers = append(p.Triggers, d.trigger(n, at, appName, name))
		}),
		"parameters": d.list(func(n *yaml.Node, at string) {
			p.Parameters = append(p.Parameters, d.parameter(n, at))
		}),
		"notifications": d.list(func(n *yaml.Node, at string) {
			p.Notifications = append(p.Notifications, d.notification(n, at))
		}),
		"stages": d.list(func(n *yaml.Node, at string) {
			s, dependsOnSet := d.stage(n, at, appName, name)
			p.Stages = append(p.Stages, s)
			explicit = append(explicit, dependsOnSet)
		}),
	})
	if !concurrentSet {
		p.Execution.Concurrent = a.AllowConcurrent
	}
	if !restartSet {
		p.Execution.AllowRestartRunning = a.AllowRestartRunning
	}
	if !ok {
		return p
	}

	ids := make([]string, len(p.ExpectedArtifacts))
	for i, ea := range p.ExpectedArtifacts {
		ids[i] = ea.ID
	}
	d.unique("spec.expectedArtifacts", ".id", ids, "expected artifact")
	for i, t := range p.Triggers {
		typ := ""
		if t.Type == TriggerDocker {
			typ = ArtifactDockerImage
		}
		d.artifactRefs(join(index("spec.triggers", i), "artifacts"), t.Artifacts, p.ExpectedArtifacts, typ)
	}
	names := make([]string, len(p.Parameters))
	for i, prm := range p.Parameters {
		names[i] = prm.Name
	}
	d.unique("spec.parameters", ".name", names, "parameter")
	d.stageGraph(p.Stages, explicit)
	for i, s := range p.Stages {
		at := index("spec.stages", i)
		d.artifactRefs(join(at, "artifacts"), s.Artifacts, p.ExpectedArtifacts, "")
		for j, e := range s.Expressions {
			d.expression(index(join(at, "expressions"), j), e, p)
		}
	}
	return p
}

// pipelineNames: console users name pipelines in camelCase, so pipeline
// names follow nameRule rather than DNS label rules. A file whose name
// breaks the rule is reported by pipelineFiles.
var pipelineNames = names{valid: validName, rule: nameRule, fileChecked: true}

// artifactTypes are the types an expected artifact may have.
var artifactTypes = []string{ArtifactDockerImage}

// expectedArtifact decodes one item of spec.expectedArtifacts.
func (d *decoder) expectedArtifact(n *yaml.Node, at string) ExpectedArtifact {
	ea := ExpectedArtifact{Source: d.source(n)}
	d.mapping(n, at, map[string]field{
		"id":                d.str(&ea.ID),
		"type":              d.str(&ea.Type),
		"repository":        d.str(&ea.Repository),
		"kustomizeName":     d.str(&ea.KustomizeName),
		"tag":               d.str(&ea.Tag),
		"tagRegex":          d.str(&ea.TagRegex),
		"semver":            d.str(&ea.Semver),
		"digest":            d.str(&ea.Digest),
		"usePriorExecution": d.boolean(&ea.UsePriorExecution),
		"default":           d.str(&ea.Default),
	})
	if resolve(n).Kind != yaml.MappingNode {
		return ea
	}
	d.id(join(at, "id"), ea.ID)
	switch {
	case ea.Type == "":
		ea.Type = ArtifactDockerImage
	case !slices.Contains(artifactTypes, ea.Type):
		d.errorAt(join(at, "type"), "must be %q, got %q", ArtifactDockerImage, ea.Type)
	}
	if ea.Repository == "" {
		d.errorAt(join(at, "repository"), "required: the image as pushed, registry host[:port]/path")
	} else if !validRepository(ea.Repository) {
		d.errorAt(join(at, "repository"), "must be a repository without tag or digest, in lower case, got %q", ea.Repository)
	}
	if ea.KustomizeName == "" {
		ea.KustomizeName = ea.Repository
	}

	var rules []string
	for rule, v := range map[string]string{"tag": ea.Tag, "tagRegex": ea.TagRegex, "semver": ea.Semver, "digest": ea.Digest} {
		if v != "" {
			rules = append(rules, rule)
		}
	}
	slices.Sort(rules)
	if len(rules) > 1 {
		d.errorAt(at, "set at most one of tag, tagRegex, semver and digest (found %s)", strings.Join(rules, ", "))
	}
	if ea.Tag != "" && !tagRE.MatchString(ea.Tag) {
		d.errorAt(join(at, "tag"), "not an image tag (letters, digits, '_', '.' and '-', at most 128), got %q", ea.Tag)
	}
	if ea.TagRegex != "" {
		if _, err := regexp.Compile(ea.TagRegex); err != nil {
			d.errorAt(join(at, "tagRegex"), "not a regular expression: %v", err)
		}
	}
	if ea.Semver != "" {
		if _, err := semver.NewConstraint(ea.Semver); err != nil {
			d.errorAt(join(at, "semver"), "not a semantic version range: %v", err)
		}
	}
	if ea.Digest != "" && !digestRE.MatchString(ea.Digest) {
		d.errorAt(join(at, "digest"), "must be sha256: and 64 lowercase hex digits, got %q", ea.Digest)
	}
	if ea.Default != "" {
		if msg := defaultProblem(ea); msg != "" {
			d.errorAt(join(at, "default"), "%s", msg)
		}
	}
	return ea
}

// defaultProblem says why an expected artifact's default reference is not
// an image it would accept, or "" when it is one. It matches as package
// pipeline does: tagRegex need only match part of the tag.
func defaultProblem(ea ExpectedArtifact) string {
	repo, tag, digest, ok := splitImage(ea.Default)
	switch {
	case !ok:
		return fmt.Sprintf("must be a full image reference, repository:tag or repository@sha256:…, got %q", ea.Default)
	case ea.Repository != "" && repo != ea.Repository:
		return fmt.Sprintf("must be an image of %s, got %s", ea.Repository, repo)
	case ea.Tag != "" && tag != ea.Tag:
		return fmt.Sprintf("must have the tag %q", ea.Tag)
	case ea.Digest != "" && digest != ea.Digest:
		return fmt.Sprintf("must have the digest %s", ea.Digest)
	case ea.TagRegex != "":
		if re, err := regexp.Compile(ea.TagRegex); err == nil && !re.MatchString(tag) {
			return fmt.Sprintf("tag %q does not match tagRegex %s", tag, ea.TagRegex)
		}
	case ea.Semver != "":
		c, err := semver.NewConstraint(ea.Semver)
		if err != nil {
			return "" // reported at semver
		}
		if v, err := semver.NewVersion(tag); err != nil || !c.Check(v) {
			return fmt.Sprintf("tag %q is not a version in %s", tag, ea.Semver)
		}
	}
	return ""
}

// triggerFields lists the fields of each trigger type besides type and
// enabled.
var triggerFields = map[TriggerType][]string{
	TriggerDocker:   {"artifacts"},
	TriggerGit:      {"repository", "branch", "paths", "artifacts"},
	TriggerCron:     {"schedule", "timeZone"},
	TriggerManual:   nil,
	TriggerPipeline: {"application", "pipeline", "statuses"},
	TriggerWebhook:  {"source", "payload", "artifacts"},
}

// pipelineStatuses are the end states a pipeline trigger may wait for.
var pipelineStatuses = []string{"succeeded", "failed", "canceled", "rejected"}

// trigger decodes one item of spec.triggers of pipeline app/name. Which
// artifacts exist is checked by pipeline, and which pipelines exist by
// checkPipelines.
func (d *decoder) trigger(n *yaml.Node, at, app, name string) Trigger {
	t := Trigger{Enabled: true, Pos: d.source(n)}
	typ := TriggerType(typeOf(n))
	d.mapping(n, at, pick(typ, triggerFields, map[string]field{
		"type":    d.str((*string)(&t.Type)),
		"enabled": d.boolean(&t.Enabled),
	}, map[string]field{
		"artifacts":   d.strs(&t.Artifacts),
		"repository":  d.str(&t.Repository),
		"branch":      d.str(&t.Branch),
		"paths":       d.strs(&t.Paths),
		"schedule":    d.str(&t.Schedule),
		"timeZone":    d.str(&t.TimeZone),
		"application": d.str(&t.Application),
		"pipeline":    d.str(&t.Pipeline),
		"statuses":    d.strs(&t.Statuses),
		"source":      d.str(&t.WebhookSource),
		"payload":     d.strMap(&t.Payload),
	}))
	if resolve(n).Kind != yaml.MappingNode {
		return t
	}
	if _, known := triggerFields[t.Type]; !known {
		d.unknownType(join(at, "type"), "trigger", string(t.Type), typeNames(triggerFields))
		return t
	}
	switch t.Type {
	case TriggerDocker:
		if len(t.Artifacts) == 0 {
			d.errorAt(join(at, "artifacts"), "required: the ids of the expected artifacts a pushed image must match")
		}
	case TriggerGit:
		if t.Repository != "" && !validGitRepository(t.Repository) {
			d.errorAt(join(at, "repository"), "must be a repository path such as owner/name, got %q", t.Repository)
		}
		if t.Branch == "" {
			t.Branch = "main"
		} else if !validBranch(t.Branch) {
			d.errorAt(join(at, "branch"), "not a branch name: %q", t.Branch)
		}
		for i, p := range t.Paths {
			if _, err := path.Match(p, ""); p == "" || err != nil {
				d.errorAt(index(join(at, "paths"), i), "not a path glob: %q", p)
			}
		}
	case TriggerCron:
		d.cron(at, &t)
	case TriggerPipeline:
		d.pipelineRef(at, &t.Application, t.Pipeline, app, name, "trigger")
		if len(t.Statuses) == 0 {
			t.Statuses = []string{"succeeded"}
		}
		d.oneOf(join(at, "statuses"), t.Statuses, pipelineStatuses)
	case TriggerWebhook:
		if t.WebhookSource == "" {
			d.errorAt(join(at, "source"), "required: the name of the generic webhook, served at /webhooks/generic/<source>")
		} else {
			d.label(join(at, "source"), t.WebhookSource)
		}
		for _, k := range sortedKeys(t.Payload) {
			if _, err := regexp.Compile(t.Payload[k]); err != nil {
				d.errorAt(join(join(at, "payload"), k), "not a regular expression: %v", err)
			}
		}
	}
	return t
}

// cron checks a cron trigger's schedule and time zone, and defaults the
// zone to UTC. The zone has its own field, so a TZ= prefix is refused.
func (d *decoder) cron(at string, t *Trigger) {
	switch {
	case t.Schedule == "":
		d.errorAt(join(at, "schedule"), "required: five cron fields such as \"0 3 * * *\", or a descriptor such as @hourly or @every 10m")
	case strings.HasPrefix(t.Schedule, "TZ=") || strings.HasPrefix(t.Schedule, "CRON_TZ="):
		d.errorAt(join(at, "schedule"), "set the time zone with timeZone, not in the schedule")
	default:
		if _, err := cron.ParseStandard(t.Schedule); err != nil {
			d.errorAt(join(at, "schedule"), "not a cron schedule: %v", err)
		}
	}
	switch t.TimeZone {
	case "":
		t.TimeZone = "UTC"
	case "Local":
		d.errorAt(join(at, "timeZone"), "must name a zone such as Asia/Shanghai; \"Local\" would depend on the server")
	default:
		if _, err := time.LoadLocation(t.TimeZone); err != nil {
			d.errorAt(join(at, "timeZone"), "unknown time zone %q; want an IANA name such as UTC or Asia/Shanghai", t.TimeZone)
		}
	}
}

// pipelineRef checks what a pipeline trigger or stage of pipeline
// app/name names, and defaults its application to app.
func (d *decoder) pipelineRef(at string, refApp *string, refName, app, name, what string) {
	if *refApp == "" {
		*refApp = app
	} else {
		d.label(join(at, "application"), *refApp)
	}
	switch {
	case refName == "":
		d.errorAt(join(at, "pipeline"), "required: the name of a pipeline")
	case !validName(refName):
		d.errorAt(join(at, "pipeline"), "%s, got %q", nameRule, refName)
	case *refApp == app && refName == name:
		d.errorAt(join(at, "pipeline"), "a pipeline %s cannot name its own pipeline", what)
	}
}

// parameter decodes one item of spec.parameters.
func (d *decoder) parameter(n *yaml.Node, at string) Parameter {
	p := Parameter{Source: d.source(n)}
	d.mapping(n, at, map[string]field{
		"name":     d.str(&p.Name),
		"label":    d.str(&p.Label),
		"required": d.boolean(&p.Required),
		"default":  d.str(&p.Default),
		"options":  d.strs(&p.Options),
	})
	if resolve(n).Kind != yaml.MappingNode {
		return p
	}
	switch {
	case p.Name == "":
		d.errorAt(join(at, "name"), "required")
	case !identifierRE.MatchString(p.Name):
		d.errorAt(join(at, "name"), "must be an identifier (letters, digits and '_', not starting with a digit), got %q", p.Name)
	}
	for i, o := range p.Options {
		if o == "" {
			d.errorAt(index(join(at, "options"), i), "must not be empty")
		}
	}
	d.unique(join(at, "options"), "", p.Options, "option")
	if p.Default != "" && len(p.Options) > 0 && !slices.Contains(p.Options, p.Default) {
		d.errorAt(join(at, "default"), "%q is not one of the options (%s)", p.Default, strings.Join(p.Options, ", "))
	}
	return p
}

// notificationEvents are what a notification may report, and its default.
var notificationEvents = []string{"starting", "succeeded", "failed", "canceled", "judgment"}

// notification decodes one item of spec.notifications.
func (d *decoder) notification(n *yaml.Node, at string) Notification {
	nt := Notification{Source: d.source(n)}
	d.mapping(n, at, map[string]field{
		"type": d.str(&nt.Type),
		"url":  d.str(&nt.URL),
		"when": d.strs(&nt.When),
	})
	if resolve(n).Kind != yaml.MappingNode {
		return nt
	}
	switch nt.Type {
	case "webhook":
	case "":
		d.errorAt(join(at, "type"), "required; want \"webhook\"")
	default:
		d.errorAt(join(at, "type"), "must be \"webhook\", got %q", nt.Type)
	}
	d.httpURL(join(at, "url"), nt.URL, true)
	if len(nt.When) == 0 {
		nt.When = slices.Clone(notificationEvents)
	}
	d.oneOf(join(at, "when"), nt.When, notificationEvents)
	return nt
}

// stageFields lists the fields of each stage type besides the common ones
// (id, name, type, dependsOn, timeout, onFailure).
var stageFields = map[StageType][]string{
	StageDeployManifest:     {"target", "artifacts", "manifest", "file", "skipWaitHealthy"},
	StageDeleteManifest:     {"target", "kind", "objectName"},
	StageScaleManifest:      {"target", "kind", "objectName", "replicas", "skipWaitHealthy"},
	StagePatchManifest:      {"target", "kind", "objectName", "patch", "skipWaitHealthy"},
	StageUndoRollout:        {"target", "kind", "objectName", "revisions", "skipWaitHealthy"},
	StageManualJudgment:     {"instructions"},
	StageWait:               {"duration"},
	StageCheckPreconditions: {"expressions"},
	StageWebhook:            {"url", "method", "headers", "body", "successStatuses", "statusUrl", "statusField", "successValues", "failureValues"},
	StageRunJob:             {"target", "manifest"},
	StagePipeline:           {"application", "pipeline", "parameters", "skipWait"},
}

// webhookMethods are the HTTP methods a webhook stage may use.
var webhookMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// stage decodes one item of spec.stages of pipeline app/name, and reports
// whether it gave dependsOn. Its type is read first, so that a field of
// another type is an unknown field; which stages, targets and pipelines
// exist is checked later.
func (d *decoder) stage(n *yaml.Node, at, app, name string) (Stage, bool) {
	s := Stage{Source: d.source(n)}
	var dependsOnSet, timeoutSet, replicasSet, revisionsSet, durationSet bool
	typ := StageType(typeOf(n))
	d.mapping(n, at, pick(typ, stageFields, map[string]field{
		"id":        d.str(&s.ID),
		"name":      d.str(&s.Name),
		"type":      d.str((*string)(&s.Type)),
		"dependsOn": present(&dependsOnSet, d.strs(&s.DependsOn)),
		"timeout":   d.duration(&s.Timeout, &timeoutSet),
		"onFailure": d.str((*string)(&s.OnFailure)),
	}, map[string]field{
		"target":          d.str(&s.Target),
		"artifacts":       d.strs(&s.Artifacts),
		"manifest":        d.str(&s.Manifest),
		"file":            d.str(&s.File),
		"skipWaitHealthy": d.boolean(&s.SkipWaitHealthy),
		"kind":            d.str(&s.Kind),
		"objectName":      d.str(&s.ObjectName),
		"replicas":        d.integer(&s.Replicas, &replicasSet),
		"patch":           d.str(&s.Patch),
		"revisions":       d.integer(&s.Revisions, &revisionsSet),
		"instructions":    d.str(&s.Instructions),
		"duration":        d.duration(&s.Duration, &durationSet),
		"expressions":     d.strs(&s.Expressions),
		"url":             d.str(&s.URL),
		"method":          d.str(&s.Method),
		"headers":         d.strMap(&s.Headers),
		"body":            d.str(&s.Body),
		"successStatuses": d.ints(&s.SuccessStatuses),
		"statusUrl":       d.str(&s.StatusURL),
		"statusField":     d.str(&s.StatusField),
		"successValues":   d.strs(&s.SuccessValues),
		"failureValues":   d.strs(&s.FailureValues),
		"application":     d.str(&s.Application),
		"pipeline":        d.str(&s.Pipeline),
		"parameters":      d.strMap(&s.Parameters),
		"skipWait":        d.boolean(&s.SkipWait),
	}))
	if resolve(n).Kind != yaml.MappingNode {
		return s, dependsOnSet
	}

	d.id(join(at, "id"), s.ID)
	if s.Name == "" {
		s.Name = s.ID
	}
	if timeoutSet && s.Timeout <= 0 {
		d.errorAt(join(at, "timeout"), "must be positive, got %s; leave it out for the stage type's default", s.Timeout)
	}
	switch s.OnFailure {
	case "":
		s.OnFailure = HaltPipeline
	case HaltPipeline, HaltBranch, Ignore:
	default:
		d.errorAt(join(at, "onFailure"), "must be %q, %q or %q, got %q", HaltPipeline, HaltBranch, Ignore, s.OnFailure)
	}
	if _, known := stageFields[s.Type]; !known {
		d.unknownType(join(at, "type"), "stage", string(s.Type), typeNames(stageFields))
		return s, dependsOnSet
	}
	if slices.Contains(stageFields[s.Type], "target") && s.Target == "" {
		d.errorAt(join(at, "target"), "required: the name of a target of this application")
	}

	switch s.Type {
	case StageDeployManifest:
		d.unique(join(at, "artifacts"), "", s.Artifacts, "artifact")
		switch {
		case s.Manifest != "":
			d.manifest(join(at, "manifest"), s.Manifest, "", "")
			d.manifestFile(join(at, "file"), s.File)
		case s.File != "":
			d.errorAt(join(at, "file"), "only with manifest: the file the manifest is written to")
		}
	case StageDeleteManifest:
		d.stageObject(at, &s, true)
	case StageScaleManifest:
		d.stageObject(at, &s, true)
		switch {
		case !replicasSet:
			d.errorAt(join(at, "replicas"), "required: the number of replicas to scale to")
		case s.Replicas < 0:
			d.errorAt(join(at, "replicas"), "must be at least 0, got %d", s.Replicas)
		}
	case StagePatchManifest:
		d.stageObject(at, &s, true)
		d.patch(join(at, "patch"), s.Patch)
	case StageUndoRollout:
		d.stageObject(at, &s, false)
		switch {
		case !revisionsSet:
			s.Revisions = 1
		case s.Revisions < 1:
			d.errorAt(join(at, "revisions"), "must be at least 1, got %d", s.Revisions)
		}
	case StageWait:
		switch {
		case !durationSet:
			d.errorAt(join(at, "duration"), "required: how long to wait, such as 30s or 10m")
		case s.Duration <= 0:
			d.errorAt(join(at, "duration"), "must be positive, got %s", s.Duration)
		}
	case StageCheckPreconditions:
		if len(s.Expressions) == 0 {
			d.errorAt(join(at, "expressions"), "required: at least one expression that must be true")
		}
	case StageWebhook:
		d.webhook(at, &s)
	case StageRunJob:
		if s.Manifest == "" {
			d.errorAt(join(at, "manifest"), "required: the Job to run, in YAML")
		} else {
			d.manifest(join(at, "manifest"), s.Manifest, "batch/v1", "Job")
		}
	case StagePipeline:
		d.pipelineRef(at, &s.Application, s.Pipeline, app, name, "stage")
	}
	return s, dependsOnSet
}

// stageObject checks the kind and objectName of a stage acting on one
// object of its target. Kind defaults to Deployment; when the object is optional
// (undoRollout), an absent objectName leaves Kind empty: the whole target.
func (d *decoder) stageObject(at string, s *Stage, required bool) {
	switch {
	case s.ObjectName == "" && required:
		d.errorAt(join(at, "objectName"), "required: the name of the object")
		return
	case s.ObjectName == "" && s.Kind != "":
		d.errorAt(join(at, "objectName"), "required with kind: the name of the object")
		return
	case s.ObjectName == "":
		return
	case len(validation.IsDNS1123Subdomain(s.ObjectName)) > 0:
		d.errorAt(join(at, "objectName"), "must be a Kubernetes object name (a DNS-1123 subdomain), got %q", s.ObjectName)
	}
	switch {
	case s.Kind == "":
		s.Kind = "Deployment"
	case !kindRE.MatchString(s.Kind):
		d.errorAt(join(at, "kind"), "must be a Kubernetes kind such as Deployment, got %q", s.Kind)
	}
}

// webhook checks a webhook stage and applies its defaults.
func (d *decoder) webhook(at string, s *Stage) {
	d.httpURL(join(at, "url"), s.URL, true)
	switch {
	case s.Method == "":
		s.Method = "POST"
	case !slices.Contains(webhookMethods, s.Method):
		d.errorAt(join(at, "method"), "must be one of %s, got %q", strings.Join(webhookMethods, ", "), s.Method)
	}
	for _, k := range sortedKeys(s.Headers) {
		if !validHeaderName(k) {
			d.errorAt(join(join(at, "headers"), k), "not an HTTP header name")
		}
	}
	for i, code := range s.SuccessStatuses {
		if code < 100 || code > 599 {
			d.errorAt(index(join(at, "successStatuses"), i), "must be an HTTP status between 100 and 599, got %d", code)
		}
	}
	if s.StatusURL == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"statusField", s.StatusField != ""}, {"successValues", len(s.SuccessValues) > 0}, {"failureValues", len(s.FailureValues) > 0}} {
			if f.set {
				d.errorAt(join(at, f.name), "only with statusUrl: the stage polls statusUrl for it")
			}
		}
		return
	}
	d.httpURL(join(at, "statusUrl"), s.StatusURL, false)
	if s.StatusField == "" {
		d.errorAt(join(at, "statusField"), "required with statusUrl: the dotted path of the JSON field to read")
	}
	if len(s.SuccessValues) == 0 {
		d.errorAt(join(at, "successValues"), "required with statusUrl: the values of statusField that end the stage successfully")
	}
}

// manifest checks a manifest written inline in a stage: one YAML document
// with apiVersion, kind and metadata.name (or, for a Job, generateName),
// of the given apiVersion and kind when they are not "".
func (d *decoder) manifest(at, manifest, apiVersion, kind string) {
	m, err := parseManifest(manifest)
	switch {
	case err != nil:
		d.errorAt(at, "%v", err)
	case m.APIVersion == "" || m.Kind == "":
		d.errorAt(at, "must have apiVersion and kind")
	case apiVersion != "" && (m.APIVersion != apiVersion || m.Kind != kind):
		d.errorAt(at, "must be a %s of %s, got %s %s", kind, apiVersion, m.APIVersion, m.Kind)
	case m.Metadata.Name == "" && (kind != "Job" || m.Metadata.GenerateName == ""):
		d.errorAt(at, "must have metadata.name")
	}
}

// manifestFile checks the file name a deployManifest stage writes its
// manifest to in the target's directory.
func (d *decoder) manifestFile(at, name string) {
	switch {
	case name == "":
		d.errorAt(at, "required with manifest: the file to write it to in the target's directory, such as extra.yaml")
	case strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, "."):
		d.errorAt(at, "must be a plain file name such as extra.yaml, got %q", name)
	case path.Ext(name) != ".yaml" && path.Ext(name) != ".yml":
		d.errorAt(at, "must end in .yaml or .yml, got %q", name)
	case name == "kustomization.yaml" || name == "kustomization.yml":
		d.errorAt(at, "must not be the kustomization itself")
	}
}

// patch checks a patchManifest stage's patch: one YAML mapping.
func (d *decoder) patch(at, patch string) {
	if patch == "" {
		d.errorAt(at, "required: a strategic-merge patch in YAML")
		return
	}
	var n yaml.Node
	if err := decodeOne(patch, &n); err != nil {
		d.errorAt(at, "%v", err)
	} else if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
		d.errorAt(at, "must be a YAML mapping")
	}
}

// artifactRefs checks that ids, at path at, name expected artifacts of the
// pipeline, and of type typ when it is not "".
func (d *decoder) artifactRefs(at string, ids []string, expected []ExpectedArtifact, typ string) {
	known := make([]string, 0, len(expected))
	for _, ea := range expected {
		known = append(known, ea.ID)
	}
	for i, id := range ids {
		j := slices.Index(known, id)
		switch {
		case j < 0:
			d.errorAt(index(at, i), "artifact %q is not an expected artifact of this pipeline (%s)", id, knownList(known))
		case typ != "" && expected[j].Type != typ && slices.Contains(artifactTypes, expected[j].Type):
			// An unknown type is reported at the artifact.
			d.errorAt(index(at, i), "artifact %q is of type %s; want %s", id, expected[j].Type, typ)
		}
	}
}

// stageGraph checks the stages' ids and dependencies, and resolves each
// stage's DependsOn: a stage without dependsOn depends on the stage before
// it; none, and dependsOn: [], depend on nothing (DependsOn is nil).
func (d *decoder) stageGraph(stages []Stage, explicit []bool) {
	ids := make([]string, len(stages))
	for i, s := range stages {
		ids[i] = s.ID
	}
	d.unique("spec.stages", ".id", ids, "stage id")
	for i := range stages {
		s := &stages[i]
		at := join(index("spec.stages", i), "dependsOn")
		if !explicit[i] {
			s.DependsOn = nil
			if i > 0 && stages[i-1].ID != "" {
				s.DependsOn = []string{stages[i-1].ID}
			}
			continue
		}
		d.unique(at, "", s.DependsOn, "dependency")
		for j, dep := range s.DependsOn {
			switch {
			case dep == s.ID:
				d.errorAt(index(at, j), "a stage cannot depend on itself")
			case !slices.Contains(ids, dep):
				d.errorAt(index(at, j), "stage %q not found in this pipeline (%s)", dep, knownList(ids))
			}
		}
		if len(s.DependsOn) == 0 {
			s.DependsOn = nil
		}
	}
	d.cycles(stages, explicit)
}

// cycles reports each dependency cycle found by a depth-first walk, once,
// at the dependsOn of the cycle's first stage (in file order) that gives
// dependsOn: every cycle has one, since implicit dependencies only point
// back to the stage before.
func (d *decoder) cycles(stages []Stage, explicit []bool) {
	byID := map[string]int{}
	for i, s := range stages {
		if _, dup := byID[s.ID]; !dup && s.ID != "" {
			byID[s.ID] = i
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(stages))
	var path []int
	var visit func(i int)
	visit = func(i int) {
		state[i] = onPath
		path = append(path, i)
		for _, dep := range stages[i].DependsOn {
			j, ok := byID[dep]
			if !ok || j == i {
				continue
			}
			switch state[j] {
			case unseen:
				visit(j)
			case onPath:
				cycle := slices.Clone(path[slices.Index(path, j):])
				start := 0
				for k, c := range cycle {
					if explicit[c] && (!explicit[cycle[start]] || c < cycle[start]) {
						start = k
					}
				}
				cycle = append(cycle[start:], cycle[:start]...)
				names := make([]string, 0, len(cycle)+1)
				for _, c := range cycle {
					names = append(names, stages[c].ID)
				}
				names = append(names, stages[cycle[0]].ID)
				d.errorAt(join(index("spec.stages", cycle[0]), "dependsOn"), "cycle %s", strings.Join(names, " → "))
			}
		}
		path = path[:len(path)-1]
		state[i] = done
	}
	for i := range stages {
		if state[i] == unseen {
			visit(i)
		}
	}
}

// expressionEnv is what a checkPreconditions expression can read when
// checked here. Package pipeline must give expressions at least these
// names with these types; the values of stages, artifacts and trigger are
// left untyped (any), so only their use as a whole is checked.
var expressionEnv = map[string]any{
	"parameters": map[string]string{},
	"artifacts":  map[string]any{},
	"stages":     map[string]any{},
	"trigger":    map[string]any{},
}

// expression checks one checkPreconditions expression of p: it must
// compile, yield a boolean (or a value of unknown type), and name only
// parameters, stages and artifacts that p declares.
func (d *decoder) expression(at, src string, p *Pipeline) {
	if _, err := expr.Compile(src, expr.Env(expressionEnv), expr.AsBool()); err != nil {
		var fe *file.Error
		switch {
		case errors.As(err, &fe) && strings.Contains(src, "\n"):
			d.errorAt(at, "invalid expression: %s (line %d, column %d)", fe.Message, fe.Line, fe.Column+1)
		case errors.As(err, &fe):
			d.errorAt(at, "invalid expression: %s (column %d)", fe.Message, fe.Column+1)
		default:
			d.errorAt(at, "invalid expression: %v", err)
		}
		return
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return // compiled above, so parses
	}
	known := map[string][]string{}
	for _, prm := range p.Parameters {
		known["parameters"] = append(known["parameters"], prm.Name)
	}
	for _, s := range p.Stages {
		known["stages"] = append(known["stages"], s.ID)
	}
	for _, ea := range p.ExpectedArtifacts {
		known["artifacts"] = append(known["artifacts"], ea.ID)
	}
	v := &nameVisitor{known: known}
	ast.Walk(&tree.Node, v)
	for _, msg := range v.problems {
		d.errorAt(at, "%s", msg)
	}
}

// nameVisitor finds parameters.x, stages.x and artifacts["x"] naming
// something the pipeline does not declare.
type nameVisitor struct {
	known    map[string][]string
	problems []string
}

func (v *nameVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	root, ok1 := m.Node.(*ast.IdentifierNode)
	key, ok2 := m.Property.(*ast.StringNode)
	if !ok1 || !ok2 {
		return
	}
	what := map[string]string{"parameters": "parameter", "stages": "stage", "artifacts": "expected artifact"}[root.Value]
	if what == "" || slices.Contains(v.known[root.Value], key.Value) {
		return
	}
	v.problems = append(v.problems, fmt.Sprintf("%s.%s: this pipeline has no %s %q (%s)", root.Value, key.Value, what, key.Value, knownList(v.known[root.Value])))
}

// checkPipelines checks what pipelines refer to in other files: the
// targets of their application and the pipelines they trigger on or run.
// Checks that need the application are skipped when its spec could not be
// decoded; its own errors say why.
func (l *loader) checkPipelines() {
	broken := map[string]bool{}
	for _, e := range l.errs {
		broken[e.File] = true
	}
	for _, appName := range sortedKeys(l.repo.Applications) {
		a := l.repo.Applications[appName]
		for _, p := range a.Pipelines {
			d := l.docs[p.Source.File]
			for i, t := range p.Triggers {
				if t.Type == TriggerPipeline {
					l.pipelineExists(d, index("spec.triggers", i), t.Application, t.Pipeline)
				}
			}
			for i, s := range p.Stages {
				at := index("spec.stages", i)
				if s.Type == StagePipeline {
					child := l.pipelineExists(d, at, s.Application, s.Pipeline)
					if child != nil && !broken[child.Source.File] {
						childParameters(d, at, child, s.Parameters)
					}
				}
				if s.Target != "" && specDecoded(a) {
					l.stageTarget(d, at, a, s)
				}
			}
		}
	}
}

// pipelineExists finds the pipeline app/name named at path at, reporting
// it when it does not exist. It skips names already reported as invalid.
func (l *loader) pipelineExists(d *decoder, at, app, name string) *Pipeline {
	if !isLabel(app) || !validName(name) {
		return nil
	}
	a, ok := l.repo.Applications[app]
	if !ok {
		d.errorAt(join(at, "application"), "application %q not found (no applications/%s/application.yaml)", app, app)
		return nil
	}
	for _, p := range a.Pipelines {
		if p.Name == name {
			return p
		}
	}
	d.errorAt(join(at, "pipeline"), "pipeline %q not found (no %s/pipelines/%s.yaml)", name, a.Dir, name)
	return nil
}

// childParameters checks that a pipeline stage gives only parameters its
// child declares, which package pipeline would otherwise refuse at run
// time.
func childParameters(d *decoder, at string, child *Pipeline, given map[string]string) {
	var names []string
	for _, prm := range child.Parameters {
		names = append(names, prm.Name)
	}
	for _, k := range sortedKeys(given) {
		if !slices.Contains(names, k) {
			d.errorAt(join(join(at, "parameters"), k), "pipeline %s/%s has no parameter %q (%s)", child.Application, child.Name, k, knownList(names))
		}
	}
}

// stageTarget checks that a stage's target is a target of application a,
// and what the stage's type needs of it.
func (l *loader) stageTarget(d *decoder, at string, a *Application, s Stage) {
	var t *Target
	names := make([]string, len(a.Targets))
	for i := range a.Targets {
		names[i] = a.Targets[i].Name
		if a.Targets[i].Name == s.Target {
			t = &a.Targets[i]
		}
	}
	if t == nil {
		d.errorAt(join(at, "target"), "target %q is not a target of application %q (%s)", s.Target, a.Name, knownList(names))
		return
	}
	switch s.Type {
	case StageDeleteManifest:
		if !t.Sync.Prune {
			d.errorAt(join(at, "target"), "deleteManifest needs target %q to prune (sync.prune: true in %s): without it the object stays in the cluster after it leaves Git", t.Name, a.Source.File)
		}
	case StageDeployManifest:
		if len(s.Artifacts) > 0 && l.kustomization(t.Path) == noKustomization {
			d.errorAt(join(at, "artifacts"), "binding artifacts needs a kustomization in target %q's directory %s (kustomization.yaml, kustomization.yml or Kustomization)", t.Name, t.Path)
		}
	case StagePatchManifest:
		if l.kustomization(t.Path) == noKustomization {
			d.errorAt(join(at, "target"), "patchManifest needs a kustomization in target %q's directory %s (kustomization.yaml, kustomization.yml or Kustomization)", t.Name, t.Path)
		}
	case StageRunJob:
		if m, err := parseManifest(s.Manifest); err == nil && m.Metadata.Namespace != "" && m.Metadata.Namespace != t.Namespace {
			d.errorAt(join(at, "manifest"), "the Job runs in target %q's namespace %q; leave metadata.namespace out or set it to that, got %q", t.Name, t.Namespace, m.Metadata.Namespace)
		}
	}
}

// specDecoded reports whether an application's spec was decoded. Only
// then does it default Provider (see decoder.application), which a file
// that failed to parse, or with a wrong apiVersion or kind, never does.
func specDecoded(a *Application) bool {
	return a.Provider != ""
}

// kustomizationState says whether a target's directory holds a
// kustomization.
type kustomizationState int

const (
	unknownKustomization kustomizationState = iota // the directory is missing: reported for the target
	hasKustomization
	noKustomization
)

func (l *loader) kustomization(dir string) kustomizationState {
	if info, err := fs.Stat(l.fsys, dir); dir == "" || err != nil || !info.IsDir() {
		return unknownKustomization
	}
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := fs.Stat(l.fsys, dir+"/"+name); err == nil {
			return hasKustomization
		}
	}
	return noKustomization
}

// The rules below are shared by the decoders above.

// nameRule says what validName accepts, for error messages: the names of
// pipelines, stages and expected artifacts.
const nameRule = "must start with a letter and hold only letters, digits, '_' and '-' (at most 63)"

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	kindRE       = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	// tagRE and digestRE are what package manifests accepts in image
	// references; digests are further limited to sha256.
	tagRE    = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

func validName(s string) bool {
	return len(s) <= 63 && nameRE.MatchString(s)
}

// id checks that the value at path is a required name under nameRule.
func (d *decoder) id(at, value string) {
	switch {
	case value == "":
		d.errorAt(at, "required")
	case !validName(value):
		d.errorAt(at, "%s, got %q", nameRule, value)
	}
}

// unknownType reports a missing or unknown type of a stage or trigger. A
// type that is not a string was reported when it was decoded.
func (d *decoder) unknownType(at, what, got string, types []string) {
	if n, ok := d.nodes[at]; got == "" && ok && !isNull(n) {
		return
	}
	if got == "" {
		d.errorAt(at, "required; known %s types are %s", what, strings.Join(types, ", "))
		return
	}
	d.errorAt(at, "unknown %s type %q; known %s types are %s", what, got, what, strings.Join(types, ", "))
}

// oneOf checks that the values of the list at path at are distinct members
// of allowed.
func (d *decoder) oneOf(at string, values, allowed []string) {
	for i, v := range values {
		if !slices.Contains(allowed, v) {
			d.errorAt(index(at, i), "must be one of %s, got %q", strings.Join(allowed, ", "), v)
		}
	}
	d.unique(at, "", values, "value")
}

// httpURL checks an absolute http or https URL, required or not.
func (d *decoder) httpURL(at, s string, required bool) {
	if s == "" {
		if required {
			d.errorAt(at, "required: an http or https URL")
		}
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errorAt(at, "must be an absolute http or https URL, got %q", s)
	}
}

// pick returns the fields of a mapping whose shape depends on its type:
// the common fields and those own lists for typ, taken from all. For an
// unknown type it takes all of them, so that only the type is reported.
func pick[T comparable](typ T, own map[T][]string, common, all map[string]field) map[string]field {
	names, known := own[typ]
	out := map[string]field{}
	for name, f := range all {
		if !known || slices.Contains(names, name) {
			out[name] = f
		}
	}
	for name, f := range common {
		out[name] = f
	}
	return out
}

// typeOf returns the string value of the key type in mapping n, or ""
// when there is none; it lets a decoder read the type before choosing the
// fields.
func typeOf(n *yaml.Node) string {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], resolve(n.Content[i+1]); k.Value == "type" && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
			return v.Value
		}
	}
	return ""
}

// typeNames lists the types of a field table, sorted.
func typeNames[T ~string](m map[T][]string) []string {
	names := make([]string, 0, len(m))
	for t := range m {
		names = append(names, string(t))
	}
	slices.Sort(names)
	return names
}

// knownList says which names exist, for "not found" messages.
func knownList(names []string) string {
	var nonEmpty []string
	for _, n := range names {
		if n != "" && !slices.Contains(nonEmpty, n) {
			nonEmpty = append(nonEmpty, n)
		}
	}
	if len(nonEmpty) == 0 {
		return "there are none"
	}
	return "known: " + strings.Join(nonEmpty, ", ")
}

// validGitRepository accepts a repository path such as owner/name, or
// deeper (group/subgroup/name, as GitLab and CODING have).
func validGitRepository(repo string) bool {
	parts := strings.Split(repo, "/")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == ':' || r == '\\' }) {
			return false
		}
	}
	return true
}

// validBranch accepts the branch names git accepts, roughly: no spaces,
// control or special characters, no "..", no empty path element.
func validBranch(b string) bool {
	if strings.Contains(b, "..") || strings.Contains(b, "//") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".lock") || strings.HasPrefix(b, "-") || b == "@" {
		return false
	}
	return !strings.ContainsFunc(b, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) })
}

// validHeaderName accepts an HTTP header field name (an RFC 9110 token).
func validHeaderName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	})
}

// splitImage splits a full image reference (repository:tag,
// repository@digest or both) as package manifests does.
func splitImage(ref string) (repo, tag, digest string, ok bool) {
	repo = ref
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo, digest = repo[:i], repo[i+1:]
		if !digestRE.MatchString(digest) {
			return "", "", "", false
		}
	}
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, tag = repo[:i], repo[i+1:]
		if !tagRE.MatchString(tag) {
			return "", "", "", false
		}
	}
	if !validRepository(repo) || (tag == "" && digest == "") {
		return "", "", "", false
	}
	return repo, tag, digest, true
}

// inlineManifest is what the loader reads of a manifest in a stage.
type inlineManifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name         string `yaml:"name"`
		GenerateName string `yaml:"generateName"`
		Namespace    string `yaml:"namespace"`
	} `yaml:"metadata"`
}

func parseManifest(s string) (inlineManifest, error) {
	var m inlineManifest
	var n yaml.Node
	if err := decodeOne(s, &n); err != nil {
		return m, err
	}
	if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
		return m, errors.New("must be a YAML mapping (one Kubernetes object)")
	}
	if err := n.Decode(&m); err != nil {
		_, msg := yamlError(err)
		return m, fmt.Errorf("not a Kubernetes object: %s", msg)
	}
	return m, nil
}

// decodeOne parses s, which must hold exactly one YAML document, into n.
func decodeOne(s string, n *yaml.Node) error {
	dec := yaml.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(n); errors.Is(err, io.EOF) {
		return errors.New("is empty")
	} else if err != nil {
		_, msg := yamlError(err)
		return fmt.Errorf("invalid YAML: %s", msg)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) && (err != nil || len(next.Content) > 0 && !isNull(next.Content[0])) {
		return errors.New("must hold one YAML document, not more")
	}
	return nil
}
