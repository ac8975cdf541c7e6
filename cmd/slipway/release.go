package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipwaycd/slipway/api"
	"github.com/slipwaycd/slipway/pipeline"
)

// pollEvery is how often --wait reads the release order.
const pollEvery = 500 * time.Millisecond

func newReleaseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Create, follow and act on release orders (pipeline executions)",
	}
	cmd.AddCommand(
		newReleaseCreateCommand(),
		newReleaseListCommand(),
		newReleaseShowCommand(),
		newReleaseActionCommand("cancel"),
		newReleaseActionCommand("restart"),
		newReleaseActionCommand("approve"),
		newReleaseActionCommand("reject"),
	)
	return cmd
}

// waitFlags are --wait and --timeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (f *waitFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "follow the release order until it ends; exit non-zero unless it succeeds")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "with --wait, give up after this long")
}

func newReleaseCreateCommand() *cobra.Command {
	var app, pipe string
	var params, artifacts []string
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "create --app APP --pipeline PIPELINE [--param k=v]... [--artifact ref]...",
		Short: "Run a pipeline by hand: create a release order",
		Example: `  slipway release create --app flaskapp --pipeline deployTesting \
      --param replicas=2 --artifact registry.local/flaskapp:v2 --wait`,
		Args: cobra.NoArgs,
	}
	c := serverFlag(cmd)
	cmd.Flags().StringVar(&app, "app", "", "application (required)")
	cmd.Flags().StringVar(&pipe, "pipeline", "", "pipeline (required)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "parameter as key=value (repeatable)")
	cmd.Flags().StringArrayVar(&artifacts, "artifact", nil, "image reference (repo:tag or repo@digest) to bind to the expected artifact it matches (repeatable)")
	_ = cmd.MarkFlagRequired("app")
	_ = cmd.MarkFlagRequired("pipeline")
	wf.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ps, err := parseParams(params)
		if err != nil {
			return err
		}
		ex, err := c.CreateRelease(cmd.Context(), api.CreateReleaseRequest{Application: app, Pipeline: pipe, Parameters: ps, Artifacts: artifacts})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "release order %d created (%s/%s)\n", ex.ID, ex.Application, ex.Pipeline)
		if ex.Status == pipeline.StatusRefused {
			return fmt.Errorf("release order %d refused: %s", ex.ID, ex.Reason)
		}
		if !wf.wait {
			return nil
		}
		return followRelease(cmd.Context(), c, ex.ID, wf.timeout, out)
	}
	return cmd
}

