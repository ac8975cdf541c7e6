-- The normalised events of a delivery (JSON), so a delivery accepted before a
-- crash is processed afterwards without parsing the provider's payload again.
ALTER TABLE deliveries ADD COLUMN events TEXT NOT NULL DEFAULT '[]';
