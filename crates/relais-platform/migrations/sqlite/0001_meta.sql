-- Deployment-wide key/value facts (deployment id, creation time).
CREATE TABLE relais_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
