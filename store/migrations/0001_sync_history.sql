-- One row per sync of an application's target: what revision was applied,
-- why, how it ended and what it changed. Times are UTC text in a fixed-width
-- RFC 3339 form, so they sort as strings and read well in the sqlite3 shell.
CREATE TABLE sync_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused after a prune
    application  TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    revision     TEXT    NOT NULL DEFAULT '',
    triggered_by TEXT    NOT NULL DEFAULT '',
    started_at   TEXT    NOT NULL,
    finished_at  TEXT,                               -- NULL while unknown
    result       TEXT    NOT NULL CHECK (result IN ('succeeded', 'failed', 'skipped')),
    health       TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT '',
    changes      TEXT                                -- JSON array of changes, NULL when none
) STRICT;

CREATE INDEX sync_history_by_target
    ON sync_history (application, target, started_at DESC, id DESC);
