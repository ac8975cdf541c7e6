-- One row per accepted webhook delivery, written before the sender gets its
-- 2xx, so nothing accepted is lost. A redelivery of the same (provider,
-- receiver, delivery_id) is refused by the unique key and acknowledged, not
-- run twice. Pending rows are worked off after a restart.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    provider     TEXT    NOT NULL,
    receiver     TEXT    NOT NULL,
    delivery_id  TEXT    NOT NULL,
    event        TEXT    NOT NULL DEFAULT '',      -- the provider's event type
    received_at  TEXT    NOT NULL,
    headers      TEXT    NOT NULL DEFAULT '{}',    -- JSON of the headers the parser needs
    body         BLOB    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'done', 'failed', 'ignored')),
    outcome      TEXT    NOT NULL DEFAULT '',      -- one line: what processing did
    processed_at TEXT,
    UNIQUE (provider, receiver, delivery_id)
) STRICT;

CREATE INDEX deliveries_pending ON deliveries (state, id);
CREATE INDEX deliveries_recent ON deliveries (received_at DESC, id DESC);
