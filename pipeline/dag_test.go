package pipeline

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPlan(t *testing.T) {
	type st = map[string]StageStatus
	// The pipeline: a → b, a → c, (b, c) → d.
	deps := map[string][]string{"a": {}, "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
	for name, tc := range map[string]struct {
		status st
		halted bool
		want   step
	}{
		"fresh: the root starts": {
			status: st{"a": StagePending, "b": StagePending, "c": StagePending, "d": StagePending},
			want:   step{Start: []string{"a"}},
		},
		"fan out after the root": {
			status: st{"a": StageSucceeded, "b": StagePending, "c": StagePending, "d": StagePending},
			want:   step{Start: []string{"b", "c"}},
		},
		"join waits for both": {
			status: st{"a": StageSucceeded, "b": StageSucceeded, "c": StageRunning, "d": StagePending},
			want:   step{},
		},
		"an ignored failure lets the join run": {
			status: st{"a": StageSucceeded, "b": StageSucceeded, "c": StageFailedContinue, "d": StagePending},
			want:   step{Start: []string{"d"}},
		},
		"a failed branch skips what depends on it and fails the execution": {
			status: st{"a": StageSucceeded, "b": StageFailed, "c": StageSucceeded, "d": StagePending},
			want:   step{Skip: []string{"d"}, Over: true, Final: StatusFailed},
		},
		"a failed root skips everything after it": {
			status: st{"a": StageFailed, "b": StagePending, "c": StagePending, "d": StagePending},
			want:   step{Skip: []string{"b", "c", "d"}, Over: true, Final: StatusFailed},
		},
		"only a judgment runs: waiting": {
			status: st{"a": StageWaiting, "b": StagePending, "c": StagePending, "d": StagePending},
			want:   step{Waiting: true},
		},
		"rejected wins over everything": {
			status: st{"a": StageSucceeded, "b": StageRejected, "c": StageCanceled, "d": StagePending},
			halted: true,
			want:   step{Skip: []string{"d"}, Over: true, Final: StatusRejected},
		},
		"halted: running stages finish, nothing new starts": {
			status: st{"a": StageSucceeded, "b": StageFailed, "c": StageRunning, "d": StagePending},
			halted: true,
			want:   step{},
		},
		"halted and idle: the rest is skipped": {
			status: st{"a": StageSucceeded, "b": StageFailed, "c": StageCanceled, "d": StagePending},
			halted: true,
			want:   step{Skip: []string{"d"}, Over: true, Final: StatusFailed},
		},
		"all done": {
			status: st{"a": StageSucceeded, "b": StageSucceeded, "c": StageSucceeded, "d": StageSucceeded},
			want:   step{Over: true, Final: StatusSucceeded},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var stages []*StageState
			for _, id := range []string{"a", "b", "c", "d"} {
				stages = append(stages, &StageState{ID: id, DependsOn: deps[id], Status: tc.status[id]})
			}
			got := plan(stages, tc.halted)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
