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
