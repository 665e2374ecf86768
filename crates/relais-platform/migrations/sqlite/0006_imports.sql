-- Imports: one record per uploaded file, its row errors and warnings, and the table of the
-- built-in `sample` import type. Times are microseconds since the epoch.
CREATE TABLE relais_imports (
    id              BLOB PRIMARY KEY NOT NULL,   -- UUIDv7; also names the stored file
    type            TEXT NOT NULL,
    status          TEXT NOT NULL,               -- pending, running, succeeded, partial, failed, cancelled
    dry_run         BOOLEAN NOT NULL,
    mode            TEXT NOT NULL,
    scope           TEXT,
    sheet           TEXT,
    file_name       TEXT NOT NULL,               -- as the client named it (never used as a path)
    file_size       BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    format          TEXT NOT NULL,               -- csv, xlsx, xls
    encoding        TEXT,                        -- CSV: utf-8, utf-8-bom, windows-1252
    max_rows        BIGINT,                      -- row limit checked before writing (NULL: none)
    uploader        TEXT,
    task_id         BLOB,
    attempts        INTEGER NOT NULL DEFAULT 0,
    rows_read       BIGINT NOT NULL DEFAULT 0,
    rows_accepted   BIGINT NOT NULL DEFAULT 0,
    rows_rejected   BIGINT NOT NULL DEFAULT 0,
    warnings        BIGINT NOT NULL DEFAULT 0,
    inserted        BIGINT NOT NULL DEFAULT 0,
    updated         BIGINT NOT NULL DEFAULT 0,
    unchanged       BIGINT NOT NULL DEFAULT 0,
    deleted         BIGINT NOT NULL DEFAULT 0,
    resume_offset   BIGINT NOT NULL DEFAULT 0,   -- data records committed: a resumed attempt skips them
    columns         TEXT,                        -- JSON: how the header was matched
    error           TEXT,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    file_deleted_at BIGINT
);
CREATE INDEX relais_imports_type_sha256 ON relais_imports (type, sha256);
CREATE INDEX relais_imports_created ON relais_imports (created_at);
CREATE INDEX relais_imports_task ON relais_imports (task_id);

CREATE TABLE relais_import_issues (
    seq         INTEGER PRIMARY KEY,             -- insertion order (rows in file order)
    import_id   BLOB NOT NULL REFERENCES relais_imports (id) ON DELETE CASCADE,
    row_number  BIGINT NOT NULL,
    severity    TEXT NOT NULL,                   -- error (row rejected) or warning (row accepted)
    column_name TEXT,
    value       TEXT,
    message     TEXT NOT NULL
);
CREATE INDEX relais_import_issues_import ON relais_import_issues (import_id, seq);

-- The built-in `sample` import type's own table.
CREATE TABLE relais_import_sample (
    code         TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    email        TEXT,
    amount_cents BIGINT,
    day          TEXT,                           -- ISO date
    grp          TEXT,
    import_id    BLOB NOT NULL                   -- the import that last wrote the row
);
CREATE INDEX relais_import_sample_grp ON relais_import_sample (grp);
