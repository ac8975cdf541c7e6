package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"

	yaml "gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// Render returns the objects a target's manifest directory describes.
//
// dir is a slash-separated path relative to the root of fsys (the config
// repo at a revision), e.g. "applications/flaskapp/testing"; "" or "." is
// the root. A directory holding kustomization.yaml, kustomization.yml or
// Kustomization is built like `kustomize build` (v5, default flags: legacy
// output order, loads restricted to the kustomization root, plugins off);
// its bases may be anywhere in fsys but never outside it, and remote bases,
// remote files and the openapi: field are refused. Any other directory is
// read as plain manifests: the *.yaml, *.yml and *.json files directly in
// it, by name, each possibly holding several documents; empty documents are
// skipped and FooList objects with items are expanded, as kustomize does.
//
// Errors name the repo-relative file, and the line for YAML errors; a
// kustomize failure is wrapped naming dir. Render is safe for concurrent use.
func Render(fsys fs.FS, dir string) ([]*unstructured.Unstructured, error) {
	dir = path.Clean(strings.TrimSuffix(dir, "/"))
	if dir == "" {
		dir = "."
	}
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("manifest dir %q: must be a path relative to the repo root", dir)
	}
	fi, err := fs.Stat(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("manifest dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("manifest dir %s: not a directory", dir)
	}
	for _, name := range KustomizationNames {
		if _, err := fs.Stat(fsys, path.Join(dir, name)); err == nil {
			return renderKustomization(fsys, dir)
		}
	}
	return renderPlain(fsys, dir)
}

// warmOpenAPI parses kyaml's built-in OpenAPI schema once per process.
// kyaml keeps that schema in a package global and fills it lazily; a render
// that triggers the first fill while another reads it races. After this,
// the global is only read (Render refuses the openapi: field, the one thing
// that would change it).
var warmOpenAPI = sync.OnceFunc(func() { openapi.Schema() })

func renderKustomization(fsys fs.FS, dir string) (objs []*unstructured.Unstructured, err error) {
	defer func() {
		if p := recover(); p != nil {
			objs, err = nil, fmt.Errorf("kustomize build %s: panic: %v", dir, p)
		}
	}()
	warmOpenAPI()
	opts := &krusty.Options{
		// What `kustomize build` does without --reorder: the legacy
		// order, unless the kustomization sets sortOptions.
		Reorder:          krusty.ReorderOptionUnspecified,
		LoadRestrictions: types.LoadRestrictionsRootOnly,
		PluginConfig:     types.DisabledPluginConfig(),
	}
	rfs := newRepoFS(fsys)
	resMap, err := krusty.MakeKustomizer(opts).Run(rfs, "/"+rel(dir))
	if refused := rfs.refusal(); refused != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, refused)
	}
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	for _, r := range resMap.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// plainExtensions are the file types a plain manifest directory is made of;
// anything else (README.md, .gitkeep, ...) is ignored.
var plainExtensions = map[string]bool{".yaml": true, ".yml": true, ".json": true}

func renderPlain(fsys fs.FS, dir string) ([]*unstructured.Unstructured, error) {
	entries, err := fs.ReadDir(fsys, dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("manifest dir %s: %w", dir, err)
	}
	var objs []*unstructured.Unstructured
	seen := map[string]string{} // object id -> file, to refuse duplicates as kustomize does
	for _, e := range entries {
		if e.IsDir() || !plainExtensions[strings.ToLower(path.Ext(e.Name()))] {
			continue
		}
		file := path.Join(dir, e.Name())
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		got, err := decodeManifests(file, data)
		if err != nil {
			return nil, err
		}
		for _, o := range got {
			id := objectID(o)
			if first, ok := seen[id]; ok {
				return nil, fmt.Errorf("%s: %s is also defined in %s", file, id, first)
			}
			seen[id] = file
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// objectID names an object as kind.group/namespace/name.
func objectID(o *unstructured.Unstructured) string {
	gk := o.GroupVersionKind().GroupKind()
	ns := o.GetNamespace()
	if ns != "" {
		ns += "/"
	}
	return gk.String() + " " + ns + o.GetName()
}

// decodeManifests decodes a YAML (or JSON) stream of Kubernetes objects.
// Errors are "file:line: ...".
func decodeManifests(file string, data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		var v any
		if err := root.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, root.Line, err)
		}
		if v == nil {
			continue // an empty document, or one of only comments
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s:%d: a manifest must be a mapping, not a %s", file, root.Line, root.ShortTag())
		}
		got, err := toObjects(m)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, root.Line, err)
		}
		objs = append(objs, got...)
	}
}

// toObjects converts one decoded document to objects, expanding FooList
// objects that have items the way kustomize does.
func toObjects(m map[string]any) ([]*unstructured.Unstructured, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(data, &obj); err != nil { // numbers as int64 or float64
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	kind := u.GetKind()
	if items, ok := u.Object["items"]; ok && strings.HasSuffix(kind, "List") {
		list, ok := items.([]any)
		if !ok && items != nil {
			return nil, fmt.Errorf("%s: items must be a list", kind)
		}
		var objs []*unstructured.Unstructured
		for i, item := range list {
			im, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: items[%d] must be a mapping", kind, i)
			}
			got, err := toObjects(im)
			if err != nil {
				return nil, fmt.Errorf("%s: items[%d]: %w", kind, i, err)
			}
			objs = append(objs, got...)
		}
		return objs, nil
	}
	switch {
	case u.GetAPIVersion() == "":
		return nil, errors.New("apiVersion is missing")
	case kind == "":
		return nil, errors.New("kind is missing")
	case u.GetName() == "":
		return nil, fmt.Errorf("%s: metadata.name is missing", kind)
	}
	return []*unstructured.Unstructured{u}, nil
}

// splitDocuments splits a YAML stream at "---" lines, leniently; it is
// only used to screen plugin configs, never to decode manifests.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		t := bytes.TrimRight(line, "\r\n")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(docs, cur)
}
