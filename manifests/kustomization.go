package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// The edits below are the other parts of a target's directory a pipeline
// stage writes back to the config repo: which files a kustomization lists,
// how many replicas it asks for, an inline patch per object, and removing
// an object from a plain manifest file. Like SetImage they edit the parsed
// YAML in place, so comments, key order and sequence indentation survive a
// commit, and they return the input unchanged (changed false) when there is
// nothing to do, so a retried stage commits nothing.

// AddResource appends file to the resources: list of a kustomization file,
// creating the list if missing, unless it is already listed ("./a.yaml"
// and "a.yaml" are the same entry).
func AddResource(kustomization []byte, file string) (out []byte, changed bool, err error) {
	const op = "add resource"
	if strings.TrimSpace(file) == "" {
		return nil, false, errors.New(op + ": file is empty")
	}
	doc, err := parseKustomization(op, kustomization)
	if err != nil {
		return nil, false, err
	}
	resources, err := listField(op, doc, "resources", true)
	if err != nil {
		return nil, false, err
	}
	for _, e := range resources.Content() {
		if e.Kind == kyaml.ScalarNode && sameResource(e.Value, file) {
			return kustomization, false, nil
		}
	}
	if len(resources.Content()) == 0 {
		resources.YNode().Style = 0 // "resources: []" becomes a block list
	}
	if err := resources.PipeE(kyaml.Append(kyaml.NewStringRNode(file).YNode())); err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	return marshalKustomization(op, doc, kustomization)
}

