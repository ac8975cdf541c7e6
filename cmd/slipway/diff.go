package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipwaycd/slipway/config"
	"github.com/slipwaycd/slipway/reconciler"
)

// errChanges says the diff found changes and printed them. It wraps
// errSilent, so main exits non-zero without printing anything more; main
// maps it to exit status 2, as diff(1) does.
var errChanges = fmt.Errorf("changes pending%w", errSilent)

func newDiffCommand() *cobra.Command {
	var repo repoFlags
	var dir, rev, output string
	cmd := &cobra.Command{
		Use:   "diff <app>/<target>",
		Short: "Show what syncing a target would change in its cluster",
		Long: `Compare a target's rendered manifests with its live cluster using server-side
dry-run apply: nothing is changed. Only fields Slipway manages are shown, so
defaults the cluster fills in are not. Objects that left Git are listed as
pruned (or skipped when the target does not prune).

With --dir, from a working copy; otherwise from the config repo (--repo) at
--rev (default: the branch head). The account's kubeconfig is read from the
secret store (--secrets).

Exit status: 0 when nothing would change, 2 when something would, 1 on error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("-o %s: want json", output)
			}
			ref, err := config.ParseTargetRef(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			tree, rev, err := loadTree(ctx, &repo, dir, rev)
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
			acct := cfg.Accounts[t.Account]
			if acct == nil {
				return fmt.Errorf("target %s: account %s not found", ref, t.Account)
			}
			sec, err := repo.secretStore()
			if err != nil {
				return fmt.Errorf("--secrets: %w", err)
			}
			rc, err := connector(sec)(ctx, acct)
			if err != nil {
				return fmt.Errorf("account %s: %w", acct.Name, err)
			}
			cl, err := reconciler.NewCluster(acct.Name, rc, "slipway", nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			plan, err := reconciler.PlanTarget(ctx, cl, tree, rev, app, t, acct)
			if err != nil {
				return err
			}
			if output == "json" {
				err = printJSON(cmd.OutOrStdout(), plan)
			} else {
				printPlan(cmd.OutOrStdout(), plan)
			}
			if err != nil {
				return err
			}
			if plan.Changed() {
				return errChanges
			}
			return nil
		},
	}
	repo.register(cmd)
	cmd.Flags().StringVar(&dir, "dir", "", "diff this working copy instead of the repo")
	cmd.Flags().StringVar(&rev, "rev", "", "revision (commit) to diff; default the branch head")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

// printPlan prints one line per object, the changed fields under it, and a
// summary:
//
//	Deployment/flaskapp-testing/flaskapp: configured
//	  spec.replicas: 3 → 5
//	Service/flaskapp-testing/flaskapp: unchanged
//	2 to change: 1 configured, 1 pruned; 1 unchanged
func printPlan(w io.Writer, p *reconciler.Plan) {
	count := map[reconciler.Action]int{}
	for _, o := range p.Objects {
		count[o.Action]++
		fmt.Fprintf(w, "%s: %s\n", o.Object, o.Action)
		for _, f := range o.Fields {
			fmt.Fprintf(w, "  %s: %s → %s\n", f.Path, showValue(f.Live), showValue(f.Desired))
		}
	}
	var change, keep []string
	n := 0
	for _, a := range []reconciler.Action{reconciler.Created, reconciler.Configured, reconciler.Pruned} {
		if count[a] > 0 {
			change = append(change, fmt.Sprintf("%d %s", count[a], a))
			n += count[a]
		}
	}
	for _, a := range []reconciler.Action{reconciler.Unchanged, reconciler.Skipped} {
		if count[a] > 0 {
			keep = append(keep, fmt.Sprintf("%d %s", count[a], a))
		}
	}
	summary := "no changes"
	if n > 0 {
		summary = fmt.Sprintf("%d to change: %s", n, strings.Join(change, ", "))
	}
	if len(keep) > 0 {
		summary += "; " + strings.Join(keep, ", ")
	}
	fmt.Fprintln(w, summary)
}

// showValue prints a field value on one line: strings as they are, absent
// fields as (none), anything else as compact JSON.
func showValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "(none)"
	case string:
		if v == "" || strings.ContainsAny(v, "\n\"") || strings.TrimSpace(v) != v {
			b, _ := json.Marshal(v)
			return string(b)
		}
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
