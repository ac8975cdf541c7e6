package automation

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/manifests"
)

const (
	repo = "127.0.0.1:5000/team/flaskapp"
	d1   = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2   = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func auto(mut func(*config.ImageAutomation)) config.ImageAutomation {
	a := config.ImageAutomation{Name: "web", Repository: repo, KustomizeName: repo, PinDigest: true, Write: config.WriteCommit}
	mut(&a)
	return a
}

func TestDecide(t *testing.T) {
	semver := auto(func(a *config.ImageAutomation) { a.Semver = ">=2 <3" })
	at := func(tag, digest string) *manifests.Image {
		return &manifests.Image{Name: repo, NewTag: tag, Digest: digest}
	}
	cases := map[string]struct {
		a       config.ImageAutomation
		current *manifests.Image
		push    Push
		bump    bool
		want    manifests.Image
	}{
		"semver in range":           {semver, at("v1", d1), Push{Repository: repo, Tag: "v2", Digest: d2}, true, manifests.Image{Name: repo, NewTag: "v2", Digest: d2}},
		"semver prerelease outside": {semver, at("v2", d1), Push{Repository: repo, Tag: "v3-rc1", Digest: d2}, false, manifests.Image{}},
		"semver above range":        {semver, at("v2", d1), Push{Repository: repo, Tag: "v3.0.0", Digest: d2}, false, manifests.Image{}},
		"semver older than current": {semver, at("v2.5.0", d1), Push{Repository: repo, Tag: "v2.1.0", Digest: d2}, false, manifests.Image{}},
		"semver same tag re-pushed": {semver, at("v2", d1), Push{Repository: repo, Tag: "v2", Digest: d2}, true, manifests.Image{Name: repo, NewTag: "v2", Digest: d2}},
		"already there":             {semver, at("v2", d2), Push{Repository: repo, Tag: "v2", Digest: d2}, false, manifests.Image{}},
		"not a version":             {semver, at("v2", d1), Push{Repository: repo, Tag: "latest", Digest: d2}, false, manifests.Image{}},
		"other repository":          {semver, at("v1", d1), Push{Repository: "127.0.0.1:5000/team/other", Tag: "v2", Digest: d2}, false, manifests.Image{}},
		"no entry yet":              {semver, nil, Push{Repository: repo, Tag: "v2", Digest: d2}, true, manifests.Image{Name: repo, NewTag: "v2", Digest: d2}},
		"exact tag": {auto(func(a *config.ImageAutomation) { a.Tag = "stable" }), at("stable", d1),
			Push{Repository: repo, Tag: "stable", Digest: d2}, true, manifests.Image{Name: repo, NewTag: "stable", Digest: d2}},
		"exact tag other": {auto(func(a *config.ImageAutomation) { a.Tag = "stable" }), at("stable", d1),
			Push{Repository: repo, Tag: "edge", Digest: d2}, false, manifests.Image{}},
		"regex match": {auto(func(a *config.ImageAutomation) { a.TagRegex = `^main-\d+$` }), at("main-1", d1),
			Push{Repository: repo, Tag: "main-2", Digest: d2}, true, manifests.Image{Name: repo, NewTag: "main-2", Digest: d2}},
		"regex miss": {auto(func(a *config.ImageAutomation) { a.TagRegex = `^main-\d+$` }), at("main-1", d1),
			Push{Repository: repo, Tag: "pr-7", Digest: d2}, false, manifests.Image{}},
		"newest without digest": {auto(func(a *config.ImageAutomation) { a.Newest, a.PinDigest = true, false }), at("a", ""),
			Push{Repository: repo, Tag: "b", Digest: d2}, true, manifests.Image{Name: repo, NewTag: "b"}},
		"kustomize name differs": {auto(func(a *config.ImageAutomation) { a.Newest, a.KustomizeName = true, "flaskapp" }), &manifests.Image{Name: "flaskapp", NewTag: "a"},
			Push{Repository: repo, Tag: "b", Digest: d2}, true, manifests.Image{Name: "flaskapp", NewName: repo, NewTag: "b", Digest: d2}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Decide(tc.a, tc.current, tc.push)
			if got.Bump != tc.bump {
				t.Fatalf("bump = %v (%s), want %v", got.Bump, got.Reason, tc.bump)
			}
			if got.Reason == "" {
				t.Error("no reason given")
			}
			if tc.bump {
				if diff := cmp.Diff(tc.want, got.Image); diff != "" {
					t.Errorf("image (-want +got):\n%s", diff)
				}
			}
		})
	}
}
