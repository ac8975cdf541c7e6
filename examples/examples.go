// Package examples holds the example config repo Slipway seeds its embedded
// default with: account local, project cd-demo, application flaskapp with a
// testing target (a 2-replica Deployment and a LoadBalancer Service).
package examples

import (
	"embed"
	"io/fs"
)

//go:embed all:config-repo
var files embed.FS

// ConfigRepo returns the example config repo's files.
func ConfigRepo() fs.FS {
	sub, err := fs.Sub(files, "config-repo")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