// RemoveResource removes file from the resources: list of a kustomization
// file (every entry naming it, in the sense of AddResource). It is a no-op
// when file is not listed; an emptied list stays, as "resources: []".
func RemoveResource(kustomization []byte, file string) (out []byte, changed bool, err error) {
	const op = "remove resource"
	if strings.TrimSpace(file) == "" {
		return nil, false, errors.New(op + ": file is empty")
	}
	doc, err := parseKustomization(op, kustomization)
	if err != nil {
		return nil, false, err
	}
	resources, err := listField(op, doc, "resources", false)
	if err != nil || resources == nil {
		return kustomization, false, err
	}
	seq := resources.YNode()
	kept := seq.Content[:0:0]
	for _, e := range seq.Content {
		if e.Kind == kyaml.ScalarNode && sameResource(e.Value, file) {
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == len(seq.Content) {
		return kustomization, false, nil
	}
	seq.Content = kept
	return marshalKustomization(op, doc, kustomization)
}

// sameResource reports whether two resources: entries name the same file or
// directory. Remote entries (URLs) are compared as written: cleaning would
// mangle them.
func sameResource(a, b string) bool {
	if a == b {
		return true
	}
	if strings.Contains(a, "://") || strings.Contains(b, "://") {
		return false
	}
	return path.Clean(a) == path.Clean(b)
}

// SetReplicas sets the count of the replicas: entry named name (kustomize's
// "- name: web\n  count: 3", which overrides the replicas of the workload of
// that name) to count, adding the entry, and the list, if missing. A count
// written as a string is rewritten as a number, since kustomize refuses it.
func SetReplicas(kustomization []byte, name string, count int) (out []byte, changed bool, err error) {
	const op = "set replicas"
	switch {
	case name == "":
		return nil, false, errors.New(op + ": name is empty")
	case count < 0:
		return nil, false, fmt.Errorf("%s: %s: negative count %d", op, name, count)
	}
	doc, err := parseKustomization(op, kustomization)
	if err != nil {
		return nil, false, err
	}
	replicas, err := listField(op, doc, "replicas", true)
	if err != nil {
		return nil, false, err
	}
	want := strconv.Itoa(count)
	entry := findEntry(replicas, func(e *kyaml.RNode) bool {
		n := e.Field("name")
		return n != nil && n.Value.YNode().Value == name
	})
	if entry == nil {
		entry = kyaml.NewRNode(&kyaml.Node{Kind: kyaml.MappingNode})
		if err := entry.PipeE(kyaml.SetField("name", kyaml.NewStringRNode(name))); err != nil {
			return nil, false, fmt.Errorf("%s: %w", op, err)
		}
		if len(replicas.Content()) == 0 {
			replicas.YNode().Style = 0
		}
		if err := replicas.PipeE(kyaml.Append(entry.YNode())); err != nil {
			return nil, false, fmt.Errorf("%s: %w", op, err)
		}
	}
	f := entry.Field("count")
	if f == nil {
		n := &kyaml.Node{Kind: kyaml.ScalarNode, Tag: kyaml.NodeTagInt, Value: want}
		if err := entry.PipeE(kyaml.SetField("count", kyaml.NewRNode(n))); err != nil {
			return nil, false, fmt.Errorf("%s: %s: %w", op, name, err)
		}
		return marshalKustomization(op, doc, kustomization)
	}
	n := f.Value.YNode()
	if n.Kind == kyaml.ScalarNode && n.ShortTag() == kyaml.NodeTagInt && n.Value == want {
		return kustomization, false, nil
	}
	// Edit the scalar in place so its line comment stays.
	n.Kind, n.Tag, n.Value, n.Style, n.Content = kyaml.ScalarNode, kyaml.NodeTagInt, want, 0, nil
	return marshalKustomization(op, doc, kustomization)
}

// SetPatch sets the inline patch of the patches: entry whose target is
// exactly {kind: kind, name: name} (no group, version, namespace or
// selectors) to patch, written as a literal block scalar; the entry, and the
// list, are added when missing. patch is a strategic merge patch or a JSON
// 6902 patch, as kustomize accepts in patches:. A path: on that entry is
// dropped, since kustomize refuses an entry with both.
func SetPatch(kustomization []byte, kind, name, patch string) (out []byte, changed bool, err error) {
	const op = "set patch"
	switch {
	case kind == "" || name == "":
		return nil, false, errors.New(op + ": kind and name are required")
	case strings.TrimSpace(patch) == "":
		return nil, false, fmt.Errorf("%s: %s/%s: patch is empty", op, kind, name)
	}
	doc, err := parseKustomization(op, kustomization)
	if err != nil {
		return nil, false, err
	}
	patches, err := listField(op, doc, "patches", true)
	if err != nil {
		return nil, false, err
	}
	entry := findEntry(patches, func(e *kyaml.RNode) bool { return isTarget(e.Field("target"), kind, name) })
	if entry == nil {
		target := kyaml.NewRNode(&kyaml.Node{Kind: kyaml.MappingNode})
		entry = kyaml.NewRNode(&kyaml.Node{Kind: kyaml.MappingNode})
		for _, err := range []error{
			target.PipeE(kyaml.SetField("kind", kyaml.NewStringRNode(kind))),
			target.PipeE(kyaml.SetField("name", kyaml.NewStringRNode(name))),
			entry.PipeE(kyaml.SetField("target", target)),
		} {
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w", op, err)
			}
		}
		if len(patches.Content()) == 0 {
			patches.YNode().Style = 0
		}
		if err := patches.PipeE(kyaml.Append(entry.YNode())); err != nil {
			return nil, false, fmt.Errorf("%s: %w", op, err)
		}
	}
	if entry.Field("path") != nil {
		if _, err := entry.Pipe(kyaml.Clear("path")); err != nil {
			return nil, false, fmt.Errorf("%s: %s/%s: path: %w", op, kind, name, err)
		}
		changed = true
	}
	f := entry.Field("patch")
	switch {
	case f == nil:
		n := &kyaml.Node{Kind: kyaml.ScalarNode, Tag: kyaml.NodeTagString, Style: kyaml.LiteralStyle, Value: patch}
		if err := entry.PipeE(kyaml.SetField("patch", kyaml.NewRNode(n))); err != nil {
			return nil, false, fmt.Errorf("%s: %s/%s: %w", op, kind, name, err)
		}
	case f.Value.YNode().Kind == kyaml.ScalarNode && f.Value.YNode().Value == patch:
		if !changed {
			return kustomization, false, nil
		}
	default:
		n := f.Value.YNode()
		n.Kind, n.Tag, n.Value, n.Style, n.Content = kyaml.ScalarNode, kyaml.NodeTagString, patch, kyaml.LiteralStyle, nil
	}
	return marshalKustomization(op, doc, kustomization)
}

// isTarget reports whether a patches: entry's target field selects exactly
// the object kind/name and nothing more.
func isTarget(target *kyaml.MapNode, kind, name string) bool {
	if target == nil || target.Value.YNode().Kind != kyaml.MappingNode {
		return false
	}
	fields := target.Value.YNode().Content
	if len(fields) != 4 {
		return false
	}
	k, n := target.Value.Field("kind"), target.Value.Field("name")
	return k != nil && n != nil && k.Value.YNode().Value == kind && n.Value.YNode().Value == name
}

// findEntry returns the first mapping element of list that match accepts.
func findEntry(list *kyaml.RNode, match func(*kyaml.RNode) bool) *kyaml.RNode {
	for _, e := range list.Content() {
		if e.Kind != kyaml.MappingNode {
			continue
		}
		if rn := kyaml.NewRNode(e); match(rn) {
			return rn
		}
	}
	return nil
}

// parseKustomization parses a kustomization file, which must be a mapping.
func parseKustomization(op string, kustomization []byte) (*kyaml.RNode, error) {
	doc, err := kyaml.Parse(string(kustomization))
	if err != nil {
		return nil, fmt.Errorf("%s: kustomization: %w", op, err)
	}
	if doc.YNode().Kind != kyaml.MappingNode {
		return nil, errors.New(op + ": kustomization is not a mapping")
	}
	return doc, nil
}

// listField returns the list under field of doc, creating it (with create)
// when missing or written without a value ("resources:"); without create a
// missing field is nil. A field that is not a list is an error.
func listField(op string, doc *kyaml.RNode, field string, create bool) (*kyaml.RNode, error) {
	f := doc.Field(field)
	if f != nil && f.Value.IsTaggedNull() {
		if !create {
			return nil, nil
		}
		// "field:" with no value: make it an empty list where it is.
		f.Value.SetYNode(&kyaml.Node{Kind: kyaml.SequenceNode, Tag: kyaml.NodeTagSeq})
	}
	if f == nil && !create {
		return nil, nil
	}
	list, err := doc.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, field))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", op, field, err)
	}
	if list.YNode().Kind != kyaml.SequenceNode {
		return nil, fmt.Errorf("%s: %s: is not a list", op, field)
	}
	return list, nil
}

