package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/slipwaycd/slipway/config"
)

// Status is where an execution (a release order) stands.
type Status string

// Execution statuses. Queued, Running and Waiting are active; the rest are
// final.
const (
	// StatusQueued waits for a running execution of the same pipeline
	// (concurrent executions off).
	StatusQueued Status = "queued"
	// StatusRunning has stages running or ready to run.
	StatusRunning Status = "running"
	// StatusWaiting has a manual judgment waiting and nothing else running.
	StatusWaiting   Status = "waiting"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
	// StatusRejected ended at a manual judgment that was rejected.
	StatusRejected Status = "rejected"
	// StatusRefused never started: a required artifact or parameter was
	// missing, or the pipeline is disabled. Reason says which.
	StatusRefused Status = "refused"
)

// Final reports whether the status is an end state.
func (s Status) Final() bool {
	switch s {
	case StatusQueued, StatusRunning, StatusWaiting:
		return false
	}
	return true
}

// StageStatus is where one stage of an execution stands.
type StageStatus string

// Stage statuses.
const (
	StagePending   StageStatus = "pending"
	StageRunning   StageStatus = "running"
	StageWaiting   StageStatus = "waiting" // a manual judgment
	StageSucceeded StageStatus = "succeeded"
	StageFailed    StageStatus = "failed"
	// StageFailedContinue failed under onFailure: ignore; what depends on it runs.
	StageFailedContinue StageStatus = "failedContinue"
	StageCanceled       StageStatus = "canceled"
	StageRejected       StageStatus = "rejected"
	// StageSkipped never ran because a stage it depends on did not succeed.
	StageSkipped StageStatus = "skipped"
)

// Done reports whether the stage will not run (again) in this execution.
func (s StageStatus) Done() bool {
	switch s {
	case StagePending, StageRunning, StageWaiting:
		return false
	}
	return true
}

// Execution is one run of a pipeline: the console's release order (发布单).
// It is stored (not kept in Git) and saved at every state change, so a
// restarted server resumes it.
type Execution struct {
	ID          int64  `json:"id"`
	Application string `json:"application"`
	Pipeline    string `json:"pipeline"`
	Project     string `json:"project,omitempty"`
	Status      Status `json:"status"`
	// Reason says why the execution ended as it did (failed, canceled,
	// rejected, refused); empty on success.
	Reason     string            `json:"reason,omitempty"`
	Trigger    Trigger           `json:"trigger"`
	Parameters map[string]string `json:"parameters"`
	Artifacts  []Artifact        `json:"artifacts"`
	// Revision is the config repo revision the pipeline was read at; the
	// execution keeps that definition even when the file changes later.
	Revision   string          `json:"revision"`
	Definition config.Pipeline `json:"-"`
	Stages     []*StageState   `json:"stages"`
	CreatedAt  time.Time       `json:"createdAt"`
	StartedAt  time.Time       `json:"startedAt,omitzero"`
	EndedAt    time.Time       `json:"endedAt,omitzero"`
	// Key is random and unique to the execution; it goes into the trailers
	// of the commits the execution makes, so a resumed stage finds its own
	// commit rather than committing twice.
	Key string `json:"key"`
}

// Trigger says what started an execution.
type Trigger struct {
	// Type is a config.TriggerType, or "manual" for a release order.
	Type config.TriggerType `json:"type"`
	// User is who asked: a token name, a forge user, or "slipway".
	User string `json:"user,omitempty"`
	// Summary is one line for people, e.g. "push of registry/app:v2".
	Summary string `json:"summary,omitempty"`
	// DeliveryID is the webhook delivery that started it, if any.
	DeliveryID string `json:"deliveryId,omitempty"`
	// Parent is the execution that started this one (pipeline trigger or
	// pipeline stage).
	Parent int64 `json:"parent,omitempty"`
}

// Artifact is an expected artifact bound to a value for one execution.
type Artifact struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Reference is the full image reference: repo:tag@digest, repo:tag or repo@digest.
	Reference  string `json:"reference"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	// From says where the value came from: trigger, request, prior, default.
	From string `json:"from"`
}

// StageState is one stage of an execution, with what it did.
type StageState struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Type      config.StageType `json:"type"`
	DependsOn []string         `json:"dependsOn"`
	Status    StageStatus      `json:"status"`
	StartedAt time.Time        `json:"startedAt,omitzero"`
	EndedAt   time.Time        `json:"endedAt,omitzero"`
	// Attempts counts starts, including resumes after a server restart.
	Attempts int `json:"attempts,omitempty"`
	// Restarts counts restarts of the stage by people; side effects (commits,
	// Jobs, child executions) are keyed by it, so a restart does them anew
	// while a resume finds what the attempt before it did.
	Restarts int          `json:"restarts,omitempty"`
	Error    string       `json:"error,omitempty"`
	Log      []LogLine    `json:"log,omitempty"`
	Outputs  StageOutputs `json:"outputs"`
}

// LogLine is one line of a stage's log.
type LogLine struct {
	Time time.Time `json:"time"`
	Msg  string    `json:"msg"`
}

// StageOutputs is what a stage produced. Which fields are set depends on
// the stage's type.
type StageOutputs struct {
	// Target and Commit: the target changed and the config repo commit
	// that changed it ("" when nothing needed to change).
	Target string `json:"target,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Changes is the change set the commit made, one line per file.
	Changes []string `json:"changes,omitempty"`
	// Revision the target was synced at, and its health then.
	Revision string `json:"revision,omitempty"`
	Health   string `json:"health,omitempty"`
	// Judgment of a manualJudgment stage.
	Judgment *Judgment `json:"judgment,omitempty"`
	// Job and JobLog of a runJob stage (the log is capped).
	Job    string `json:"job,omitempty"`
	JobLog string `json:"jobLog,omitempty"`
	// HTTPStatus and Response of a webhook stage (the response is capped).
	HTTPStatus int    `json:"httpStatus,omitempty"`
	Response   string `json:"response,omitempty"`
	// Child is the execution a pipeline stage started.
	Child int64 `json:"child,omitempty"`
	// WaitUntil is when a wait stage ends.
	WaitUntil time.Time `json:"waitUntil,omitzero"`
}

// Judgment is a person's decision at a manualJudgment stage.
type Judgment struct {
	Approved bool      `json:"approved"`
	User     string    `json:"user"`
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// Request asks for a release order by hand: the API's and the CLI's
// "release create".
type Request struct {
	Application string            `json:"application"`
	Pipeline    string            `json:"pipeline"`
	Parameters  map[string]string `json:"parameters,omitempty"`
	// Artifacts are image references (repo:tag, repo@digest); each is
	// bound to the expected artifact it matches.
	Artifacts []string `json:"artifacts,omitempty"`
	// User is filled in by the server from the caller's identity.
	User string `json:"-"`
}

// Filter selects executions for List.
type Filter struct {
	Application string
	Pipeline    string
	Status      Status
	// Limit is at most 1000; 0 means 50.
	Limit int
}

// ErrNotFound is returned for an execution, application or pipeline that
// does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned for an action the execution's state does not
// allow: cancel a finished one, judge a stage that is not waiting, restart
// a running one when the application does not allow it.
var ErrConflict = errors.New("conflict")

// FieldError is a bad request, naming the field at fault (e.g.
// "parameters.replicas", "artifacts[0]").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Msg) }
