-- Durable tasks. Times are Unix microseconds (UTC), set by the engine's clock.
CREATE TABLE relais_tasks (
    id               BLOB PRIMARY KEY NOT NULL,   -- UUIDv7
    kind             TEXT NOT NULL,
    queue            TEXT NOT NULL,
    args             TEXT NOT NULL,               -- JSON
    state            TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    scheduled_at     INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    heartbeat_at     INTEGER,
    worker           TEXT,
    progress         REAL NOT NULL DEFAULT 0,
    progress_message TEXT,
    progress_details TEXT,                        -- JSON
    result           TEXT,                        -- JSON
    unique_key       TEXT,
    created_by       TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    options          TEXT NOT NULL                -- JSON: limits and backoff of this task
) STRICT;

-- Claim order: priority, then scheduled time, among claimable states.
CREATE INDEX relais_tasks_claim ON relais_tasks (queue, priority DESC, scheduled_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
-- One active task per unique key.
CREATE UNIQUE INDEX relais_tasks_unique ON relais_tasks (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');
CREATE INDEX relais_tasks_running ON relais_tasks (worker, heartbeat_at) WHERE state = 'running';
CREATE INDEX relais_tasks_state_kind ON relais_tasks (state, kind, created_at);

CREATE TABLE relais_task_errors (
    task_id   BLOB NOT NULL REFERENCES relais_tasks (id) ON DELETE CASCADE,
    attempt   INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    message   TEXT NOT NULL,
    timed_out INTEGER NOT NULL,
    PRIMARY KEY (task_id, attempt)
) STRICT;