// parseParams parses --param key=value flags: the key is not empty and
// given once.
func parseParams(kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("--param %q: want key=value", kv)
		case strings.TrimSpace(k) == "":
			return nil, fmt.Errorf("--param %q: the key is empty", kv)
		case strings.TrimSpace(k) != k:
			return nil, fmt.Errorf("--param %q: the key has leading or trailing spaces", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--param %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// followRelease polls a release order until it ends, printing each stage
// transition; it fails unless the order succeeds.
func followRelease(ctx context.Context, c *api.Client, id int64, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var prev *pipeline.Execution
	failures := 0
	for {
		ex, err := c.Release(ctx, id)
		switch {
		case err == nil:
			failures = 0
			for _, l := range progressLines(prev, ex, time.Local) {
				fmt.Fprintln(out, l)
			}
			prev = ex
			if ex.Status.Final() {
				return releaseOutcome(ex, out)
			}
		case ctx.Err() != nil:
		case isTransient(err) && failures < 5:
			failures++ // a restarting server, a blip: try again
		default:
			return err
		}
		select {
		case <-ctx.Done():
			status := "unknown"
			if prev != nil {
				status = string(prev.Status)
			}
			return fmt.Errorf("release order %d is still %s after %s; follow it with: slipway release show %d", id, status, timeout, id)
		case <-tick.C:
		}
	}
}

// isTransient reports whether a failed poll is worth repeating.
func isTransient(err error) bool {
	var e *api.APIError
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	return true // the server could not be reached
}

// releaseOutcome prints how a finished release order ended; it is an
// error unless the order succeeded.
func releaseOutcome(ex *pipeline.Execution, out io.Writer) error {
	took := ""
	if !ex.StartedAt.IsZero() && !ex.EndedAt.IsZero() {
		took = " in " + fmtDuration(ex.EndedAt.Sub(ex.StartedAt))
	}
	if ex.Status == pipeline.StatusSucceeded {
		fmt.Fprintf(out, "release order %d succeeded%s\n", ex.ID, took)
		return nil
	}
	msg := fmt.Sprintf("release order %d %s%s", ex.ID, ex.Status, took)
	if ex.Reason != "" {
		msg += ": " + ex.Reason
	}
	return errors.New(msg)
}

// progressLines says what changed between two reads of a release order:
// one line per stage whose status changed (a stage absent before counts as
// pending), "HH:MM:SS  <stage>  <status>  <detail>", and how to judge a
// stage that has started waiting. prev may be nil.
func progressLines(prev, cur *pipeline.Execution, loc *time.Location) []string {
	width := 0
	for _, st := range cur.Stages {
		width = max(width, len(st.ID))
	}
	was := map[string]pipeline.StageStatus{}
	if prev != nil {
		for _, st := range prev.Stages {
			was[st.ID] = st.Status
		}
	}
	waiting := 0
	for _, st := range cur.Stages {
		if st.Status == pipeline.StageWaiting {
			waiting++
		}
	}
	var lines []string
	for _, st := range cur.Stages {
		before, ok := was[st.ID]
		if !ok {
			before = pipeline.StagePending
		}
		if st.Status == before {
			continue
		}
		line := fmt.Sprintf("%s  %-*s  %-14s  %s", transitionTime(st, cur, loc), width, st.ID, st.Status, stageDetail(st))
		lines = append(lines, strings.TrimRight(line, " "))
		if st.Status == pipeline.StageWaiting {
			stage := ""
			if waiting > 1 {
				stage = " --stage " + st.ID
			}
			lines = append(lines, fmt.Sprintf("%s  waiting for a judgment: slipway release approve %d%s  (or: slipway release reject %d%s)",
				strings.Repeat(" ", 8), cur.ID, stage, cur.ID, stage))
		}
	}
	return lines
}

// transitionTime is when a stage reached its status, as HH:MM:SS.
func transitionTime(st *pipeline.StageState, ex *pipeline.Execution, loc *time.Location) string {
	t := st.StartedAt
	if st.Status.Done() {
		t = firstTime(st.EndedAt, ex.EndedAt, st.StartedAt)
	}
	if t.IsZero() {
		return "--:--:--"
	}
	return t.In(loc).Format("15:04:05")
}

// firstTime returns the first non-zero time.
func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// stageDetail is a short account of what a stage did: its error, commit,
// health, judgment, job, webhook status or child order.
func stageDetail(st *pipeline.StageState) string {
	var parts []string
	o := st.Outputs
	if st.Error != "" && st.Status != pipeline.StageSucceeded {
		parts = append(parts, firstLine(st.Error))
	}
	if o.Commit != "" {
		parts = append(parts, "commit "+shortRev(o.Commit))
	}
	if o.Health != "" {
		parts = append(parts, "health "+o.Health)
	}
	if j := o.Judgment; j != nil {
		parts = append(parts, judgmentText(j))
	}
	if o.Job != "" {
		parts = append(parts, "job "+o.Job)
	}
	if o.HTTPStatus != 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(o.HTTPStatus))
	}
	if o.Child != 0 {
		parts = append(parts, "release order "+strconv.FormatInt(o.Child, 10))
	}
	if !o.WaitUntil.IsZero() && st.Status == pipeline.StageRunning {
		parts = append(parts, "until "+o.WaitUntil.Local().Format("15:04:05"))
	}
	s := strings.Join(parts, ", ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func judgmentText(j *pipeline.Judgment) string {
	verdict := "rejected"
	if j.Approved {
		verdict = "approved"
	}
	s := verdict + " by " + j.User
	if j.Comment != "" {
		s += ": " + firstLine(j.Comment)
	}
	return s
}

func newReleaseListCommand() *cobra.Command {
	var f pipeline.Filter
	var status string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List release orders, newest first",
		Args:  cobra.NoArgs,
	}
	c := serverFlag(cmd)
	cmd.Flags().StringVar(&f.Application, "app", "", "only this application's")
	cmd.Flags().StringVar(&f.Pipeline, "pipeline", "", "only this pipeline's")
	cmd.Flags().StringVar(&status, "status", "", "only those with this status (queued, running, waiting, succeeded, failed, canceled, rejected, refused)")
	cmd.Flags().IntVar(&f.Limit, "limit", 20, "how many")
	cmd.Flags().BoolVarP(&asJSON, "json", "o", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f.Status = pipeline.Status(status)
		list, err := c.Releases(cmd.Context(), f)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), list)
		}
		printReleaseList(cmd.OutOrStdout(), list, time.Now())
		return nil
	}
	return cmd
}

