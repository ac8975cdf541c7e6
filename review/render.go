package review

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipwaycd/slipway/forge"
	"github.com/slipwaycd/slipway/reconciler"
)

// render writes the plan comment: validation errors with file:line, then
// per target a per-object diff (created, changed with the managed fields
// that change, pruned), warnings and errors. It stays within max bytes,
// cutting at a line with a pointer to `slipway diff` for the rest.
func render(p *PlanResult, max int) string {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	fmt.Fprintf(&b, "### Slipway plan for `%.12s`\n\n", p.Head)
	if len(p.Invalid) > 0 {
		fmt.Fprintf(&b, "**The config is invalid** (%d error(s)); nothing can be planned until it is fixed:\n\n", len(p.Invalid))
		b.WriteString("```\n")
		for _, e := range p.Invalid {
			b.WriteString(e.Error() + "\n")
		}
		b.WriteString("```\n")
		return fit(b.String(), max)
	}
	fmt.Fprintf(&b, "%s.\n", capitalize(p.Summary()))
	for _, t := range p.Targets {
		fmt.Fprintf(&b, "\n#### `%s` (account `%s`)\n\n", t.Target, t.Account)
		for _, w := range t.Warnings {
			fmt.Fprintf(&b, "> [!WARNING]\n> %s\n\n", w)
		}
		if t.Err != "" {
			fmt.Fprintf(&b, "**Cannot be planned:**\n\n```\n%s\n```\n", t.Err)
			continue
		}
		WriteDiff(&b, t.Plan)
	}
	for _, ref := range p.Removed {
		fmt.Fprintf(&b, "\n#### `%s` is removed\n\nIts objects stay in the cluster until they are pruned by hand; Slipway stops syncing it.\n", ref)
	}
	if len(p.Targets) == 0 && len(p.Removed) == 0 {
		b.WriteString("\nNo target is affected.\n")
	}
	b.WriteString("\n<sub>Edited in place on every push. Only fields Slipway manages are compared, so defaults the cluster fills in are not shown.</sub>\n")
	return fit(b.String(), max)
}

// WriteDiff writes one target's plan as a diff block: + created, ~ changed
// (with each managed field, live → desired), - pruned, ! left Git but not
// pruned. Pull request plans and `/slipway plan` replies both use it.
func WriteDiff(b *strings.Builder, plan *reconciler.Plan) {
	var lines []string
	unchanged := 0
	for _, o := range plan.Objects {
		switch o.Action {
		case reconciler.Created:
			lines = append(lines, "+ "+o.Object+" (created)")
		case reconciler.Configured:
			lines = append(lines, "~ "+o.Object+" (changed)")
			for _, f := range o.Fields {
				lines = append(lines, fmt.Sprintf("    %s: %s → %s", f.Path, value(f.Live), value(f.Desired)))
			}
		case reconciler.Pruned:
			lines = append(lines, "- "+o.Object+" (pruned)")
		case reconciler.Skipped:
			lines = append(lines, "! "+o.Object+" (left Git, not pruned)")
		default:
			unchanged++
		}
	}
	if len(lines) == 0 {
		fmt.Fprintf(b, "No change (%d object(s) unchanged).\n", unchanged)
		return
	}
	b.WriteString("```diff\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n")
	if unchanged > 0 {
		fmt.Fprintf(b, "%d other object(s) unchanged.\n", unchanged)
	}
}

// value formats a field value compactly: scalars as they are, the rest as JSON.
func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// fit keeps a comment within the forge's limit.
func fit(body string, max int) string {
	return forge.Truncate(body, max, "*The plan is longer than this forge allows in a comment; run `slipway diff <app>/<target>` for the rest.*")
}
