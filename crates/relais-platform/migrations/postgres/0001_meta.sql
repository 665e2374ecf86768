-- Deployment-wide key/value facts (deployment id, creation time).
CREATE TABLE relais_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
