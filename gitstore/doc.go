// Package gitstore is Slipway's only door to the config repo: it keeps a bare
// clone of one branch in a cache directory (so a restart does not re-clone),
// reads files at any revision without a checkout, and writes desired state as
// commits by a bot identity with trailers that name their cause.
//
// Writes have compare-and-swap semantics: Commit builds a commit on the head
// it fetched and pushes it only if the remote branch still points at that
// head. If another writer moved the head in between, Commit fetches, runs the
// Change again on the new head and pushes again, so concurrent writers never
// lose an update. A Change must therefore be a pure function of what it reads
// from its Worktree.
//
// Everything works at the object level with go-git: trees and commits are
// built in memory and written as objects, and nothing is ever checked out.
// Remotes on a local path (or file://) are read and written in-process,
// without a git binary, and the branch is updated under a file lock with an
// old-value check, so several processes can share one local config repo.
package gitstore
