package config

import "time"

// KindPipeline is the kind of applications/<app>/pipelines/<name>.yaml.
const KindPipeline = "Pipeline"

// Pipeline is one way of releasing an application (the console's 部署流程):
// the artifacts it expects, what starts it, the parameters a person fills
// in, and the stages it runs. Pipelines live next to the application they
// release, in applications/<app>/pipelines/<name>.yaml.
type Pipeline struct {
	// Name is the file name without .yaml; unlike other names it may use
	// camelCase (deployTesting), as console users name pipelines.
	Name        string
	Application string
	Description string
	// Disabled pipelines are valid but never start, by trigger or by hand.
	Disabled          bool
	Execution         ExecutionOptions
	ExpectedArtifacts []ExpectedArtifact
	Triggers          []Trigger
	Parameters        []Parameter
	Notifications     []Notification
	// Stages in file order. DependsOn is already resolved: a stage that
	// does not say depends on the stage before it; the first stage, and a
	// stage with dependsOn: [], depends on none.
	Stages []Stage
	Source Source
}

// ExecutionOptions says how executions of one pipeline may overlap.
// Unset fields take the application's execution options.
type ExecutionOptions struct {
	// Concurrent lets executions run at the same time; otherwise one runs
	// and later ones wait.
	Concurrent bool
	// KeepWaiting keeps every waiting execution, to run in order; otherwise
	// only the newest waits and older waiting ones are cancelled.
	KeepWaiting bool
	// AllowRestartRunning lets a running execution be restarted.
	AllowRestartRunning bool
}

// ArtifactDockerImage is the only artifact type so far: a container image.
const ArtifactDockerImage = "docker/image"

// ExpectedArtifact is an artifact a pipeline needs, and the rule an
// incoming artifact must match to be bound to it. Exactly one of Tag,
// TagRegex, Semver and Digest may be set; none accepts any tag.
type ExpectedArtifact struct {
	// ID names the artifact within the pipeline; stages bind it by ID.
	ID   string
	Type string // ArtifactDockerImage
	// Repository is the image as pushed: registry host[:port]/path.
	Repository string
	// KustomizeName is the name of the image in a kustomization's images:
	// list; default Repository.
	KustomizeName string
	Tag           string
	TagRegex      string
	Semver        string
	Digest        string
	// UsePriorExecution binds the artifact the latest execution of this
	// pipeline bound, when the trigger brings none.
	UsePriorExecution bool
	// Default is a full image reference (repo:tag or repo@digest) bound
	// when neither the trigger nor a prior execution provides one.
	Default string
	Source  Source
}

// TriggerType says what starts a pipeline.
type TriggerType string

// Trigger types.
const (
	// TriggerDocker starts on an image push matching the trigger's artifacts.
	TriggerDocker TriggerType = "docker"
	// TriggerGit starts on a push to a branch, optionally touching paths.
	TriggerGit TriggerType = "git"
	// TriggerCron starts on a schedule.
	TriggerCron TriggerType = "cron"
	// TriggerManual declares manual runs; with enabled: false it forbids them.
	TriggerManual TriggerType = "manual"
	// TriggerPipeline starts when another pipeline's execution ends.
	TriggerPipeline TriggerType = "pipeline"
	// TriggerWebhook starts on a generic webhook whose payload matches.
	TriggerWebhook TriggerType = "webhook"
)

// Trigger is one way a pipeline starts by itself. Which fields apply
// depends on Type.
type Trigger struct {
	Type TriggerType
	// Enabled is true unless the file says enabled: false.
	Enabled bool

	// Artifacts (docker, git, webhook) are the IDs of expected artifacts
	// the event must satisfy; a docker trigger needs at least one, and
	// starts only when the pushed image matches one of them.
	Artifacts []string

	// Repository (git) is the Git repository as "owner/name"; empty means
	// the config repo. Branch is the branch pushed to (default main).
	// Paths, when set, are globs (path.Match, with ** for any depth) of
	// which at least one changed file must match.
	Repository string
	Branch     string
	Paths      []string

	// Schedule (cron) is a five-field cron expression or a descriptor such
	// as @hourly or @every 10m; TimeZone is an IANA zone (default UTC).
	Schedule string
	TimeZone string

	// Application and Pipeline (pipeline) name the upstream pipeline;
	// Application defaults to this pipeline's. Statuses are the end
	// states that start this pipeline (default succeeded).
	Application string
	Pipeline    string
	Statuses    []string

	// Source (webhook) is the generic webhook's name, served at
	// /webhooks/generic/<source>; Payload maps a dotted JSON path in the
	// body to a regular expression its value must match entirely.
	WebhookSource string
	Payload       map[string]string

	Pos Source
}

