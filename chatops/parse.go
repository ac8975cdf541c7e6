package chatops

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipwaycd/slipway/config"
)

// Result is what a comment asks of Slipway: exactly one of Command, Reply or
// neither, in which case the comment is to be ignored.
type Result struct {
	// Command is the command to run, or nil.
	Command *Command
	// Reply is the help text, a command's usage or a usage error, in
	// Markdown, to post back as is; or empty.
	Reply string
}

// Verb names a command.
type Verb string

// The verbs. VerbHelp never appears in a [Command]: help is answered with a
// Reply.
const (
	VerbPlan     Verb = "plan"
	VerbDeploy   Verb = "deploy"
	VerbRollback Verb = "rollback"
	VerbScale    Verb = "scale"
	VerbApprove  Verb = "approve"
	VerbReject   Verb = "reject"
	VerbStatus   Verb = "status"
	VerbHelp     Verb = "help"
)

// Command is a syntactically valid command. Which fields are set depends on
// the Verb:
//
//	plan [App[/Target]]
//	deploy App Pipeline [Params]
//	rollback App/Target [--to To]
//	scale App/Target Workload Replicas
//	approve|reject Release [Comment]
//	status [App]
type Command struct {
	Verb Verb
	// App and Target are DNS-1123 labels.
	App, Target string
	// Pipeline is the pipeline to deploy: a letter, then letters, digits,
	// '_' or '-', at most 63 in all.
	Pipeline string
	// Params are deploy's key=value arguments, nil if none were given.
	Params map[string]string
	// To is rollback's --to: a revision or release, as typed. Empty means
	// the previous release.
	To string
	// Workload is the workload to scale, as typed (not empty).
	Workload string
	// Replicas is scale's replica count, 0 to 1000.
	Replicas int
	// Release is the release to approve or reject, positive.
	Release int64
	// Comment is the rest of an approve or reject line after the release,
	// as typed but trimmed; empty if none.
	Comment string
	// Raw is the command line as typed, trimmed of surrounding whitespace.
	// Parse(Raw) gives this same Command.
	Raw string
}

// prefix starts every command line.
const prefix = "/slipway"

const (
	maxReplicas    = 1000
	maxPipelineLen = 63
)

var (
	pipelineRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	paramKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Parse reads a comment and says what it asks of Slipway; see the package
// documentation for the rules.
func Parse(body string) Result {
	line, ok := commandLine(body)
	if !ok {
		return Result{}
	}
	return parseLine(line)
}

// commandLine returns the first line of body, outside fenced code blocks,
// that invokes Slipway, trimmed of surrounding whitespace.
func commandLine(body string) (string, bool) {
	fence := "" // the opening fence's run of ` or ~ while inside a fenced block
	for body != "" {
		var line string
		line, body = nextLine(body)
		t := strings.TrimLeftFunc(line, unicode.IsSpace)
		if fence != "" {
			if closesFence(t, fence) {
				fence = ""
			}
			continue
		}
		if f, ok := opensFence(t); ok {
			fence = f
			continue
		}
		if isCommandLine(t) {
			return strings.TrimRightFunc(t, unicode.IsSpace), true
		}
	}
	return "", false
}

// nextLine splits s at its first line ending: "\n", "\r\n" or a lone "\r",
// as in CommonMark.
func nextLine(s string) (line, rest string) {
	i := strings.IndexAny(s, "\r\n")
	if i < 0 {
		return s, ""
	}
	if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
		return s[:i], s[i+2:]
	}
	return s[:i], s[i+1:]
}

// opensFence reports whether a left-trimmed line opens a fenced code block,
// and returns its fence. Unlike CommonMark, any indentation is allowed: seeing
// a fence too eagerly can only ignore a command, never start one.
func opensFence(t string) (string, bool) {
	if t == "" || (t[0] != '`' && t[0] != '~') {
		return "", false
	}
	n := runLen(t, t[0])
	if n < 3 {
		return "", false
	}
	// "```x```" is an inline code span, not a fence.
	if t[0] == '`' && strings.IndexByte(t[n:], '`') >= 0 {
		return "", false
	}
	return t[:n], true
}

// closesFence reports whether a left-trimmed line closes the block fence
// opened: at least as many of the same character, then only whitespace.
func closesFence(t, fence string) bool {
	n := runLen(t, fence[0])
	return n >= len(fence) && strings.TrimSpace(t[n:]) == ""
}

