package reconciler

import "testing"

func TestTouchesConfig(t *testing.T) {
	cases := map[string]struct {
		changed []string
		want    bool
	}{
		"nothing":             {nil, false},
		"a manifest":          {[]string{"applications/web/prod/deployment.yaml"}, false},
		"a shared base":       {[]string{"bases/web/deployment.yaml"}, false},
		"an application file": {[]string{"applications/web/prod/x.yaml", "applications/web/application.yaml"}, true},
		"an account":          {[]string{"accounts/local.yaml"}, true},
		"a project":           {[]string{"projects/demo.yaml"}, true},
		"a pipeline":          {[]string{"applications/web/pipelines/deploy.yaml"}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := touchesConfig(tc.changed); got != tc.want {
				t.Errorf("touchesConfig(%v) = %v, want %v", tc.changed, got, tc.want)
			}
		})
	}
}

// A newer revision cancels a sync in flight for an older one; the same
// revision does not.
func TestEnqueueSupersedes(t *testing.T) {
	r := New(Options{})
	defer r.queue.ShutDown()
	st := r.state("web/prod")
	cancelled := 0
	st.cancel, st.syncRev = func() { cancelled++ }, "rev-1"

	r.enqueue("web/prod", "rev-1")
	if cancelled != 0 {
		t.Errorf("re-queuing the revision being synced cancelled it")
	}
	r.enqueue("web/prod", "rev-2")
	if cancelled != 1 {
		t.Errorf("a newer revision did not cancel the sync in flight (cancelled %d times)", cancelled)
	}
	if r.queue.Len() != 1 {
		t.Errorf("queue holds %d items, want the target once", r.queue.Len())
	}
}
