-- The tasks table is indexed by lifecycle stage, so that a task's hot path (enqueued, claimed,
-- finished) touches few index entries, and counts by kind and state still read only indexes:
--   queued   (available, scheduled, retryable)  relais_tasks_claim
--   running                                     relais_tasks_running
--   finished (finished_at set exactly then)     relais_tasks_finished
-- The (state, kind, created_at) index changed on every state change; it is gone.
DROP INDEX relais_tasks_state_kind;

DROP INDEX relais_tasks_claim;
CREATE INDEX relais_tasks_claim ON relais_tasks (queue, priority DESC, scheduled_at, id, kind, state)
    WHERE state IN ('available', 'scheduled', 'retryable');

DROP INDEX relais_tasks_running;
CREATE INDEX relais_tasks_running ON relais_tasks (worker, heartbeat_at, kind, queue)
    WHERE state = 'running';

DROP INDEX relais_tasks_finished;
CREATE INDEX relais_tasks_finished ON relais_tasks (state, finished_at, kind)
    WHERE finished_at IS NOT NULL;