// runLen is the number of c at the start of s.
func runLen(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

// isCommandLine reports whether a left-trimmed line is "/slipway", alone or
// followed by whitespace.
func isCommandLine(t string) bool {
	rest, ok := strings.CutPrefix(t, prefix)
	if !ok {
		return false
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return rest == "" || unicode.IsSpace(r)
}

// parseLine parses a trimmed command line.
func parseLine(raw string) Result {
	lx := &lexer{s: raw[len(prefix):]}
	tok, ok, err := lx.next()
	if err != nil {
		return usageError(err.Error(), helpText)
	}
	if !ok || isHelpFlag(tok) || tok == string(VerbHelp) {
		return parseHelp(lx)
	}
	sp := lookup(tok)
	if sp == nil {
		if isFlag(tok) {
			return usageError("unknown flag "+quote(tok), helpText)
		}
		return usageError(fmt.Sprintf("unknown command %s; the commands are %s", quote(tok), verbList()), helpText)
	}
	var cmd *Command
	var what string
	if sp.verb == VerbApprove || sp.verb == VerbReject {
		cmd, what, err = parseDecision(sp.verb, lx)
	} else {
		var args []string
		if args, err = lx.all(); err == nil {
			cmd, what, err = parseArgs(sp.verb, args)
		}
	}
	switch {
	case errors.Is(err, errHelp):
		return Result{Reply: sp.usage()}
	case err != nil:
		return usageError(err.Error(), sp.usage())
	case what != "":
		return usageError(what, sp.usage())
	}
	cmd.Raw = raw
	return Result{Command: cmd}
}

// errHelp asks for a command's usage, by -h or --help.
var errHelp = errors.New("help requested")

// parseHelp parses the arguments of help (or of "/slipway" alone, -h or
// --help).
func parseHelp(lx *lexer) Result {
	helpUsage := lookup(string(VerbHelp)).usage()
	args, err := lx.all()
	switch {
	case err != nil:
		return usageError(err.Error(), helpUsage)
	case len(args) == 0:
		return Result{Reply: helpText}
	case len(args) > 1:
		return usageError("unexpected argument "+quote(args[1]), helpUsage)
	case isHelpFlag(args[0]):
		return Result{Reply: helpUsage}
	case isFlag(args[0]):
		return usageError("unknown flag "+quote(args[0]), helpUsage)
	}
	sp := lookup(args[0])
	if sp == nil {
		return usageError(fmt.Sprintf("unknown command %s; the commands are %s", quote(args[0]), verbList()), helpUsage)
	}
	return Result{Reply: sp.usage()}
}

// parseDecision parses approve and reject. The comment is not split into
// arguments: it is the rest of the line as typed.
func parseDecision(verb Verb, lx *lexer) (*Command, string, error) {
	tok, ok, err := lx.next()
	switch {
	case err != nil:
		return nil, "", err
	case !ok:
		return nil, "missing `<release>`", nil
	case isHelpFlag(tok):
		return nil, "", errHelp
	case isFlag(tok):
		return nil, "unknown flag " + quote(tok), nil
	}
	release, what := parseRelease(tok)
	if what != "" {
		return nil, what, nil
	}
	return &Command{Verb: verb, Release: release, Comment: lx.rest()}, "", nil
}

// parseArgs parses the arguments of every verb but help, approve and
// reject. It returns either a command, or what is wrong, or errHelp.
func parseArgs(verb Verb, args []string) (*Command, string, error) {
	cmd := &Command{Verb: verb}
	var pos []string
	toSeen := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !isFlag(a) {
			pos = append(pos, a)
			continue
		}
		if isHelpFlag(a) {
			return nil, "", errHelp
		}
		name, value, hasValue := strings.Cut(a, "=")
		if verb != VerbRollback || name != "--to" {
			if verb == VerbRollback {
				return nil, fmt.Sprintf("unknown flag %s; rollback only takes --to", quote(name)), nil
			}
			return nil, fmt.Sprintf("unknown flag %s; %s takes no flags", quote(name), verb), nil
		}
		if toSeen {
			return nil, "--to given more than once", nil
		}
		toSeen = true
		if !hasValue {
			if i+1 == len(args) || isFlag(args[i+1]) {
				return nil, "--to needs a revision or release", nil
			}
			i++
			value = args[i]
		}
		if value == "" {
			return nil, "--to needs a revision or release", nil
		}
		cmd.To = value
	}

	var want []string // the positional arguments, for "missing" errors
	switch verb {
	case VerbPlan:
		if len(pos) > 0 {
			if what := cmd.setAppOrTarget(pos[0]); what != "" {
				return nil, what, nil
			}
		}
		want = []string{"[app[/target]]"}
	case VerbStatus:
		if len(pos) > 0 {
			if what := checkApp(pos[0]); what != "" {
				return nil, what, nil
			}
			cmd.App = pos[0]
		}
		want = []string{"[app]"}
	case VerbDeploy:
		want = []string{"<app>", "<pipeline>"}
		if len(pos) > 0 {
			if what := checkApp(pos[0]); what != "" {
				return nil, what, nil
			}
			cmd.App = pos[0]
		}
		if len(pos) > 1 {
			if strings.Contains(pos[1], "=") {
				return nil, "missing `<pipeline>` before the parameters", nil
			}
			if what := checkPipeline(pos[1]); what != "" {
				return nil, what, nil
			}
			cmd.Pipeline = pos[1]
		}
		if len(pos) > 2 {
			params, what := parseParams(pos[2:])
			if what != "" {
				return nil, what, nil
			}
			cmd.Params = params
			want = nil // every further argument is a parameter
		}
	case VerbRollback:
		want = []string{"<app>/<target>"}
		if len(pos) > 0 {
			if what := cmd.setTarget(pos[0]); what != "" {
				return nil, what, nil
			}
		}
	case VerbScale:
		want = []string{"<app>/<target>", "<workload>", "<replicas>"}
		if len(pos) > 0 {
			if what := cmd.setTarget(pos[0]); what != "" {
				return nil, what, nil
			}
		}
		if len(pos) > 1 {
			if pos[1] == "" {
				return nil, "`<workload>` must not be empty", nil
			}
			cmd.Workload = pos[1]
		}
		if len(pos) > 2 {
			n, what := parseReplicas(pos[2])
			if what != "" {
				return nil, what, nil
			}
			cmd.Replicas = n
		}
	}
	for i, w := range want {
		if i >= len(pos) && !strings.HasPrefix(w, "[") {
			return nil, "missing `" + w + "`", nil
		}
	}
	if want != nil && len(pos) > len(want) {
		return nil, "unexpected argument " + quote(pos[len(want)]), nil
	}
	return cmd, "", nil
}

// setAppOrTarget sets App, and Target if s is app/target.
func (c *Command) setAppOrTarget(s string) string {
	if strings.Contains(s, "/") {
		return c.setTarget(s)
	}
	if what := checkApp(s); what != "" {
		return what
	}
	c.App = s
	return ""
}

// setTarget sets App and Target from app/target.
func (c *Command) setTarget(s string) string {
	ref, err := config.ParseTargetRef(s)
	if err != nil {
		return err.Error()
	}
	c.App, c.Target = ref.App, ref.Target
	return ""
}

// checkApp says what is wrong with an application name, if anything. The
// rule is config's, for the application of a target reference.
func checkApp(s string) string {
	if strings.Contains(s, "/") {
		return fmt.Sprintf("application %s: want a name, not app/target", quote(s))
	}
	if len(validation.IsDNS1123Label(s)) > 0 {
		return fmt.Sprintf("application %s must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)", quote(s))
	}
	return ""
}

// checkPipeline says what is wrong with a pipeline name, if anything.
func checkPipeline(s string) string {
	if len(s) > maxPipelineLen || !pipelineRE.MatchString(s) {
		return fmt.Sprintf("pipeline %s must be a letter followed by letters, digits, '_' or '-', at most %d in all", quote(s), maxPipelineLen)
	}
	return ""
}

// parseParams parses deploy's key=value arguments.
func parseParams(args []string) (map[string]string, string) {
	params := make(map[string]string, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, fmt.Sprintf("parameter %s: want key=value", quote(a))
		case !paramKeyRE.MatchString(k):
			return nil, fmt.Sprintf("parameter %s: the key must be a letter or '_' followed by letters, digits or '_'", quote(a))
		}
		if _, dup := params[k]; dup {
			return nil, fmt.Sprintf("parameter %s given more than once", quote(k))
		}
		params[k] = v
	}
	return params, ""
}

