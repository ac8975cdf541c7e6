// Package automation turns image pushes into commits: for every target whose
// image automation accepts a pushed tag, it sets the image in the target's
// kustomization and commits, so the reconciler deploys it. Deciding is pure
// (Decide); the Automator does the I/O.
package automation

import (
	"fmt"
	"regexp"

	"github.com/Masterminds/semver/v3"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/manifests"
)

// Push is one image pushed to a registry.
type Push struct {
	Repository string // host[:port]/path, as the automation's repository
	Tag        string
	Digest     string // sha256:…
	Source     string // what reported it, for the commit message: "distribution delivery 7f3a…"
}

// Decision is what an automation does with a push.
type Decision struct {
	Bump   bool
	Image  manifests.Image // the kustomization images: entry to write, when Bump
	Reason string          // why not, or what changes ("v1 → v2")
}

// Decide says whether a push moves an automated image, given the entry the
// kustomization has now (nil when it has none). It never fetches.
func Decide(a config.ImageAutomation, current *manifests.Image, p Push) Decision {
	if p.Repository != a.Repository {
		return Decision{Reason: fmt.Sprintf("repository %s is not %s", p.Repository, a.Repository)}
	}
	if p.Tag == "" {
		return Decision{Reason: "push without a tag"}
	}
	if ok, why := accepts(a, p.Tag); !ok {
		return Decision{Reason: why}
	}
	next := manifests.Image{Name: a.KustomizeName, NewTag: p.Tag}
	if a.KustomizeName != a.Repository {
		next.NewName = a.Repository
	}
	if a.PinDigest {
		next.Digest = p.Digest
	}
	var curTag, curDigest string
	if current != nil {
		curTag, curDigest = current.NewTag, current.Digest
		if current.NewName != next.NewName {
			curTag = "" // another image name: always rewrite
		}
	}
	if curTag == next.NewTag && curDigest == next.Digest {
		return Decision{Reason: fmt.Sprintf("already at %s", describe(next))}
	}
	if a.Semver != "" && curTag != "" && curTag != p.Tag {
		if cur, err := semver.NewVersion(curTag); err == nil {
			if v, _ := semver.NewVersion(p.Tag); !v.GreaterThan(cur) {
				return Decision{Reason: fmt.Sprintf("%s is not newer than %s", p.Tag, curTag)}
			}
		}
	}
	from := "(none)"
	if current != nil {
		from = describe(*current)
	}
	return Decision{Bump: true, Image: next, Reason: fmt.Sprintf("%s → %s", from, describe(next))}
}

// accepts applies the automation's tag policy.
func accepts(a config.ImageAutomation, tag string) (bool, string) {
	switch {
	case a.Tag != "":
		if tag != a.Tag {
			return false, fmt.Sprintf("tag %s is not %s", tag, a.Tag)
		}
	case a.TagRegex != "":
		re, err := regexp.Compile(a.TagRegex)
		if err != nil {
			return false, err.Error()
		}
		if !re.MatchString(tag) {
			return false, fmt.Sprintf("tag %s does not match %s", tag, a.TagRegex)
		}
	case a.Semver != "":
		c, err := semver.NewConstraint(a.Semver)
		if err != nil {
			return false, err.Error()
		}
		v, err := semver.NewVersion(tag)
		if err != nil {
			return false, fmt.Sprintf("tag %s is not a semantic version", tag)
		}
		if !c.Check(v) {
			return false, fmt.Sprintf("version %s is outside %s", tag, a.Semver)
		}
	case a.Newest:
	default:
		return false, "no policy"
	}
	return true, ""
}

func describe(img manifests.Image) string {
	s := img.NewTag
	if s == "" {
		s = "(no tag)"
	}
	if img.Digest != "" {
		d := img.Digest
		if len(d) > 19 {
			d = d[:19]
		}
		s += "@" + d
	}
	return s
}
