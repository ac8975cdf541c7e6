package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/manifests"
)

// This file holds the pure decisions about an execution's inputs: which
// expected artifact an image satisfies, where each bound artifact comes
// from, and the parameters' values. None of it does I/O.

// image is an image reference split into its parts.
type image struct {
	Repository, Tag, Digest string
}

func parseImage(ref string) (image, error) {
	name, tag, digest, err := manifests.ParseImageRef(ref)
	if err != nil {
		return image{}, err
	}
	if tag == "" && digest == "" {
		return image{}, fmt.Errorf("image %q has neither tag nor digest", ref)
	}
	return image{Repository: name, Tag: tag, Digest: digest}, nil
}

// Reference formats the image as repo:tag@digest, leaving out what is unknown.
func (i image) Reference() string {
	s := i.Repository
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// matches says whether an image satisfies an expected artifact's match
// rule, and why not when it does not.
func matches(ea config.ExpectedArtifact, img image) (bool, string) {
	if img.Repository != ea.Repository {
		return false, fmt.Sprintf("repository %s is not %s", img.Repository, ea.Repository)
	}
	switch {
	case ea.Tag != "":
		if img.Tag != ea.Tag {
			return false, fmt.Sprintf("tag %q is not %q", img.Tag, ea.Tag)
		}
	case ea.TagRegex != "":
		re, err := regexp.Compile(ea.TagRegex)
		if err != nil {
			return false, err.Error()
		}
		if !re.MatchString(img.Tag) {
			return false, fmt.Sprintf("tag %q does not match %s", img.Tag, ea.TagRegex)
		}
	case ea.Semver != "":
		c, err := semver.NewConstraint(ea.Semver)
		if err != nil {
			return false, err.Error()
		}
		v, err := semver.NewVersion(img.Tag)
		if err != nil {
			return false, fmt.Sprintf("tag %q is not a semantic version", img.Tag)
		}
		if !c.Check(v) {
			return false, fmt.Sprintf("tag %s is not in %s", img.Tag, ea.Semver)
		}
	case ea.Digest != "":
		if img.Digest != ea.Digest {
			return false, fmt.Sprintf("digest %s is not %s", img.Digest, ea.Digest)
		}
	}
	return true, ""
}

func bind(ea config.ExpectedArtifact, img image, from string) Artifact {
	return Artifact{
		ID: ea.ID, Type: ea.Type, Reference: img.Reference(),
		Repository: img.Repository, Tag: img.Tag, Digest: img.Digest, From: from,
	}
}

// requiredArtifacts are the expected artifacts some stage binds: without
// them the execution cannot do its work, so it must not start.
func requiredArtifacts(def *config.Pipeline) map[string]bool {
	req := map[string]bool{}
	for _, s := range def.Stages {
		for _, id := range s.Artifacts {
			req[id] = true
		}
	}
	return req
}

// resolveArtifacts binds every expected artifact it can: from the images
// the trigger or request brought (given), else from the prior execution
// when the artifact says usePriorExecution, else from its default. It
// returns the bindings in the pipeline's order, and a reason when a
// required artifact stays unbound.
func resolveArtifacts(def *config.Pipeline, given []Artifact, prior func(id string) (Artifact, bool)) ([]Artifact, string) {
	byID := map[string]Artifact{}
	for _, a := range given {
		byID[a.ID] = a
	}
	required := requiredArtifacts(def)
	var out []Artifact
	var missing []string
	for _, ea := range def.ExpectedArtifacts {
		if a, ok := byID[ea.ID]; ok {
			out = append(out, a)
			continue
		}
		if ea.UsePriorExecution && prior != nil {
			if a, ok := prior(ea.ID); ok {
				a.From = "prior"
				out = append(out, a)
				continue
			}
		}
		if ea.Default != "" {
			if img, err := parseImage(ea.Default); err == nil {
				out = append(out, bind(ea, img, "default"))
				continue
			}
		}
		if required[ea.ID] {
			how := "the trigger brought none"
			if ea.UsePriorExecution {
				how += ", no prior execution bound one"
			}
			missing = append(missing, fmt.Sprintf("expected artifact %s (%s) is required: %s and it has no default", ea.ID, describeRule(ea), how))
		}
	}
	if len(missing) > 0 {
		return out, strings.Join(missing, "; ")
	}
	return out, ""
}

// describeRule says in words what an expected artifact accepts.
func describeRule(ea config.ExpectedArtifact) string {
	switch {
	case ea.Tag != "":
		return ea.Repository + ":" + ea.Tag
	case ea.TagRegex != "":
		return ea.Repository + " with a tag matching " + ea.TagRegex
	case ea.Semver != "":
		return ea.Repository + " with a tag in " + ea.Semver
	case ea.Digest != "":
		return ea.Repository + "@" + ea.Digest
	}
	return ea.Repository
}

// requestArtifacts binds the image references of a release order to the
// expected artifacts they match; a reference that matches none is the
// caller's mistake.
func requestArtifacts(def *config.Pipeline, refs []string) ([]Artifact, error) {
	var out []Artifact
	for i, ref := range refs {
		field := fmt.Sprintf("artifacts[%d]", i)
		img, err := parseImage(ref)
		if err != nil {
			return nil, &FieldError{Field: field, Msg: err.Error()}
		}
		var why []string
		bound := false
		for _, ea := range def.ExpectedArtifacts {
			if ok, reason := matches(ea, img); ok {
				if slices.ContainsFunc(out, func(a Artifact) bool { return a.ID == ea.ID }) {
					return nil, &FieldError{Field: field, Msg: fmt.Sprintf("expected artifact %s is already bound by an earlier reference", ea.ID)}
				}
				out = append(out, bind(ea, img, "request"))
				bound = true
				break
			} else {
				why = append(why, ea.ID+": "+reason)
			}
		}
		if !bound {
			if len(def.ExpectedArtifacts) == 0 {
				return nil, &FieldError{Field: field, Msg: fmt.Sprintf("pipeline %s expects no artifacts", def.Name)}
			}
			return nil, &FieldError{Field: field, Msg: fmt.Sprintf("%s matches no expected artifact (%s)", ref, strings.Join(why, "; "))}
		}
	}
	return out, nil
}

// resolveParameters fills in defaults and checks a request's parameters.
func resolveParameters(def *config.Pipeline, given map[string]string) (map[string]string, error) {
	out := map[string]string{}
	declared := map[string]config.Parameter{}
	for _, p := range def.Parameters {
		declared[p.Name] = p
	}
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := declared[k]; !ok {
			names := make([]string, 0, len(declared))
			for _, p := range def.Parameters {
				names = append(names, p.Name)
			}
			known := "it declares none"
			if len(names) > 0 {
				known = "known: " + strings.Join(names, ", ")
			}
			return nil, &FieldError{Field: "parameters." + k, Msg: fmt.Sprintf("pipeline %s has no parameter %q (%s)", def.Name, k, known)}
		}
	}
	for _, p := range def.Parameters {
		v, ok := given[p.Name]
		if !ok || v == "" {
			v = p.Default
		}
		if v == "" && p.Required {
			return nil, &FieldError{Field: "parameters." + p.Name, Msg: "required"}
		}
		if v != "" && len(p.Options) > 0 && !slices.Contains(p.Options, v) {
			return nil, &FieldError{Field: "parameters." + p.Name, Msg: fmt.Sprintf("%q is not one of %s", v, strings.Join(p.Options, ", "))}
		}
		out[p.Name] = v
	}
	return out, nil
}
