-- The audit trail: append-only and hash-chained. Each record's hash is
-- sha256(prev_hash || "\n" || canonical encoding of the record) (see relais_platform::audit::chain);
-- seq numbers are contiguous. Records are written in batches by one writer per process, each batch
-- in one transaction holding the chain head, so processes sharing the database extend one chain.
CREATE TABLE relais_audit_log (
    seq           BIGINT PRIMARY KEY,
    at            BIGINT NOT NULL,               -- microseconds since the epoch (UTC)
    actor         TEXT NOT NULL,
    role          TEXT,
    action        TEXT NOT NULL,                 -- `POST /api/tasks`, `cli token create`…
    resource_type TEXT,
    resource_id   TEXT,
    status        INTEGER,                       -- HTTP status (NULL outside HTTP)
    success       BOOLEAN NOT NULL,
    duration_us   BIGINT NOT NULL,
    client_addr   TEXT,
    request_id    TEXT,
    params        TEXT NOT NULL,                 -- JSON text, secrets redacted; hashed as stored
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX relais_audit_log_at ON relais_audit_log (at);
CREATE INDEX relais_audit_log_actor ON relais_audit_log (actor, seq);
CREATE INDEX relais_audit_log_resource ON relais_audit_log (resource_type, seq);
CREATE INDEX relais_audit_log_request ON relais_audit_log (request_id);
CREATE INDEX relais_audit_log_failures ON relais_audit_log (seq) WHERE NOT success;

-- One row: the chain head (last record) and the anchor (the last pruned record: verification
-- starts from it). Writers and retention lock this row, so they serialise across processes.
CREATE TABLE relais_audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    head_seq    BIGINT NOT NULL,
    head_hash   TEXT NOT NULL,
    anchor_seq  BIGINT NOT NULL,
    anchor_hash TEXT NOT NULL
);
INSERT INTO relais_audit_chain (id, head_seq, head_hash, anchor_seq, anchor_hash) VALUES
    (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
        0, '0000000000000000000000000000000000000000000000000000000000000000');
