package manifests

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// Image is one entry of a kustomization's images: list: containers whose
// image is Name get NewName (if set) and NewTag and/or Digest.
type Image struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// imageFields are the images: entry fields SetImage owns, in the order it
// writes new ones. tagSuffix is only ever removed: an entry SetImage
// replaces says exactly which tag and digest to run.
var imageFields = []string{"newName", "newTag", "digest", "tagSuffix"}

func (img Image) field(name string) string {
	switch name {
	case "newName":
		return img.NewName
	case "newTag":
		return img.NewTag
	case "digest":
		return img.Digest
	}
	return ""
}

// SetImage sets the images: entry named img.Name in a kustomization file to
// img, adding it (and the images: list) if missing, and returns the new
// file. Everything else — comments (including ones on the changed lines),
// key order, sequence indentation — is kept. changed is false, and out is
// kustomization unchanged, when the entry already says the same thing.
// This is how an image bump ("repo:tag@digest") becomes a commit.
func SetImage(kustomization []byte, img Image) (out []byte, changed bool, err error) {
	if img.Name == "" {
		return nil, false, errors.New("set image: name is empty")
	}
	doc, err := kyaml.Parse(string(kustomization))
	if err != nil {
		return nil, false, fmt.Errorf("set image: kustomization: %w", err)
	}
	if doc.YNode().Kind != kyaml.MappingNode {
		return nil, false, errors.New("set image: kustomization is not a mapping")
	}
	if f := doc.Field("images"); f != nil && f.Value.IsTaggedNull() {
		// "images:" with no value: make it an empty list where it is.
		f.Value.SetYNode(&kyaml.Node{Kind: kyaml.SequenceNode, Tag: kyaml.NodeTagSeq})
	}
	images, err := doc.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "images"))
	if err != nil {
		return nil, false, fmt.Errorf("set image: images: %w", err)
	}
	if images.YNode().Kind != kyaml.SequenceNode {
		return nil, false, errors.New("set image: images: is not a list")
	}
	entries, err := images.Elements()
	if err != nil {
		return nil, false, fmt.Errorf("set image: images: %w", err)
	}
	var entry *kyaml.RNode
	for _, e := range entries {
		if n := e.Field("name"); n != nil && n.Value.YNode().Value == img.Name {
			entry = e
			break
		}
	}
	if entry == nil {
		entry = kyaml.NewRNode(&kyaml.Node{Kind: kyaml.MappingNode})
		if err := entry.PipeE(kyaml.SetField("name", kyaml.NewStringRNode(img.Name))); err != nil {
			return nil, false, fmt.Errorf("set image: %w", err)
		}
		if len(images.YNode().Content) == 0 {
			images.YNode().Style = 0 // "images: []" becomes a block list
		}
		if err := images.PipeE(kyaml.Append(entry.YNode())); err != nil {
			return nil, false, fmt.Errorf("set image: %w", err)
		}
		changed = true
	}
	for _, name := range imageFields {
		want := img.field(name)
		f := entry.Field(name)
		switch {
		case f == nil && want == "":
		case f == nil:
			if err := entry.PipeE(kyaml.SetField(name, kyaml.NewStringRNode(want))); err != nil {
				return nil, false, fmt.Errorf("set image: %s: %w", name, err)
			}
			changed = true
		case want == "":
			if _, err := entry.Pipe(kyaml.Clear(name)); err != nil {
				return nil, false, fmt.Errorf("set image: %s: %w", name, err)
			}
			changed = true
		case f.Value.YNode().Value != want:
			// Edit the scalar in place so its line comment (e.g. an image
			// policy marker) stays; tag it a string so "1.10" is quoted.
			n := f.Value.YNode()
			n.Value, n.Tag = want, kyaml.NodeTagString
			if n.Style&(kyaml.LiteralStyle|kyaml.FoldedStyle) != 0 {
				n.Style = 0
			}
			changed = true
		}
	}
	if !changed {
		return kustomization, false, nil
	}
	style := kyaml.SequenceIndentStyle(kyaml.DeriveSeqIndentStyle(string(kustomization)))
	out, err = kyaml.MarshalWithOptions(doc.Document(), &kyaml.EncoderOptions{SeqIndent: style})
	if err != nil {
		return nil, false, fmt.Errorf("set image: %w", err)
	}
	return out, true, nil
}

// ReadKustomizationImages returns the images: entries of a kustomization
// file, in file order.
func ReadKustomizationImages(kustomization []byte) ([]Image, error) {
	var k struct {
		Images []Image `json:"images"`
	}
	if err := sigsyaml.Unmarshal(kustomization, &k); err != nil {
		return nil, fmt.Errorf("kustomization images: %w", err)
	}
	return k.Images, nil
}

// The image reference grammar of distribution/reference, without IPv6
// literals: [domain[:port]/]path[:tag][@digest].
var (
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	pathComponent   = `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
	nameRE          = regexp.MustCompile(`^(?:` + domainComponent + `(?:\.` + domainComponent + `)*(?::[0-9]+)?/)?` +
		pathComponent + `(?:/` + pathComponent + `)*$`)
	tagRE    = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$`)
)

// ParseImageRef splits an image reference such as
// "127.0.0.1:5000/team/app:v2@sha256:…" into its name
// ("127.0.0.1:5000/team/app"), tag ("v2") and digest ("sha256:…"); tag and
// digest may be empty. A registry port is never taken for a tag. The name
// is returned as written (no docker.io/library/ added): kustomize matches
// images: entries against names as they appear in manifests.
func ParseImageRef(ref string) (name, tag, digest string, err error) {
	rest := ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest, digest = rest[:i], rest[i+1:]
		if !digestRE.MatchString(digest) {
			return "", "", "", fmt.Errorf("image %q: invalid digest %q", ref, digest)
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, tag = rest[:i], rest[i+1:]
		if !tagRE.MatchString(tag) {
			return "", "", "", fmt.Errorf("image %q: invalid tag %q", ref, tag)
		}
	}
	if !nameRE.MatchString(rest) {
		return "", "", "", fmt.Errorf("image %q: invalid name %q", ref, rest)
	}
	return rest, tag, digest, nil
}
