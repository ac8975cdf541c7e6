package gitstore

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// appsSeed is a config repo of n applications, each with an
// application.yaml and a prod overlay of two files: 3n files in all.
func appsSeed(n int) fstest.MapFS {
	m := fstest.MapFS{"README.md": {Data: []byte("# config\n")}}
	for i := range n {
		d := fmt.Sprintf("applications/app-%04d", i)
		m[d+"/application.yaml"] = &fstest.MapFile{Data: fmt.Appendf(nil, "name: app-%04d\nsource: ./prod\n", i)}
		m[d+"/prod/kustomization.yaml"] = &fstest.MapFile{Data: []byte("resources:\n- deployment.yaml\n")}
		m[d+"/prod/deployment.yaml"] = &fstest.MapFile{Data: fmt.Appendf(nil, "kind: Deployment\nmetadata:\n  name: app-%04d\nimage: app-%04d:1\n", i, i)}
	}
	return m
}

func openApps(b *testing.B, n int) *Repo {
	b.Helper()
	url, err := InitBare(filepath.Join(b.TempDir(), "config.git"), "main", appsSeed(n), "seed", Identity{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := Open(b.Context(), Options{URL: url, CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkCommit1000Apps times one Commit that changes one file of a repo
// with 1,000 applications (a registry push bumping one image), including the
// local fetch and push.
func BenchmarkCommit1000Apps(b *testing.B) {
	r := openApps(b, 1000)
	const p = "applications/app-0500/prod/deployment.yaml"
	i := 0
	for b.Loop() {
		i++
		data := fmt.Appendf(nil, "kind: Deployment\nmetadata:\n  name: app-0500\nimage: app-0500:%d\n", i+1)
		_, err := r.Commit(b.Context(), "bump app-0500", []Trailer{{"Slipway-Test", fmt.Sprint(i)}}, func(w *Worktree) error {
			return w.WriteFile(p, data)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeRead1000Apps times Tree and reading every application.yaml
// through fs.WalkDir, as config loading does.
func BenchmarkTreeRead1000Apps(b *testing.B) {
	r := openApps(b, 1000)
	for b.Loop() {
		tree, err := r.Tree("")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		err = fs.WalkDir(tree, "applications", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path.Base(p) != "application.yaml" {
				return err
			}
			if _, err := fs.ReadFile(tree, p); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != 1000 {
			b.Fatalf("read %d application.yaml, want 1000", n)
		}
	}
}