// marshalKustomization writes doc back in the sequence indentation style of
// the original file.
func marshalKustomization(op string, doc *kyaml.RNode, orig []byte) ([]byte, bool, error) {
	style := kyaml.SequenceIndentStyle(kyaml.DeriveSeqIndentStyle(string(orig)))
	out, err := kyaml.MarshalWithOptions(doc.Document(), &kyaml.EncoderOptions{SeqIndent: style})
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	return out, true, nil
}

// RemoveObject removes from a (multi-document) manifest file every document
// declaring kind/name (its kind and metadata.name; a FooList's items are
// not looked into). removed says whether any was; empty says that no
// document with content is left, so the caller should delete the file
// rather than commit one without objects.
//
// The other documents keep their bytes: the file is cut at its "---" lines
// and only the removed documents' pieces (each with the "---" line before
// it, and the comments inside it) are dropped. If the cut does not line up
// with what a YAML parser reads, the remaining documents are re-marshalled
// instead, which keeps comments but not every layout detail.
func RemoveObject(manifest []byte, kind, name string) (out []byte, removed bool, empty bool, err error) {
	const op = "remove object"
	if kind == "" || name == "" {
		return nil, false, false, errors.New(op + ": kind and name are required")
	}
	docs, err := decodeDocuments(manifest)
	if err != nil {
		return nil, false, false, fmt.Errorf("%s: %w", op, err)
	}
	var kept []*kyaml.Node
	for _, d := range docs {
		if declares(d, kind, name) {
			removed = true
			continue
		}
		kept = append(kept, d)
	}
	empty = !hasContent(kept)
	if !removed {
		return manifest, false, empty, nil
	}
	if out, ok := removeByPieces(manifest, docs, kind, name); ok {
		return out, true, empty, nil
	}
	style := kyaml.SequenceIndentStyle(kyaml.DeriveSeqIndentStyle(string(manifest)))
	var b bytes.Buffer
	for i, d := range kept {
		if i > 0 {
			b.WriteString("---\n")
		}
		data, err := kyaml.MarshalWithOptions(d, &kyaml.EncoderOptions{SeqIndent: style})
		if err != nil {
			return nil, false, false, fmt.Errorf("%s: %w", op, err)
		}
		b.Write(data)
	}
	return b.Bytes(), true, empty, nil
}

