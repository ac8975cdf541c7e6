// Command slipway is continuous deployment for Kubernetes, kept in Git.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		if errors.Is(err, errChanges) {
			os.Exit(2) // like diff(1): the command ran and found differences
		}
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "slipway:", err)
		}
		os.Exit(1)
	}
}