// parseReplicas parses scale's replica count.
func parseReplicas(s string) (int, string) {
	if s != "" && len(s) <= 4 && isDigits(s) {
		if n, _ := strconv.Atoi(s); n <= maxReplicas {
			return n, ""
		}
	}
	return 0, fmt.Sprintf("`<replicas>` must be a whole number from 0 to %d, not %s", maxReplicas, quote(s))
}

// parseRelease parses a release number, with an optional leading '#'.
func parseRelease(s string) (int64, string) {
	d := strings.TrimPrefix(s, "#")
	if d != "" && isDigits(d) {
		if n, err := strconv.ParseInt(d, 10, 64); err == nil && n > 0 {
			return n, ""
		}
	}
	return 0, fmt.Sprintf("`<release>` must be a release number such as 42 or #42, not %s", quote(s))
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isFlag reports whether an argument is a flag: "-" followed by anything but
// a digit, so that "-1" is a (bad) number and "-" a (bad) name.
func isFlag(s string) bool {
	return len(s) > 1 && s[0] == '-' && (s[1] < '0' || s[1] > '9')
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "--help"
}

// usageError is the reply to a malformed command: what is wrong, then the
// usage of the command.
func usageError(what, usage string) Result {
	const maxWhat = 300
	if len(what) > maxWhat {
		what = truncate(what, maxWhat)
	}
	return Result{Reply: "usage error: " + what + "\n\n" + usage}
}

// quote quotes an argument for a reply, escaping control characters and
// shortening it if long.
func quote(s string) string {
	return strconv.Quote(truncate(s, 60))
}

// truncate shortens s to at most n bytes, on a rune boundary, marking the
// cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// lexer splits a command line into arguments like a shell: whitespace
// separates them; '…' quotes literally; "…" quotes, with \" and \\ escaped;
// outside quotes a backslash escapes the next character.
type lexer struct {
	s   string
	pos int
}

// next returns the next argument, or false at the end of the line.
func (l *lexer) next() (string, bool, error) {
	s, i := l.s, l.pos
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += n
	}
	l.pos = i
	if i == len(s) {
		return "", false, nil
	}
	var b strings.Builder
loop:
	for i < len(s) {
		switch c := s[i]; c {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", false, errors.New("a single quote (') is not closed")
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case '"':
			i++
			for {
				if i == len(s) {
					return "", false, errors.New(`a double quote (") is not closed`)
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
					c = s[i]
				}
				b.WriteByte(c)
				i++
			}
		case '\\':
			if i+1 == len(s) {
				return "", false, errors.New(`the line ends with a backslash (\)`)
			}
			_, n := utf8.DecodeRuneInString(s[i+1:])
			b.WriteString(s[i+1 : i+1+n])
			i += 1 + n
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				break loop
			}
			b.WriteString(s[i : i+n])
			i += n
		}
	}
	l.pos = i
	return b.String(), true, nil
}

