// Package store is Slipway's embedded database: the record of what happened,
// as opposed to Git, which holds what should be.
//
// It keeps the data that must survive a restart but is not desired state:
// sync history today, and later executions, webhook deliveries and audit
// records. It is SQLite (pure Go, no cgo) in one file next to the server, so a
// single binary needs no database server to run.
//
// The schema evolves through numbered SQL migrations embedded in the binary
// (migrations/NNNN_name.sql). Open applies the ones the file has not seen yet,
// each in its own transaction, and refuses a file written by a newer Slipway
// rather than guess at a schema it does not know.
//
// Writes go through a single connection, so goroutines queue in-process instead
// of failing with SQLITE_BUSY; reads use a separate pool and, thanks to WAL
// mode, do not wait for writers.
package store
