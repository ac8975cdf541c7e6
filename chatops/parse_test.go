package chatops

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// cmdResult is the Result for a command.
func cmdResult(c Command) Result { return Result{Command: &c} }

// usageErr is the Result for a usage error of verb.
func usageErr(what string, verb Verb) Result {
	return Result{Reply: "usage error: " + what + "\n\n" + lookup(string(verb)).usage()}
}

// helpErr is the Result for a usage error answered with the help text.
func helpErr(what string) Result {
	return Result{Reply: "usage error: " + what + "\n\n" + helpText}
}

func usageOf(verb Verb) Result { return Result{Reply: lookup(string(verb)).usage()} }

const labelErr = " must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)"

var parseTests = map[string]struct {
	in   string
	want Result
}{
	// Ignored.
	"empty":             {"", Result{}},
	"plain comment":     {"LGTM, ship it!", Result{}},
	"multi-line prose":  {"Looks good.\n\nWe can deploy after lunch.\n", Result{}},
	"slipwayfoo":        {"/slipwayfoo plan", Result{}},
	"slipway mid-line":  {"please /slipway plan", Result{}},
	"quoted line":       {"> /slipway deploy shop release", Result{}},
	"inline code":       {"`/slipway plan`", Result{}},
	"uppercase":         {"/Slipway plan", Result{}},
	"glued quote":       {`/slipway"plan"`, Result{}},
	"fenced only":       {"```\n/slipway plan\n```", Result{}},
	"tilde fence":       {"~~~sh\n/slipway plan\n~~~", Result{}},
	"unclosed fence":    {"```\n/slipway plan", Result{}},
	"indented fence":    {"  ```\n  /slipway plan\n  ```", Result{}},
	"short fence close": {"````\n/slipway plan\n```\n/slipway status\n````", Result{}},

	// Help.
	"bare":             {"/slipway", Result{Reply: helpText}},
	"bare spaces":      {"  /slipway   \t", Result{Reply: helpText}},
	"help":             {"/slipway help", Result{Reply: helpText}},
	"--help":           {"/slipway --help", Result{Reply: helpText}},
	"-h":               {"/slipway -h", Result{Reply: helpText}},
	"help deploy":      {"/slipway help deploy", usageOf(VerbDeploy)},
	"help help":        {"/slipway help help", usageOf(VerbHelp)},
	"--help scale":     {"/slipway --help scale", usageOf(VerbScale)},
	"help -h":          {"/slipway help -h", usageOf(VerbHelp)},
	"deploy --help":    {"/slipway deploy --help", usageOf(VerbDeploy)},
	"rollback -h":      {"/slipway rollback shop/prod -h", usageOf(VerbRollback)},
	"approve --help":   {"/slipway approve --help", usageOf(VerbApprove)},
	"help unknown":     {"/slipway help frobnicate", usageErr(`unknown command "frobnicate"; the commands are plan, deploy, rollback, scale, approve, reject, status, help`, VerbHelp)},
	"help extra":       {"/slipway help deploy now", usageErr(`unexpected argument "now"`, VerbHelp)},
	"help bad flag":    {"/slipway help --all", usageErr(`unknown flag "--all"`, VerbHelp)},
	"help bad quote":   {"/slipway help 'deploy", usageErr(`a single quote (') is not closed`, VerbHelp)},
	"unknown verb":     {"/slipway destroy everything", helpErr(`unknown command "destroy"; the commands are plan, deploy, rollback, scale, approve, reject, status, help`)},
	"verb case":        {"/slipway Plan", helpErr(`unknown command "Plan"; the commands are plan, deploy, rollback, scale, approve, reject, status, help`)},
	"unknown flag":     {"/slipway --force", helpErr(`unknown flag "--force"`)},
	"verb bad quote":   {`/slipway "plan`, helpErr(`a double quote (") is not closed`)},
	"verb trailing \\": {`/slipway \`, helpErr(`the line ends with a backslash (\)`)},

	// plan
	"plan":              {"/slipway plan", cmdResult(Command{Verb: VerbPlan, Raw: "/slipway plan"})},
	"plan app":          {"/slipway plan shop", cmdResult(Command{Verb: VerbPlan, App: "shop", Raw: "/slipway plan shop"})},
	"plan target":       {"/slipway plan shop/prod", cmdResult(Command{Verb: VerbPlan, App: "shop", Target: "prod", Raw: "/slipway plan shop/prod"})},
	"plan bad app":      {"/slipway plan Shop", usageErr(`application "Shop"`+labelErr, VerbPlan)},
	"plan bad target":   {"/slipway plan shop/Prod", usageErr(`target "shop/Prod": target`+labelErr, VerbPlan)},
	"plan empty target": {"/slipway plan shop/", usageErr(`target "shop/": target`+labelErr, VerbPlan)},
	"plan deep target":  {"/slipway plan a/b/c", usageErr(`target "a/b/c": want application/target`, VerbPlan)},
	"plan empty arg":    {`/slipway plan ""`, usageErr(`application ""`+labelErr, VerbPlan)},
	"plan extra":        {"/slipway plan shop prod", usageErr(`unexpected argument "prod"`, VerbPlan)},
	"plan flag":         {"/slipway plan --force", usageErr(`unknown flag "--force"; plan takes no flags`, VerbPlan)},
	"plan short flag":   {"/slipway plan shop -f", usageErr(`unknown flag "-f"; plan takes no flags`, VerbPlan)},
	"plan long app": {"/slipway plan " + strings.Repeat("a", 64),
		usageErr(`application "`+strings.Repeat("a", 60)+`…"`+labelErr, VerbPlan)},

	// deploy
	"deploy": {"/slipway deploy shop release",
		cmdResult(Command{Verb: VerbDeploy, App: "shop", Pipeline: "release", Raw: "/slipway deploy shop release"})},
	"deploy params": {"/slipway deploy shop release version=1.4.2 dry_run= _X=a=b",
		cmdResult(Command{Verb: VerbDeploy, App: "shop", Pipeline: "release",
			Params: map[string]string{"version": "1.4.2", "dry_run": "", "_X": "a=b"},
			Raw:    "/slipway deploy shop release version=1.4.2 dry_run= _X=a=b"})},
	"deploy quoted param": {`/slipway deploy app pipe "msg=hello world"`,
		cmdResult(Command{Verb: VerbDeploy, App: "app", Pipeline: "pipe",
			Params: map[string]string{"msg": "hello world"},
			Raw:    `/slipway deploy app pipe "msg=hello world"`})},
	"deploy quoting": {`/slipway deploy app pipe a='it is' b="say \"hi\" \\o/" c=it\'s d=\\x e=''`,
		cmdResult(Command{Verb: VerbDeploy, App: "app", Pipeline: "pipe",
			Params: map[string]string{"a": "it is", "b": `say "hi" \o/`, "c": "it's", "d": `\x`, "e": ""},
			Raw:    `/slipway deploy app pipe a='it is' b="say \"hi\" \\o/" c=it\'s d=\\x e=''`})},
	"deploy double quote keeps other backslashes": {`/slipway deploy app pipe "p=a\b"`,
		cmdResult(Command{Verb: VerbDeploy, App: "app", Pipeline: "pipe",
			Params: map[string]string{"p": `a\b`},
			Raw:    `/slipway deploy app pipe "p=a\b"`})},
	"deploy pipeline chars": {"/slipway deploy shop Hot_fix-2",
		cmdResult(Command{Verb: VerbDeploy, App: "shop", Pipeline: "Hot_fix-2", Raw: "/slipway deploy shop Hot_fix-2"})},
	"deploy no args":           {"/slipway deploy", usageErr("missing `<app>`", VerbDeploy)},
	"deploy no pipeline":       {"/slipway deploy shop", usageErr("missing `<pipeline>`", VerbDeploy)},
	"deploy params first":      {"/slipway deploy shop version=2", usageErr("missing `<pipeline>` before the parameters", VerbDeploy)},
	"deploy target as app":     {"/slipway deploy shop/prod release", usageErr(`application "shop/prod": want a name, not app/target`, VerbDeploy)},
	"deploy bad app":           {"/slipway deploy -shop release", usageErr(`unknown flag "-shop"; deploy takes no flags`, VerbDeploy)},
	"deploy bad app label":     {"/slipway deploy shop_2 release", usageErr(`application "shop_2"`+labelErr, VerbDeploy)},
	"deploy bad pipeline":      {"/slipway deploy shop 2release", usageErr(`pipeline "2release" must be a letter followed by letters, digits, '_' or '-', at most 63 in all`, VerbDeploy)},
	"deploy pipeline too long": {"/slipway deploy shop " + strings.Repeat("p", 64), usageErr(`pipeline "`+strings.Repeat("p", 60)+`…" must be a letter followed by letters, digits, '_' or '-', at most 63 in all`, VerbDeploy)},
	"deploy pipeline max": {"/slipway deploy shop " + strings.Repeat("p", 63),
		cmdResult(Command{Verb: VerbDeploy, App: "shop", Pipeline: strings.Repeat("p", 63), Raw: "/slipway deploy shop " + strings.Repeat("p", 63)})},
	"deploy not k=v":       {"/slipway deploy shop release now", usageErr(`parameter "now": want key=value`, VerbDeploy)},
	"deploy empty key":     {"/slipway deploy shop release =1", usageErr(`parameter "=1": the key must be a letter or '_' followed by letters, digits or '_'`, VerbDeploy)},
	"deploy bad key":       {"/slipway deploy shop release my-key=1", usageErr(`parameter "my-key=1": the key must be a letter or '_' followed by letters, digits or '_'`, VerbDeploy)},
	"deploy digit key":     {"/slipway deploy shop release 1a=1", usageErr(`parameter "1a=1": the key must be a letter or '_' followed by letters, digits or '_'`, VerbDeploy)},
	"deploy repeated key":  {"/slipway deploy shop release v=1 w=2 v=3", usageErr(`parameter "v" given more than once`, VerbDeploy)},
	"deploy flag":          {"/slipway deploy shop release --force", usageErr(`unknown flag "--force"; deploy takes no flags`, VerbDeploy)},
	"deploy flag value":    {"/slipway deploy shop release --wait=5m", usageErr(`unknown flag "--wait"; deploy takes no flags`, VerbDeploy)},
	"deploy open quote":    {`/slipway deploy app pipe "msg=hello world`, usageErr(`a double quote (") is not closed`, VerbDeploy)},
	"deploy open squote":   {`/slipway deploy app pipe msg='hello`, usageErr(`a single quote (') is not closed`, VerbDeploy)},
	"deploy trailing \\":   {`/slipway deploy app pipe msg=\`, usageErr(`the line ends with a backslash (\)`, VerbDeploy)},
	"deploy control chars": {"/slipway deploy shop release\x00x", usageErr(`pipeline "release\x00x" must be a letter followed by letters, digits, '_' or '-', at most 63 in all`, VerbDeploy)},

	// rollback
	"rollback": {"/slipway rollback shop/prod",
		cmdResult(Command{Verb: VerbRollback, App: "shop", Target: "prod", Raw: "/slipway rollback shop/prod"})},
	"rollback --to": {"/slipway rollback shop/prod --to 41",
		cmdResult(Command{Verb: VerbRollback, App: "shop", Target: "prod", To: "41", Raw: "/slipway rollback shop/prod --to 41"})},
	"rollback --to=": {"/slipway rollback shop/prod --to=3f2a9c1",
		cmdResult(Command{Verb: VerbRollback, App: "shop", Target: "prod", To: "3f2a9c1", Raw: "/slipway rollback shop/prod --to=3f2a9c1"})},
	"rollback --to first": {"/slipway rollback --to '#41' shop/prod",
		cmdResult(Command{Verb: VerbRollback, App: "shop", Target: "prod", To: "#41", Raw: "/slipway rollback --to '#41' shop/prod"})},
	"rollback no target":   {"/slipway rollback", usageErr("missing `<app>/<target>`", VerbRollback)},
	"rollback only --to":   {"/slipway rollback --to 41", usageErr("missing `<app>/<target>`", VerbRollback)},
	"rollback bare app":    {"/slipway rollback shop", usageErr(`target "shop": want application/target`, VerbRollback)},
	"rollback bad app":     {"/slipway rollback Shop/prod", usageErr(`target "Shop/prod": application`+labelErr, VerbRollback)},
	"rollback extra":       {"/slipway rollback shop/prod 41", usageErr(`unexpected argument "41"`, VerbRollback)},
	"rollback --to empty":  {"/slipway rollback shop/prod --to", usageErr("--to needs a revision or release", VerbRollback)},
	"rollback --to= empty": {"/slipway rollback shop/prod --to=", usageErr("--to needs a revision or release", VerbRollback)},
	"rollback --to flag":   {"/slipway rollback shop/prod --to --force", usageErr("--to needs a revision or release", VerbRollback)},
	"rollback --to twice":  {"/slipway rollback shop/prod --to 1 --to=2", usageErr("--to given more than once", VerbRollback)},
	"rollback --force":     {"/slipway rollback shop/prod --force", usageErr(`unknown flag "--force"; rollback only takes --to`, VerbRollback)},
	"rollback -to":         {"/slipway rollback shop/prod -to 4", usageErr(`unknown flag "-to"; rollback only takes --to`, VerbRollback)},

	// scale
	"scale": {"/slipway scale shop/prod web 3",
		cmdResult(Command{Verb: VerbScale, App: "shop", Target: "prod", Workload: "web", Replicas: 3, Raw: "/slipway scale shop/prod web 3"})},
	"scale zero": {"/slipway scale shop/prod deployment/web 0",
		cmdResult(Command{Verb: VerbScale, App: "shop", Target: "prod", Workload: "deployment/web", Replicas: 0, Raw: "/slipway scale shop/prod deployment/web 0"})},
	"scale max": {"/slipway scale shop/prod web 1000",
		cmdResult(Command{Verb: VerbScale, App: "shop", Target: "prod", Workload: "web", Replicas: 1000, Raw: "/slipway scale shop/prod web 1000"})},
	"scale no target":      {"/slipway scale", usageErr("missing `<app>/<target>`", VerbScale)},
	"scale no workload":    {"/slipway scale shop/prod", usageErr("missing `<workload>`", VerbScale)},
	"scale no replicas":    {"/slipway scale shop/prod web", usageErr("missing `<replicas>`", VerbScale)},
	"scale bare app":       {"/slipway scale shop web 3", usageErr(`target "shop": want application/target`, VerbScale)},
	"scale empty workload": {`/slipway scale shop/prod "" 3`, usageErr("`<workload>` must not be empty", VerbScale)},
	"scale too many":       {"/slipway scale shop/prod web 1001", usageErr("`<replicas>` must be a whole number from 0 to 1000, not \"1001\"", VerbScale)},
	"scale huge":           {"/slipway scale shop/prod web 99999999999999999999", usageErr("`<replicas>` must be a whole number from 0 to 1000, not \"99999999999999999999\"", VerbScale)},
	"scale negative":       {"/slipway scale shop/prod web -1", usageErr("`<replicas>` must be a whole number from 0 to 1000, not \"-1\"", VerbScale)},
	"scale plus":           {"/slipway scale shop/prod web +1", usageErr("`<replicas>` must be a whole number from 0 to 1000, not \"+1\"", VerbScale)},
	"scale word":           {"/slipway scale shop/prod web three", usageErr("`<replicas>` must be a whole number from 0 to 1000, not \"three\"", VerbScale)},
	"scale fraction":       {"/slipway scale shop/prod web 1.5", usageErr("`<replicas>` must be a whole number from 0 to 1000, not \"1.5\"", VerbScale)},
	"scale extra":          {"/slipway scale shop/prod web 3 now", usageErr(`unexpected argument "now"`, VerbScale)},
	"scale flag":           {"/slipway scale shop/prod web 3 --wait", usageErr(`unknown flag "--wait"; scale takes no flags`, VerbScale)},

	// approve and reject
	"approve": {"/slipway approve 42",
		cmdResult(Command{Verb: VerbApprove, Release: 42, Raw: "/slipway approve 42"})},
	"approve hash comment": {"/slipway approve #42 looks good, don't wait  for me ",
		cmdResult(Command{Verb: VerbApprove, Release: 42, Comment: "looks good, don't wait  for me", Raw: "/slipway approve #42 looks good, don't wait  for me"})},
	"approve flag-like comment": {"/slipway approve 7 --force",
		cmdResult(Command{Verb: VerbApprove, Release: 7, Comment: "--force", Raw: "/slipway approve 7 --force"})},
	"approve max": {"/slipway approve 9223372036854775807",
		cmdResult(Command{Verb: VerbApprove, Release: 9223372036854775807, Raw: "/slipway approve 9223372036854775807"})},
	"reject": {"/slipway reject 42 not on a Friday",
		cmdResult(Command{Verb: VerbReject, Release: 42, Comment: "not on a Friday", Raw: "/slipway reject 42 not on a Friday"})},
	"reject quoted release": {`/slipway reject "#42" "as typed"`,
		cmdResult(Command{Verb: VerbReject, Release: 42, Comment: `"as typed"`, Raw: `/slipway reject "#42" "as typed"`})},
	"approve missing":   {"/slipway approve", usageErr("missing `<release>`", VerbApprove)},
	"reject missing":    {"/slipway reject  ", usageErr("missing `<release>`", VerbReject)},
	"approve zero":      {"/slipway approve 0", usageErr("`<release>` must be a release number such as 42 or #42, not \"0\"", VerbApprove)},
	"approve hash only": {"/slipway approve #", usageErr("`<release>` must be a release number such as 42 or #42, not \"#\"", VerbApprove)},
	"approve two hash":  {"/slipway approve ##4", usageErr("`<release>` must be a release number such as 42 or #42, not \"##4\"", VerbApprove)},
	"approve negative":  {"/slipway approve -4", usageErr("`<release>` must be a release number such as 42 or #42, not \"-4\"", VerbApprove)},
	"approve overflow":  {"/slipway approve 9223372036854775808", usageErr("`<release>` must be a release number such as 42 or #42, not \"9223372036854775808\"", VerbApprove)},
	"approve word":      {"/slipway approve latest", usageErr("`<release>` must be a release number such as 42 or #42, not \"latest\"", VerbApprove)},
	"reject flag":       {"/slipway reject --force 42", usageErr(`unknown flag "--force"`, VerbReject)},
	"reject open quote": {`/slipway reject "42`, usageErr(`a double quote (") is not closed`, VerbReject)},

	// status
	"status":        {"/slipway status", cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"status app":    {"/slipway status shop", cmdResult(Command{Verb: VerbStatus, App: "shop", Raw: "/slipway status shop"})},
	"status target": {"/slipway status shop/prod", usageErr(`application "shop/prod": want a name, not app/target`, VerbStatus)},
	"status bad":    {"/slipway status sh.op", usageErr(`application "sh.op"`+labelErr, VerbStatus)},
	"status extra":  {"/slipway status shop cart", usageErr(`unexpected argument "cart"`, VerbStatus)},
	"status flag":   {"/slipway status --all", usageErr(`unknown flag "--all"; status takes no flags`, VerbStatus)},

	// Where the command line is.
	"leading spaces": {"   \t/slipway status", cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"tab separated":  {"/slipway\tstatus\tshop", cmdResult(Command{Verb: VerbStatus, App: "shop", Raw: "/slipway\tstatus\tshop"})},
	"after prose": {"Thanks! Let's try it:\n\n/slipway plan shop\n\nThen we'll see.",
		cmdResult(Command{Verb: VerbPlan, App: "shop", Raw: "/slipway plan shop"})},
	"first only": {"/slipway plan shop\n/slipway deploy shop release",
		cmdResult(Command{Verb: VerbPlan, App: "shop", Raw: "/slipway plan shop"})},
	"first only, even if bad": {"/slipway plan Shop\n/slipway plan shop",
		usageErr(`application "Shop"`+labelErr, VerbPlan)},
	"slipwayfoo then command": {"/slipwayfoo\n/slipway status",
		cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"CRLF": {"Please\r\n/slipway deploy shop release v=1\r\nthanks\r\n",
		cmdResult(Command{Verb: VerbDeploy, App: "shop", Pipeline: "release", Params: map[string]string{"v": "1"}, Raw: "/slipway deploy shop release v=1"})},
	"lone CR": {"Please\r/slipway status\rthanks",
		cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"CRLF fence": {"```\r\n/slipway plan\r\n```\r\n/slipway status\r\n",
		cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"after fence": {"Usage:\n```\n/slipway plan [app[/target]]\n```\n/slipway plan shop/prod",
		cmdResult(Command{Verb: VerbPlan, App: "shop", Target: "prod", Raw: "/slipway plan shop/prod"})},
	"fence with info": {"```bash\n/slipway deploy x y\n```\n/slipway status",
		cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"inline code span is not a fence": {"```/slipway plan```\n/slipway status",
		cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"tilde fence needs tilde close": {"~~~\n```\n/slipway plan\n~~~\n/slipway status",
		cmdResult(Command{Verb: VerbStatus, Raw: "/slipway status"})},
	"trailing whitespace": {"/slipway status shop \t ",
		cmdResult(Command{Verb: VerbStatus, App: "shop", Raw: "/slipway status shop"})},
	"escaped space": {`/slipway deploy app pipe msg=hello\ world`,
		cmdResult(Command{Verb: VerbDeploy, App: "app", Pipeline: "pipe", Params: map[string]string{"msg": "hello world"}, Raw: `/slipway deploy app pipe msg=hello\ world`})},
	"unicode space": {"/slipway\u00a0status\u2003shop",
		cmdResult(Command{Verb: VerbStatus, App: "shop", Raw: "/slipway\u00a0status\u2003shop"})},
}

