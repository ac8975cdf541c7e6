package pipeline

import (
	"slices"

	"github.com/slipwaycd/slipway/config"
)

// step is what the driver of an execution does next, decided purely from
// the stages' states: which pending stages start, which are skipped
// because something they depend on did not succeed, and — once nothing
// runs any more — how the execution ends.
type step struct {
	Start []string
	Skip  []string
	// Over is set when no stage runs or can run; Final is then the
	// execution's end state.
	Over  bool
	Final Status
	// Waiting is set when the only stages running wait for a judgment.
	Waiting bool
}

// plan decides the next step. halted says the execution stops starting
// stages (a haltPipeline failure, a rejection, a cancel): stages already
// running finish, pending ones never start.
func plan(stages []*StageState, halted bool) step {
	status := map[string]StageStatus{}
	for _, s := range stages {
		status[s.ID] = s.Status
	}
	var st step
	running, waiting := 0, 0
	for _, s := range stages {
		switch s.Status {
		case StageRunning:
			running++
		case StageWaiting:
			waiting++
		}
	}
	for _, s := range stages {
		if s.Status != StagePending {
			continue
		}
		if halted {
			if running+waiting == 0 {
				st.Skip = append(st.Skip, s.ID)
			}
			continue
		}
		ready, blocked := true, false
		for _, dep := range s.DependsOn {
			switch status[dep] {
			case StageSucceeded, StageFailedContinue:
			case StagePending, StageRunning, StageWaiting:
				ready = false
			default: // failed, canceled, rejected, skipped
				blocked = true
			}
		}
		switch {
		case blocked:
			st.Skip = append(st.Skip, s.ID)
			status[s.ID] = StageSkipped
		case ready:
			st.Start = append(st.Start, s.ID)
		}
	}
	// Skipping a stage can block stages after it; settle that in this step
	// so the end state is decided at once.
	for changed := true; changed && !halted; {
		changed = false
		for _, s := range stages {
			if status[s.ID] != StagePending || slices.Contains(st.Start, s.ID) {
				continue
			}
			for _, dep := range s.DependsOn {
				if status[dep] == StageSkipped {
					st.Skip = append(st.Skip, s.ID)
					status[s.ID] = StageSkipped
					changed = true
					break
				}
			}
		}
	}
	if len(st.Start) > 0 || running+waiting > 0 {
		st.Waiting = len(st.Start) == 0 && running == 0 && waiting > 0
		return st
	}
	for _, s := range stages {
		if slices.Contains(st.Skip, s.ID) {
			continue
		}
		if s.Status == StagePending {
			// Waiting on something that will never end: cannot happen
			// with a valid (acyclic) pipeline, but never hang on it.
			st.Skip = append(st.Skip, s.ID)
		}
	}
	st.Over = true
	st.Final = outcome(stages)
	return st
}

// outcome is the end state of an execution whose stages are all done.
func outcome(stages []*StageState) Status {
	// A rejection says most, then a failure (stages it halted show as
	// canceled), then a cancel.
	final := StatusSucceeded
	for _, s := range stages {
		switch s.Status {
		case StageRejected:
			return StatusRejected
		case StageFailed:
			final = StatusFailed
		case StageCanceled:
			if final == StatusSucceeded {
				final = StatusCanceled
			}
		}
	}
	return final
}

// failurePolicy is a stage's onFailure, defaulted.
func failurePolicy(s config.Stage) config.OnFailure {
	if s.OnFailure == "" {
		return config.HaltPipeline
	}
	return s.OnFailure
}
