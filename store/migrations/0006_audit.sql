-- Who did what, when, and how it ended: API actions and chat-ops commands,
-- including the ones that were denied. Rows are only ever added.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT    NOT NULL,
    actor   TEXT    NOT NULL,            -- "token:ci", "gitea:alice"
    action  TEXT    NOT NULL,            -- "release.create", "chatops.rollback"
    subject TEXT    NOT NULL DEFAULT '', -- "flaskapp/deployTesting", "release 42"
    outcome TEXT    NOT NULL DEFAULT '', -- "ok", "denied: …", "error: …"
    detail  TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_log_recent ON audit_log (at DESC, id DESC);
