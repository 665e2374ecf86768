-- API tokens. Only a SHA-256 of each secret is stored; the secret is shown once, at creation.
CREATE TABLE relais_tokens (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    created_by   TEXT,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
