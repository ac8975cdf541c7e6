// Package chatops parses Slipway's chat-ops commands out of pull request
// and issue comments, in the manner of Atlantis's comment parser.
//
// A command is a line of the comment that starts with "/slipway", after
// optional leading whitespace, for example:
//
//	/slipway plan shop/prod
//	/slipway deploy shop release version=1.4.2 "note=hello world"
//	/slipway rollback shop/prod --to 41
//	/slipway scale shop/prod web 3
//	/slipway approve #42 looks good to me
//	/slipway reject 42
//	/slipway status shop
//	/slipway help deploy
//
// Only the first such line counts and the rest of the comment is ignored, so
// a command can be explained in the same comment. Lines inside fenced code
// blocks (``` or ~~~) never count, nor do quoted lines ("> /slipway …"), so
// Slipway's own replies, which show usage in fenced blocks, never trigger a
// command. "/slipwayfoo" is not a command.
//
// [Parse] is pure: it reads only the comment it is given and has exactly
// three outcomes, held in a [Result]:
//
//   - a [Command] to run, syntactically valid: names are well formed,
//     numbers in range. Whether the app, target, pipeline or release exists,
//     and whether the commenter may run the command, is for the caller.
//   - a Reply to post back as is: the help text, one command's usage, or a
//     "usage error: …" naming what is wrong followed by that command's usage.
//   - neither, when the comment holds no command: ignore it.
//
// Arguments are split like a shell would: whitespace separates them, '…'
// and "…" quote (a backslash escapes " and \ inside double quotes), and a
// backslash outside quotes escapes the next character. An unterminated
// quote is a usage error. The comment of approve and reject is not split:
// it is the rest of the line after the release as typed, so apostrophes are
// fine there.
package chatops
