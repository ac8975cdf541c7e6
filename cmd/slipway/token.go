package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipwaycd/slipway/api"
	"github.com/slipwaycd/slipway/store"
)

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens (admin)",
		Long: `Manage API tokens. A token has a role (viewer, deployer or admin) and the
projects it may access ("*" for all, and the applications bound to none).
slipway serve keeps an admin token for all projects in <data dir>/admin-token.`,
	}
	cmd.AddCommand(newTokenCreateCommand(), newTokenListCommand(), newTokenDeleteCommand())
	return cmd
}

func newTokenCreateCommand() *cobra.Command {
	var req api.CreateTokenRequest
	cmd := &cobra.Command{
		Use:     "create --name NAME --role ROLE --project P...",
		Short:   "Create an API token; its secret is printed this once",
		Example: "  slipway token create --name ci --role deployer --project cd-demo\n  slipway token create --name dashboard --role viewer --project '*'",
		Args:    cobra.NoArgs,
	}
	c := serverFlag(cmd)
	cmd.Flags().StringVar(&req.Name, "name", "", "token name, a DNS label (required)")
	cmd.Flags().StringVar(&req.Role, "role", "", "viewer, deployer or admin (required)")
	cmd.Flags().StringArrayVar(&req.Projects, "project", nil, `project the token may access (repeatable; "*" for all) (required)`)
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.MarkFlagRequired("project")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		created, err := c.CreateToken(cmd.Context(), req)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "token %s created (role %s, projects %s)\n", created.Token.Name, created.Token.Role, strings.Join(created.Token.Projects, ","))
		fmt.Fprintln(out, "Its secret, shown this once (send it as Authorization: Bearer <secret>, or set SLIPWAY_TOKEN):")
		fmt.Fprintln(out, created.Secret)
		return nil
	}
	return cmd
}

func newTokenListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never their secrets)",
		Args:  cobra.NoArgs,
	}
	c := serverFlag(cmd)
	cmd.Flags().BoolVarP(&asJSON, "json", "o", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		list, err := c.Tokens(cmd.Context())
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), list)
		}
		printTokens(cmd.OutOrStdout(), list)
		return nil
	}
	return cmd
}

func printTokens(w io.Writer, list []store.Token) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tPROJECTS\tCREATED BY\tCREATED\tLAST USED")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, strings.Join(t.Projects, ","), dash(t.CreatedBy),
			fmtTime(t.CreatedAt), ago(t.LastUsedAt, time.Now()))
	}
	tw.Flush()
}

// ago says how long before now t was, or "never".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmtDuration(now.Sub(t).Truncate(time.Second)) + " ago"
}

func newTokenDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete <name>",
		Short: "Delete an API token; its secret stops working at once",
		Args:  cobra.ExactArgs(1),
	}
	c := serverFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := c.DeleteToken(cmd.Context(), args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "token %s deleted\n", args[0])
		return nil
	}
	return cmd
}