func printReleaseList(w io.Writer, list []*pipeline.Execution, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPPLICATION\tPIPELINE\tSTATUS\tTRIGGER\tSTARTED\tDURATION")
	for _, ex := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ex.ID, ex.Application, ex.Pipeline, ex.Status,
			triggerText(ex.Trigger), fmtTime(ex.StartedAt), runTime(ex.StartedAt, ex.EndedAt, now))
	}
	tw.Flush()
}

func triggerText(t pipeline.Trigger) string {
	s := string(t.Type)
	if t.User != "" {
		s += " by " + t.User
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// runTime is how long something ran, or has been running.
func runTime(start, end, now time.Time) string {
	switch {
	case start.IsZero():
		return "-"
	case end.IsZero():
		return fmtDuration(now.Sub(start)) + "…"
	}
	return fmtDuration(end.Sub(start))
}

func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func newReleaseShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <id>",
		Short: "Show a release order: parameters, artifacts, stages and their logs",
		Args:  cobra.ExactArgs(1),
	}
	c := serverFlag(cmd)
	cmd.Flags().BoolVarP(&asJSON, "json", "o", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseReleaseID(args[0])
		if err != nil {
			return err
		}
		ex, err := c.Release(cmd.Context(), id)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), ex)
		}
		printRelease(cmd.OutOrStdout(), ex, time.Now())
		return nil
	}
	return cmd
}

func parseReleaseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("release order id %q: want a positive integer", s)
	}
	return id, nil
}

