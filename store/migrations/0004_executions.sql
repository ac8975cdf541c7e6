-- One row per pipeline execution (a release order). The store does not know
-- the pipeline types: it keeps the columns that lists filter by, and the
-- execution itself as a JSON document owned by package pipeline, rewritten
-- at every state change so a restarted server resumes where it was.
CREATE TABLE executions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: links and logs name it
    application TEXT    NOT NULL,
    pipeline    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    -- What started it, when that must start it only once (a webhook
    -- delivery, a parent stage). NULL when none: UNIQUE lets NULLs repeat.
    dedup_key   TEXT    UNIQUE,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    doc         TEXT    NOT NULL                  -- JSON
) STRICT;

-- The console's lists: one pipeline's or application's executions, newest
-- first, paged by id; and the unfinished ones, resumed after a restart.
CREATE INDEX executions_by_pipeline ON executions (application, pipeline, id);
CREATE INDEX executions_by_status ON executions (status);
