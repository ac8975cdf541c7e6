-- Image digests a rollback took out of service: image automation and
-- docker triggers do not promote them again.
CREATE TABLE quarantine (
    repository TEXT NOT NULL,
    digest     TEXT NOT NULL,
    tag        TEXT NOT NULL DEFAULT '',
    target     TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    PRIMARY KEY (repository, digest)
);