// removeByPieces drops the documents declaring kind/name from manifest by
// cutting it at its document separators; ok is false when the pieces do not
// parse to the same documents as the whole file (docs, its content
// documents in order).
func removeByPieces(manifest []byte, docs []*kyaml.Node, kind, name string) ([]byte, bool) {
	var out []byte
	i := 0 // next content document of docs expected in a piece
	for _, p := range splitAtSeparators(manifest) {
		got, err := decodeDocuments(p)
		if err != nil || len(got) > 1 {
			return nil, false
		}
		if len(got) == 0 {
			out = append(out, p...)
			continue
		}
		if i >= len(docs) || !sameIdentity(got[0], docs[i]) {
			return nil, false
		}
		i++
		if !declares(got[0], kind, name) {
			out = append(out, p...)
		}
	}
	if i != len(docs) {
		return nil, false
	}
	return out, true
}

// splitAtSeparators cuts a YAML stream before each "---" line (a document
// start marker at column 0, possibly followed by a comment). The marker
// cannot occur at column 0 inside a scalar, so no document is cut in two.
// Pieces concatenate back to data.
func splitAtSeparators(data []byte) [][]byte {
	var pieces [][]byte
	start, off := 0, 0
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		t := bytes.TrimRight(line, "\r\n")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) || bytes.HasPrefix(t, []byte("---\t")) {
			pieces = append(pieces, data[start:off])
			start = off
		}
		off += len(line)
	}
	return append(pieces, data[start:])
}

// decodeDocuments returns the documents of a YAML stream that have content
// (not empty, not only comments), as document nodes.
func decodeDocuments(data []byte) ([]*kyaml.Node, error) {
	dec := kyaml.NewDecoder(bytes.NewReader(data))
	var docs []*kyaml.Node
	for {
		d := &kyaml.Node{}
		err := dec.Decode(d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if hasContent([]*kyaml.Node{d}) {
			docs = append(docs, d)
		}
	}
}

// hasContent reports whether any document holds something other than null.
func hasContent(docs []*kyaml.Node) bool {
	for _, d := range docs {
		if len(d.Content) > 0 && d.Content[0].ShortTag() != kyaml.NodeTagNull {
			return true
		}
	}
	return false
}

// identity returns a document's kind and metadata.name ("" if absent).
func identity(doc *kyaml.Node) (kind, name string) {
	rn := kyaml.NewRNode(doc)
	if rn.YNode() == nil || rn.YNode().Kind != kyaml.MappingNode {
		return "", ""
	}
	if k := rn.Field("kind"); k != nil {
		kind = k.Value.YNode().Value
	}
	if m := rn.Field("metadata"); m != nil {
		if n := m.Value.Field("name"); n != nil {
			name = n.Value.YNode().Value
		}
	}
	return kind, name
}

func declares(doc *kyaml.Node, kind, name string) bool {
	k, n := identity(doc)
	return k == kind && n == name
}

// sameIdentity tells the documents of one file apart well enough to check
// that cutting it found the same documents in the same order.
func sameIdentity(a, b *kyaml.Node) bool {
	ak, an := identity(a)
	bk, bn := identity(b)
	return ak == bk && an == bn
}

// FindObject returns the file, among files (name → content, e.g. the
// manifest files of a target directory), whose top-level documents declare
// kind/name, matched on kind and metadata.name as RemoveObject does. Files
// are tried by name; only *.yaml, *.yml and *.json files are read, as Render
// reads a plain directory, and a file that does not parse is skipped.
func FindObject(files map[string][]byte, kind, name string) (file string, ok bool) {
	names := make([]string, 0, len(files))
	for f := range files {
		if plainExtensions[strings.ToLower(path.Ext(f))] {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	for _, f := range names {
		docs, err := decodeDocuments(files[f])
		if err != nil {
			continue
		}
		for _, d := range docs {
			if declares(d, kind, name) {
				return f, true
			}
		}
	}
	return "", false
}
