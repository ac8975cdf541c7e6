-- API tokens. The secret itself is never stored, only its SHA-256 (hex), so a
-- copy of the database does not hand out access; a request's token is found
-- by hashing what it presents and looking the hash up.
CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    secret_sha256 TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,              -- viewer, deployer, admin: the API decides
    projects      TEXT    NOT NULL DEFAULT '[]', -- JSON array of project names; ["*"] is all
    created_by    TEXT    NOT NULL DEFAULT '',
    created_at    TEXT    NOT NULL,
    last_used_at  TEXT                           -- NULL until used; updated at most once a minute
) STRICT;