func TestParse(t *testing.T) {
	for name, tc := range parseTests {
		t.Run(name, func(t *testing.T) {
			got := Parse(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
			checkInvariants(t, tc.in, got)
		})
	}
}

// checkInvariants checks what holds of every Result.
func checkInvariants(t *testing.T, in string, r Result) {
	t.Helper()
	if r.Command != nil && r.Reply != "" {
		t.Fatalf("Parse(%q) returned both a command and a reply: %+v", in, r)
	}
	if r.Reply != "" {
		// Slipway's replies never trigger a command themselves.
		if again := Parse(r.Reply); again != (Result{}) {
			t.Errorf("Parse(%q) replied %q, which parses as %+v", in, r.Reply, again)
		}
	}
	c := r.Command
	if c == nil {
		return
	}
	switch c.Verb {
	case VerbPlan, VerbDeploy, VerbRollback, VerbScale, VerbApprove, VerbReject, VerbStatus:
	default:
		t.Errorf("Parse(%q): unexpected verb %q", in, c.Verb)
	}
	if c.Replicas < 0 || c.Replicas > maxReplicas {
		t.Errorf("Parse(%q): replicas %d out of range", in, c.Replicas)
	}
	if (c.Verb == VerbApprove || c.Verb == VerbReject) != (c.Release > 0) {
		t.Errorf("Parse(%q): release %d for %s", in, c.Release, c.Verb)
	}
	if !strings.HasPrefix(c.Raw, prefix) {
		t.Errorf("Parse(%q): raw %q", in, c.Raw)
	}
	if diff := cmp.Diff(r, Parse(c.Raw)); diff != "" {
		t.Errorf("Parse(%q) and Parse(its Raw) differ (-first +again):\n%s", in, diff)
	}
}

// TestReplies pins the full text of the replies, which are posted as
// comments; run with -update to rewrite them after a deliberate change.
func TestReplies(t *testing.T) {
	for _, tc := range []struct{ golden, in string }{
		{"help.golden", "/slipway help"},
		{"usage_deploy.golden", "/slipway help deploy"},
		{"usage_error.golden", "/slipway scale shop/prod web lots"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got := Parse(tc.in).Reply
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Parse(%q).Reply (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestLexer(t *testing.T) {
	for in, want := range map[string][]string{
		"":                 nil,
		"  a  b\tc ":       {"a", "b", "c"},
		`'a b' "c d" e\ f`: {"a b", "c d", "e f"},
		`'' ""`:            {"", ""},
		`a'b'"c"d`:         {"abcd"},
		`"\"\\\n"`:         {`"\\n`},
		`'\'`:              {`\`},
		`\'\"\\`:           {`'"\`},
		"é'ü' \u00a0x":     {"éü", "x"},
		"\xff\xfe '\xff'":  {"\xff\xfe", "\xff"},
	} {
		lx := &lexer{s: in}
		got, err := lx.all()
		if err != nil {
			t.Errorf("lexing %q: %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lexing %q (-want +got):\n%s", in, diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	f.Add(helpText)
	f.Fuzz(func(t *testing.T, in string) {
		checkInvariants(t, in, Parse(in))
	})
}
