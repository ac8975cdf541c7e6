package config

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const imagesYAML = `    images:
    - name: web
      repository: 127.0.0.1:5000/team/flaskapp
      policy:
        semver: ">=2 <3"
    - name: sidecar
      repository: registry.example/tools/proxy
      kustomizeName: proxy
      digest: none
      write: pullRequest
      poll: 1m
      policy:
        tagRegex: ^v\d+$
`

func TestImageAutomation(t *testing.T) {
	repo, err := Load(mapFS(with(map[string]string{appFile: appYAML + imagesYAML})))
	if err != nil {
		t.Fatal(err)
	}
	_, target, _ := repo.Target("flaskapp", "testing")
	for i := range target.Images {
		target.Images[i].Source = Source{}
	}
	want := []ImageAutomation{
		{Name: "web", Repository: "127.0.0.1:5000/team/flaskapp", KustomizeName: "127.0.0.1:5000/team/flaskapp",
			Semver: ">=2 <3", PinDigest: true, Write: WriteCommit},
		{Name: "sidecar", Repository: "registry.example/tools/proxy", KustomizeName: "proxy",
			TagRegex: `^v\d+$`, PinDigest: false, Write: WritePullRequest, Poll: time.Minute},
	}
	if diff := cmp.Diff(want, target.Images); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

func TestImageAutomationErrors(t *testing.T) {
	base := "    images:\n    - name: web\n      repository: %s\n      policy:\n%s"
	cases := map[string]struct {
		repository, policy, extra string
		want                      string
	}{
		"no policy":           {"reg/app", "        {}\n", "", "spec.targets[0].images[0].policy: set exactly one of tag, tagRegex, semver or newest (found 0)"},
		"two policies":        {"reg/app", "        tag: v1\n        newest: true\n", "", "spec.targets[0].images[0].policy: set exactly one"},
		"bad semver":          {"reg/app", "        semver: \">=banana\"\n", "", "spec.targets[0].images[0].policy.semver: not a semantic version range"},
		"bad regex":           {"reg/app", "        tagRegex: \"v(\"\n", "", "spec.targets[0].images[0].policy.tagRegex: not a regular expression"},
		"tag in repo":         {"reg/app:v1", "        newest: true\n", "", "spec.targets[0].images[0].repository: must be a repository without tag or digest"},
		"upper case repo":     {"Reg/App", "        newest: true\n", "", "spec.targets[0].images[0].repository: must be a repository"},
		"bad write":           {"reg/app", "        newest: true\n", "      write: email\n", "spec.targets[0].images[0].write: must be \"commit\" or \"pullRequest\""},
		"bad digest":          {"reg/app", "        newest: true\n", "      digest: maybe\n", "spec.targets[0].images[0].digest: must be \"pin\" or \"none\""},
		"unknown key":         {"reg/app", "        newest: true\n", "      tags: [v1]\n", "spec.targets[0].images[0].tags: unknown field"},
		"port is fine":        {"127.0.0.1:5000/app", "        newest: true\n", "", ""},
		"missing repo key":    {"\"\"", "        newest: true\n", "", "spec.targets[0].images[0].repository: required"},
		"poll is fine":        {"reg/app", "        newest: true\n", "      poll: 90s\n", ""},
		"poll too often":      {"reg/app", "        newest: true\n", "      poll: 1s\n", "spec.targets[0].images[0].poll: must be at least 5s, got 1s"},
		"poll zero":           {"reg/app", "        newest: true\n", "      poll: 0s\n", "spec.targets[0].images[0].poll: must be at least 5s, got 0s"},
		"poll no unit":        {"reg/app", "        newest: true\n", "      poll: 30\n", "spec.targets[0].images[0].poll: must be a duration with a unit, such as 30s or 1m"},
		"poll not a duration": {"reg/app", "        newest: true\n", "      poll: hourly\n", "spec.targets[0].images[0].poll: must be a duration such as 30s or 1m, got \"hourly\""},
		"poll a list":         {"reg/app", "        newest: true\n", "      poll: [1m]\n", "spec.targets[0].images[0].poll: must be a duration such as 30s or 1m, not a list"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			y := appYAML + fmt.Sprintf(base, tc.repository, tc.policy) + tc.extra
			errs := Validate(mapFS(with(map[string]string{appFile: y})))
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
			}
			got := errs[0].Field + ": " + errs[0].Msg
			if len(got) < len(tc.want) || got[:len(tc.want)] != tc.want || errs[0].Line == 0 {
				t.Errorf("error = %s (line %d), want prefix %q", errs[0], errs[0].Line, tc.want)
			}
		})
	}
}
