package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "slipway",
		Short:         "Continuous deployment for Kubernetes, kept in Git",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCommand(),
		newValidateCommand(),
		newRenderCommand(),
		newStatusCommand(),
		newSyncCommand(),
		newAccountsCommand(),
		newEventsCommand(),
		newReleaseCommand(),
		newTokenCommand(),
		newDiffCommand(),
		newVersionCommand(),
	)
	explainAPIErrors(root)
	return root
}

// explainAPIErrors makes every command that calls the API say what to do
// about the errors a user can fix (no token, not allowed).
func explainAPIErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil && cmd.Flags().Lookup("token") != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return explainAPIError(run(cmd, args))
		}
	}
	for _, sub := range cmd.Commands() {
		explainAPIErrors(sub)
	}
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "slipway", buildVersion())
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
