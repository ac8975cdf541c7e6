package reconciler

import "testing"

func TestToward(t *testing.T) {
	// History: a ← b ← c (c is the newest).
	contains := func(rev, ancestor string) (bool, error) {
		order := map[string]int{"a": 0, "b": 1, "c": 2}
		return order[rev] >= order[ancestor], nil
	}
	for name, tc := range map[string]struct {
		st   TargetStatus
		want Standing
	}{
		"synced at it":                {TargetStatus{Phase: PhaseSynced, SyncedRevision: "b"}, Reached},
		"synced at a later revision":  {TargetStatus{Phase: PhaseSynced, SyncedRevision: "c"}, Reached},
		"synced at an older revision": {TargetStatus{Phase: PhaseSynced, SyncedRevision: "a"}, Behind},
		"never synced":                {TargetStatus{Phase: PhaseSynced}, Behind},
		"syncing":                     {TargetStatus{Phase: PhaseSyncing, SyncedRevision: "a", DesiredRevision: "b"}, Behind},
		"its sync failed":             {TargetStatus{Phase: PhaseFailed, DesiredRevision: "b"}, SyncFailed},
		"an older sync failed":        {TargetStatus{Phase: PhaseFailed, DesiredRevision: "a"}, Behind},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := tc.st.Toward("b", contains)
			if err != nil || got != tc.want {
				t.Errorf("Toward = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
