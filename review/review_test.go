package review

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/reconciler"
)

func repoWith(targets map[string]string) *config.Repo {
	r := &config.Repo{Applications: map[string]*config.Application{}}
	for ref, path := range targets {
		app, target, _ := strings.Cut(ref, "/")
		a := r.Applications[app]
		if a == nil {
			a = &config.Application{Name: app, Dir: "applications/" + app}
			r.Applications[app] = a
		}
		a.Targets = append(a.Targets, config.Target{Name: target, Path: path})
	}
	return r
}

func TestAffected(t *testing.T) {
	base := repoWith(map[string]string{"web/testing": "applications/web/testing", "web/prod": "applications/web/prod", "api/testing": "applications/api/testing"})
	head := repoWith(map[string]string{"web/testing": "applications/web/testing", "web/prod": "applications/web/prod", "api/testing": "applications/api/testing", "api/prod": "applications/api/prod"})
	for name, tc := range map[string]struct {
		changed []string
		want    []string
	}{
		"a manifest":          {[]string{"applications/web/prod/deployment.yaml"}, []string{"api/prod", "web/prod"}},
		"an application":      {[]string{"applications/web/application.yaml"}, []string{"api/prod", "web/prod", "web/testing"}},
		"an account":          {[]string{"accounts/local.yaml"}, []string{"api/prod", "api/testing", "web/prod", "web/testing"}},
		"a pipeline only":     {[]string{"applications/web/pipelines/deploy.yaml"}, []string{"api/prod"}},
		"a prefix, not a dir": {[]string{"applications/web/testing2/x.yaml"}, []string{"api/prod"}},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, ref := range affected(base, head, tc.changed) {
				got = append(got, ref.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("affected (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender(t *testing.T) {
	p := &PlanResult{Head: "0123456789abcdef", Targets: []TargetPlan{{
		Target: "web/testing", Account: "local",
		Plan: &reconciler.Plan{Objects: []reconciler.ObjectDiff{
			{Object: "Deployment/web/web", Action: reconciler.Configured, Fields: []reconciler.FieldDiff{{Path: "spec.replicas", Live: int64(2), Desired: int64(3)}}},
			{Object: "Service/web/web", Action: reconciler.Unchanged},
			{Object: "ConfigMap/web/old", Action: reconciler.Pruned},
			{Object: "ConfigMap/web/new", Action: reconciler.Created},
		}},
	}}}
	body := render(p, 65536)
	for _, want := range []string{Marker, "`0123456789ab`", "~ Deployment/web/web (changed)", "    spec.replicas: 2 → 3", "- ConfigMap/web/old (pruned)", "+ ConfigMap/web/new (created)", "1 other object(s) unchanged"} {
		if !strings.Contains(body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, body)
		}
	}
	if !strings.HasPrefix(body, Marker) {
		t.Error("the marker does not start the comment")
	}
	invalid := render(&PlanResult{Head: "abc", Invalid: config.ErrorList{{File: "applications/web/application.yaml", Line: 8, Column: 14, Field: "spec.targets[0].account", Msg: "account \"x\" not found"}}}, 65536)
	if !strings.Contains(invalid, "applications/web/application.yaml:8:14: spec.targets[0].account: account \"x\" not found") {
		t.Errorf("invalid config comment:\n%s", invalid)
	}

	// Within the forge's limit, cut at a line, never inside a rune.
	long := &PlanResult{Head: "abc"}
	for i := range 400 {
		long.Targets = append(long.Targets, TargetPlan{Target: "app/t" + strings.Repeat("é", i%7), Account: "a", Plan: p.Targets[0].Plan})
	}
	small := render(long, 4000)
	if len(small) > 4000 || !utf8.ValidString(small) || !strings.Contains(small, "slipway diff") {
		t.Errorf("truncated comment: %d bytes, valid UTF-8 %v, pointer %v", len(small), utf8.ValidString(small), strings.Contains(small, "slipway diff"))
	}
}
