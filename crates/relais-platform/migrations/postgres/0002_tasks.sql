-- Durable tasks. Times are Unix microseconds (UTC), set by the engine's clock.
CREATE TABLE relais_tasks (
    id               UUID PRIMARY KEY,            -- UUIDv7
    kind             TEXT NOT NULL,
    queue            TEXT NOT NULL,
    args             JSONB NOT NULL,
    state            TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    scheduled_at     BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    heartbeat_at     BIGINT,
    worker           TEXT,
    progress         DOUBLE PRECISION NOT NULL DEFAULT 0,
    progress_message TEXT,
    progress_details JSONB,
    result           JSONB,
    unique_key       TEXT,
    created_by       TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    options          JSONB NOT NULL
);

CREATE INDEX relais_tasks_claim ON relais_tasks (queue, priority DESC, scheduled_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
CREATE UNIQUE INDEX relais_tasks_unique ON relais_tasks (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');
CREATE INDEX relais_tasks_running ON relais_tasks (worker, heartbeat_at) WHERE state = 'running';
CREATE INDEX relais_tasks_state_kind ON relais_tasks (state, kind, created_at);

CREATE TABLE relais_task_errors (
    task_id   UUID NOT NULL REFERENCES relais_tasks (id) ON DELETE CASCADE,
    attempt   INTEGER NOT NULL,
    at        BIGINT NOT NULL,
    message   TEXT NOT NULL,
    timed_out BOOLEAN NOT NULL,
    PRIMARY KEY (task_id, attempt)
);
