-- Merged pull requests whose outcome (targets synced and healthy, or not)
-- has not been reported yet; a restarted server reports them.
CREATE TABLE merge_outcomes (
    repo       TEXT NOT NULL,
    number     INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (repo, number)
);
