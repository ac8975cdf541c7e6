package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/slipwaycd/slipway/api"
	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/manifests"
	"github.com/slipwaycd/slipway/reconciler"
	"github.com/slipwaycd/slipway/store"
)

// errSilent exits non-zero after the command printed its own report.
var errSilent = errors.New("")

func newValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate [dir]",
		Short: "Check a config repo working copy; print every error with file:line:column",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", dir)
			}
			errs := config.Validate(os.DirFS(dir))
			if len(errs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", dir)
				return nil
			}
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d error(s)\n", len(errs))
			return errSilent
		},
	}
}

func newRenderCommand() *cobra.Command {
	var repo repoFlags
	var dir, rev string
	cmd := &cobra.Command{
		Use:   "render <app>/<target>",
		Short: "Print a target's manifests as Slipway would apply them",
		Long: `Print a target's rendered, stamped manifests. With --dir, from a working
copy; otherwise from the config repo (--repo) at --rev (default: the branch head).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := config.ParseTargetRef(args[0])
			if err != nil {
				return err
			}
			tree, rev, err := loadTree(cmd.Context(), &repo, dir, rev)
			if err != nil {
				return err
			}
			cfg, err := config.Load(tree)
			if err != nil {
				return err
			}
			app, t, ok := cfg.Target(ref.App, ref.Target)
			if !ok {
				return fmt.Errorf("target %s not found", ref)
			}
			objs, err := manifests.Render(tree, t.Path)
			if err != nil {
				return fmt.Errorf("rendering %s: %w", t.Path, err)
			}
			manifests.Stamp{Application: app.Name, Target: t.Name, Revision: rev, Stack: t.Stack, Detail: t.Detail}.Apply(objs)
			manifests.SortForApply(objs)
			return printYAML(cmd.OutOrStdout(), objs)
		},
	}
	repo.register(cmd)
	cmd.Flags().StringVar(&dir, "dir", "", "render from this working copy instead of the repo")
	cmd.Flags().StringVar(&rev, "rev", "", "revision (commit) to render; default the branch head")
	return cmd
}

// loadTree returns the config at a working copy, or at a revision of the repo.
func loadTree(ctx context.Context, repo *repoFlags, dir, rev string) (fs.FS, string, error) {
	if dir != "" {
		return os.DirFS(dir), "", nil
	}
	sec, err := repo.secretStore()
	if err != nil {
		return nil, "", err
	}
	r, err := repo.open(ctx, sec)
	if err != nil {
		return nil, "", err
	}
	if rev == "" {
		rev = r.Head()
	}
	tree, err := r.Tree(rev)
	return tree, rev, err
}

func printYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	for i, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// serverFlag registers --server and --token on a command that calls a
// running slipway serve, and returns the client they configure. The token
// is resolved once the flags are parsed: --token, else $SLIPWAY_TOKEN, else
// (for a server on this machine) the admin token slipway serve wrote to
// <data dir>/admin-token, so a local user needs no setup.
func serverFlag(cmd *cobra.Command) *api.Client {
	c := &api.Client{HTTP: &http.Client{Timeout: 2 * time.Minute}}
	def := os.Getenv("SLIPWAY_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	cmd.Flags().StringVar(&c.BaseURL, "server", def, "URL of slipway serve ($SLIPWAY_SERVER)")
	// No default shown: it would print the secret in --help.
	cmd.Flags().StringVar(&c.Token, "token", "", "API token (default $SLIPWAY_TOKEN; for a server on this machine, else <data dir>/admin-token)")
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		c.Token = resolveToken(c.Token, c.BaseURL, os.Getenv("SLIPWAY_TOKEN"), filepath.Join(defaultDataDir(), "admin-token"))
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
	return c
}

// resolveToken picks the token to send: the flag's, else the
// environment's, else the one in file when the server is on this machine
// (a secret read from the local data directory is never sent elsewhere).
func resolveToken(flag, server, env, file string) string {
	if flag != "" {
		return flag
	}
	if env != "" {
		return env
	}
	if !isLocalServer(server) {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// isLocalServer reports whether a server URL points at this machine.
func isLocalServer(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// explainAPIError adds what to do to the errors a user can fix.
func explainAPIError(err error) error {
	var e *api.APIError
	if !errors.As(err, &e) {
		return err
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w\n(give a token with --token or $SLIPWAY_TOKEN; slipway serve writes an admin token to <data dir>/admin-token)", err)
	case http.StatusForbidden:
		return fmt.Errorf("%w\n(ask an admin for a token with that role or project: slipway token create)", err)
	}
	return err
}

func newStatusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [app | app/target]",
		Short: "Show targets: sync phase, revision, health, drift, load balancer addresses",
		Args:  cobra.MaximumNArgs(1),
	}
	c := serverFlag(cmd)
	cmd.Flags().BoolVarP(&asJSON, "json", "o", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 && strings.Contains(args[0], "/") {
			var st reconciler.TargetStatus
			if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/targets/"+args[0], nil, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printTargetDetail(cmd.OutOrStdout(), st)
			return nil
		}
		path := "/api/v1/targets"
		if len(args) == 1 {
			path += "?app=" + args[0]
		}
		var list api.TargetList
		if err := c.Do(cmd.Context(), http.MethodGet, path, nil, &list); err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), list)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TARGET\tACCOUNT\tNAMESPACE\tPHASE\tREVISION\tHEALTH\tINGRESS\tMESSAGE")
		for _, t := range list.Targets {
			msg := t.LastError
			if msg == "" && len(t.Drift) > 0 {
				msg = "drift: " + strings.Join(t.Drift, "; ")
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Application, t.Target, t.Account, t.Namespace,
				t.Phase, shortRev(t.SyncedRevision), t.Health, strings.Join(t.Ingress, ","), firstLine(msg))
		}
		return tw.Flush()
	}
	return cmd
}

func printTargetDetail(w io.Writer, t reconciler.TargetStatus) {
	fmt.Fprintf(w, "Target:     %s/%s\nAccount:    %s\nNamespace:  %s\nPolicy:     %s, prune=%v, drift=%s\n",
		t.Application, t.Target, t.Account, t.Namespace, t.Policy.Mode, t.Policy.Prune, t.Policy.Drift)
	fmt.Fprintf(w, "Phase:      %s\nRevision:   synced %s, desired %s\nHealth:     %s %s\n",
		t.Phase, shortRev(t.SyncedRevision), shortRev(t.DesiredRevision), t.Health, t.HealthMessage)
	if len(t.Ingress) > 0 {
		fmt.Fprintf(w, "Ingress:    %s\n", strings.Join(t.Ingress, ", "))
	}
	if t.LastError != "" {
		fmt.Fprintf(w, "Error:      %s\n", t.LastError)
	}
	for _, d := range t.Drift {
		fmt.Fprintf(w, "Drift:      %s\n", d)
	}
	if len(t.Objects) > 0 {
		fmt.Fprintln(w, "Objects:")
		for _, o := range t.Objects {
			fmt.Fprintf(w, "  %-50s %-12s %s\n", o.Object, o.Health, o.Message)
		}
	}
	if len(t.Changes) > 0 {
		fmt.Fprintln(w, "Last changes:")
		for _, c := range t.Changes {
			fmt.Fprintf(w, "  %-50s %s\n", c.Object, c.Action)
		}
	}
}

func newSyncCommand() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "sync <app>/<target>",
		Short: "Sync a target now (also when its policy is manual)",
		Args:  cobra.ExactArgs(1),
	}
	c := serverFlag(cmd)
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the target to be synced and healthy")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if _, err := config.ParseTargetRef(args[0]); err != nil {
			return err
		}
		if err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/targets/"+args[0]+"/sync", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: sync queued\n", args[0])
		if wait <= 0 {
			return nil
		}
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			var st reconciler.TargetStatus
			if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/targets/"+args[0], nil, &st); err != nil {
				return err
			}
			if st.Phase == reconciler.PhaseFailed {
				return fmt.Errorf("%s: sync failed: %s", args[0], st.LastError)
			}
			if st.Phase == reconciler.PhaseSynced && st.Health == reconciler.Healthy && st.SyncedRevision == st.DesiredRevision {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: synced %s, Healthy\n", args[0], shortRev(st.SyncedRevision))
				return nil
			}
			time.Sleep(500 * time.Millisecond)
		}
		return fmt.Errorf("%s: not synced and healthy after %s", args[0], wait)
	}
	return cmd
}

func newAccountsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "accounts",
		Short: "Validate every account: reachable, server version, permissions",
		Args:  cobra.NoArgs,
	}
	c := serverFlag(cmd)
	cmd.Flags().BoolVarP(&asJSON, "json", "o", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var list []reconciler.AccountStatus
		if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/accounts", nil, &list); err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), list)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tENVIRONMENT\tVERIFIED\tVERSION\tMESSAGE")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", a.Name, a.Environment, a.Verified, a.ServerVersion, a.Error)
		}
		return tw.Flush()
	}
	return cmd
}

func newEventsCommand() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List recent webhook deliveries and what came of them",
		Args:  cobra.NoArgs,
	}
	c := serverFlag(cmd)
	cmd.Flags().BoolVarP(&asJSON, "json", "o", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var list []store.Delivery
		if err := c.Do(cmd.Context(), http.MethodGet, fmt.Sprintf("/api/v1/events?limit=%d", limit), nil, &list); err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), list)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RECEIVED\tRECEIVER\tEVENT\tDELIVERY\tSTATE\tOUTCOME")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%.20s\t%s\t%s\n", d.ReceivedAt.Local().Format("15:04:05"), d.Provider, d.Receiver,
				d.Event, d.DeliveryID, d.State, d.Outcome)
		}
		return tw.Flush()
	}
	return cmd
}

func printJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	if r == "" {
		return "-"
	}
	return r
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
