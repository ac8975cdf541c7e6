package config

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestChatOpsPolicy(t *testing.T) {
	project := `apiVersion: slipway.dev/v1alpha1
kind: Project
metadata:
  name: cd-demo
spec:
  chatops:
    groups:
      release-managers: [alice]
    allow: [bob, "@release-managers"]
    environments:
      production: ["@release-managers"]
`
	repo, err := Load(fstest.MapFS{"projects/cd-demo.yaml": {Data: []byte(project)}})
	if err != nil {
		t.Fatal(err)
	}
	p := repo.Projects["cd-demo"].ChatOps
	for _, tc := range []struct {
		user, env string
		ok        bool
		why       string
	}{
		{"alice", "production", true, ""},
		{"Alice", "testing", true, ""},
		{"bob", "testing", true, ""},
		{"bob", "production", false, "production environment needs one of @release-managers"},
		{"carol", "testing", false, "carol is not in the project's chat-ops allow list"},
	} {
		ok, why := p.Allows(tc.user, tc.env)
		if ok != tc.ok || !strings.Contains(why, tc.why) {
			t.Errorf("Allows(%s, %s) = %v %q, want %v %q", tc.user, tc.env, ok, why, tc.ok, tc.why)
		}
	}

	bad := strings.Replace(project, `allow: [bob, "@release-managers"]`, `allow: [bob, "@admins"]`, 1)
	_, err = Load(fstest.MapFS{"projects/cd-demo.yaml": {Data: []byte(bad)}})
	if err == nil || !strings.Contains(err.Error(), `projects/cd-demo.yaml:9:18: spec.chatops.allow[1]: group "admins" is not defined`) {
		t.Fatalf("undefined group: %v", err)
	}
}
