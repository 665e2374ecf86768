-- Queue state shared by every process: a paused queue is claimed by no one.
CREATE TABLE relais_task_queues (
    queue      TEXT PRIMARY KEY,
    paused     BOOLEAN NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT
);

-- Per-kind limiter state. A claim that starts tasks of a limited kind locks its row, so rate and
-- concurrency limits hold across processes. rate_tat: the token bucket's theoretical arrival time.
CREATE TABLE relais_task_kinds (
    kind     TEXT PRIMARY KEY,
    rate_tat BIGINT
);

-- Processes running workers, with their queues and a heartbeat.
CREATE TABLE relais_workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    version      TEXT NOT NULL,
    queues       JSONB NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    running      INTEGER NOT NULL
);

-- Periodic schedules: the last tick enqueued. Advancing it and inserting the tick's task happen
-- in one transaction, so each tick is enqueued once whatever the number of processes.
CREATE TABLE relais_task_schedules (
    name      TEXT PRIMARY KEY,
    cron      TEXT NOT NULL,
    last_tick BIGINT NOT NULL,
    last_task UUID
);

-- Retention and statistics read finished tasks by state and age.
CREATE INDEX relais_tasks_finished ON relais_tasks (state, finished_at) WHERE finished_at IS NOT NULL;