// all returns the remaining arguments.
func (l *lexer) all() ([]string, error) {
	var args []string
	for {
		a, ok, err := l.next()
		if err != nil || !ok {
			return args, err
		}
		args = append(args, a)
	}
}

// rest returns the rest of the line, as typed, without leading whitespace.
func (l *lexer) rest() string {
	return strings.TrimLeftFunc(l.s[l.pos:], unicode.IsSpace)
}

// spec describes a command for help and usage replies.
type spec struct {
	verb    Verb
	syntax  string // after "/slipway "
	summary string // one line
	example string // after "/slipway "
}

var specs = []spec{
	{VerbPlan, "plan [app[/target]]", "Show what Slipway would change: everywhere, for one app or for one target.", "plan shop/prod"},
	{VerbDeploy, "deploy <app> <pipeline> [key=value...]", "Run one of an app's pipelines, with optional parameters.", `deploy shop release version=1.4.2 "note=hello world"`},
	{VerbRollback, "rollback <app>/<target> [--to <revision|release>]", "Roll a target back to its previous release, or to the one given.", "rollback shop/prod --to 41"},
	{VerbScale, "scale <app>/<target> <workload> <replicas>", "Set the replicas (0 to 1000) of a workload in a target.", "scale shop/prod web 3"},
	{VerbApprove, "approve <release> [comment...]", "Approve a release that waits for approval, with an optional comment.", "approve #42 looks good"},
	{VerbReject, "reject <release> [comment...]", "Reject a release that waits for approval, with an optional comment.", "reject 42 not on a Friday"},
	{VerbStatus, "status [app]", "Show the state of every app, or of one.", "status shop"},
	{VerbHelp, "help [command]", "Show the commands, or how to use one.", "help deploy"},
}

// lookup returns the spec of a verb, or nil.
func lookup(verb string) *spec {
	for i := range specs {
		if string(specs[i].verb) == verb {
			return &specs[i]
		}
	}
	return nil
}

// verbList lists the verbs for an error message.
func verbList() string {
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = string(sp.verb)
	}
	return strings.Join(names, ", ")
}

// usage is a command's usage reply. Command lines appear only in fenced
// blocks, so that a reply never triggers a command itself.
func (sp *spec) usage() string {
	return "```\n" + prefix + " " + sp.syntax + "\n```\n" +
		sp.summary + " For example:\n\n```\n" + prefix + " " + sp.example + "\n```\n"
}

// helpText is the reply to "/slipway" and "/slipway help".
var helpText = func() string {
	var b strings.Builder
	b.WriteString("**Slipway commands.** Comment one on a line of its own; only the first in a comment counts.\n\n```\n")
	for _, sp := range specs {
		b.WriteString(prefix + " " + sp.syntax + "\n")
	}
	b.WriteString("```\n\n")
	for _, sp := range specs {
		fmt.Fprintf(&b, "- `%s`: %s\n", sp.verb, sp.summary)
	}
	return b.String()
}()