// Parameter is a value a person (or a trigger) gives an execution.
type Parameter struct {
	Name     string
	Label    string
	Required bool
	Default  string
	// Options, when set, are the only values allowed.
	Options []string
	Source  Source
}

// Notification says where an execution's progress is reported.
type Notification struct {
	Type string // "webhook"
	URL  string
	// When lists the events reported: starting, succeeded, failed,
	// canceled, judgment (waiting for a manual judgment). Default: all.
	When   []string
	Source Source
}

// StageType is what a stage does.
type StageType string

// Stage types.
const (
	StageDeployManifest     StageType = "deployManifest"
	StageDeleteManifest     StageType = "deleteManifest"
	StageScaleManifest      StageType = "scaleManifest"
	StagePatchManifest      StageType = "patchManifest"
	StageUndoRollout        StageType = "undoRollout"
	StageManualJudgment     StageType = "manualJudgment"
	StageWait               StageType = "wait"
	StageCheckPreconditions StageType = "checkPreconditions"
	StageWebhook            StageType = "webhook"
	StageRunJob             StageType = "runJob"
	StagePipeline           StageType = "pipeline"
)

// OnFailure says what a failed stage does to the rest of the execution.
type OnFailure string

// Failure policies, as the console names them.
const (
	// HaltPipeline fails the execution; running stages are cancelled.
	HaltPipeline OnFailure = "haltPipeline"
	// HaltBranch stops the stages that depend on this one; others go on,
	// and the execution fails at the end.
	HaltBranch OnFailure = "haltBranch"
	// Ignore treats the failure as success for what depends on it; the
	// stage shows as failed (continued).
	Ignore OnFailure = "ignore"
)

// Stage is one step of a pipeline. Which fields apply depends on Type;
// the loader refuses fields of other types.
type Stage struct {
	ID        string
	Name      string
	Type      StageType
	DependsOn []string
	// Timeout bounds the stage; 0 means the type's default.
	Timeout   time.Duration
	OnFailure OnFailure

	// Target (deploy, delete, scale, patch, undoRollout, runJob) is a
	// target of the pipeline's application.
	Target string
	// Artifacts (deployManifest) are expected artifact IDs bound into the
	// target's kustomization before the commit.
	Artifacts []string
	// Manifest (deployManifest: written to File in the target's path and
	// added to its kustomization; runJob: the Job) is raw YAML.
	Manifest string
	File     string
	// SkipWaitHealthy (deployManifest, scale, patch, undoRollout) ends the
	// stage once the target is synced, without waiting for health.
	SkipWaitHealthy bool

	// Kind and ObjectName (delete, scale, patch, undoRollout) name the
	// object; Kind defaults to Deployment.
	Kind       string
	ObjectName string
	// Replicas (scaleManifest).
	Replicas int
	// Patch (patchManifest) is a strategic-merge patch in YAML.
	Patch string
	// Revisions (undoRollout) is how many changes of the target to go
	// back; default 1.
	Revisions int

	// Instructions (manualJudgment) are shown to the judge.
	Instructions string

	// Duration (wait).
	Duration time.Duration

	// Expressions (checkPreconditions) must all be true; see package
	// pipeline for what they can read.
	Expressions []string

	// URL, Method, Headers and Body (webhook) are the request; a response
	// status outside SuccessStatuses (default any 2xx) fails the stage.
	// With StatusURL set, the stage then polls it until the JSON field
	// StatusField has a value in SuccessValues (or FailureValues).
	URL             string
	Method          string
	Headers         map[string]string
	Body            string
	SuccessStatuses []int
	StatusURL       string
	StatusField     string
	SuccessValues   []string
	FailureValues   []string

	// Application, Pipeline and Parameters (pipeline) name the pipeline
	// to run and what to give it; Application defaults to this one's.
	// With SkipWait the stage ends once the child has started.
	Application string
	Pipeline    string
	Parameters  map[string]string
	SkipWait    bool

	Source Source
}