func printRelease(w io.Writer, ex *pipeline.Execution, now time.Time) {
	status := string(ex.Status)
	if ex.Reason != "" {
		status += ": " + ex.Reason
	}
	trigger := triggerText(ex.Trigger)
	if ex.Trigger.Summary != "" {
		trigger += " (" + ex.Trigger.Summary + ")"
	}
	if ex.Trigger.Parent != 0 {
		trigger += fmt.Sprintf(", from release order %d", ex.Trigger.Parent)
	}
	fmt.Fprintf(w, "Release order:  %d\nPipeline:       %s/%s\n", ex.ID, ex.Application, ex.Pipeline)
	if ex.Project != "" {
		fmt.Fprintf(w, "Project:        %s\n", ex.Project)
	}
	fmt.Fprintf(w, "Status:         %s\nTrigger:        %s\nRevision:       %s\n", status, trigger, shortRev(ex.Revision))
	fmt.Fprintf(w, "Created:        %s\nStarted:        %s\nDuration:       %s\n", fmtTime(ex.CreatedAt), fmtTime(ex.StartedAt), runTime(ex.StartedAt, ex.EndedAt, now))
	if len(ex.Parameters) > 0 {
		fmt.Fprintln(w, "Parameters:")
		keys := make([]string, 0, len(ex.Parameters))
		for k := range ex.Parameters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s=%s\n", k, ex.Parameters[k])
		}
	}
	if len(ex.Artifacts) > 0 {
		fmt.Fprintln(w, "Artifacts:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, a := range ex.Artifacts {
			fmt.Fprintf(tw, "  %s\t%s\tfrom %s\n", a.ID, a.Reference, a.From)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nStages:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STAGE\tTYPE\tSTATUS\tSTARTED\tDURATION\tCOMMIT\tHEALTH\tERROR")
	for _, st := range ex.Stages {
		started := "-"
		if !st.StartedAt.IsZero() {
			started = st.StartedAt.Local().Format("15:04:05")
		}
		errText := firstLine(st.Error)
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.ID, st.Type, st.Status, started,
			runTime(st.StartedAt, st.EndedAt, now), dash(shortRev(st.Outputs.Commit)), dash(st.Outputs.Health), errText)
	}
	tw.Flush()

	for _, st := range ex.Stages {
		j := st.Outputs.Judgment
		if len(st.Log) == 0 && st.Outputs.JobLog == "" && len(st.Outputs.Changes) == 0 && j == nil {
			continue
		}
		fmt.Fprintf(w, "\n[%s] %s\n", st.ID, st.Name)
		if j != nil {
			fmt.Fprintf(w, "  %s  %s\n", j.At.Local().Format("15:04:05"), judgmentText(j))
		}
		for _, l := range st.Log {
			fmt.Fprintf(w, "  %s  %s\n", l.Time.Local().Format("15:04:05"), l.Msg)
		}
		if len(st.Outputs.Changes) > 0 {
			fmt.Fprintln(w, "  changes:")
			for _, ch := range st.Outputs.Changes {
				fmt.Fprintf(w, "    %s\n", ch)
			}
		}
		if st.Outputs.JobLog != "" {
			fmt.Fprintf(w, "  job %s log:\n", st.Outputs.Job)
			for l := range strings.SplitSeq(strings.TrimRight(st.Outputs.JobLog, "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// newReleaseActionCommand makes cancel, restart, approve and reject.
func newReleaseActionCommand(action string) *cobra.Command {
	var reason, stage, comment string
	var wf waitFlags
	short := map[string]string{
		"cancel":  "Cancel a release order that has not ended",
		"restart": "Run a release order again from the stages that did not succeed",
		"approve": "Approve the manual judgment a release order waits at",
		"reject":  "Reject the manual judgment a release order waits at, ending it",
	}[action]
	cmd := &cobra.Command{
		Use:   action + " <id>",
		Short: short,
		Args:  cobra.ExactArgs(1),
	}
	c := serverFlag(cmd)
	switch action {
	case "cancel":
		cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	case "approve", "reject":
		cmd.Flags().StringVar(&stage, "stage", "", "the manualJudgment stage's id (default: the one waiting)")
		cmd.Flags().StringVar(&comment, "comment", "", "a comment, for the record")
	}
	wf.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseReleaseID(args[0])
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		var ex *pipeline.Execution
		switch action {
		case "cancel":
			ex, err = c.CancelRelease(ctx, id, reason)
		case "restart":
			ex, err = c.RestartRelease(ctx, id)
		case "approve":
			ex, err = c.ApproveRelease(ctx, id, stage, comment)
		case "reject":
			ex, err = c.RejectRelease(ctx, id, stage, comment)
		}
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		done := map[string]string{"cancel": "canceled", "restart": "restarted", "approve": "approved", "reject": "rejected"}[action]
		fmt.Fprintf(out, "release order %d %s; now %s\n", ex.ID, done, ex.Status)
		if !wf.wait {
			return nil
		}
		return followRelease(ctx, c, id, wf.timeout, out)
	}
	return cmd
}
