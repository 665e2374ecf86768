//! Storage conformance: every test runs on SQLite and on PostgreSQL (fresh database each).

mod audit;
mod imports;
mod schema;
mod task_ops;
mod tasks;

use audit::*;
use imports::*;
use relais_platform::store;
use relais_testkit::{Ctx, suite};
use schema::*;
use task_ops::*;
use tasks::*;

suite!(
    migrations_apply_once_and_report_status,
    status_of_a_fresh_database_is_pending,
    later_versions_apply_incrementally,
    newer_database_is_refused,
    unknown_component_is_refused,
    edited_migration_is_refused,
    failed_migration_leaves_nothing_behind,
    concurrent_migrations_apply_once,
    deployment_is_created_once_and_shared,
    foreign_keys_are_enforced,
    ping_and_pool_stats,
    closing_checkpoints_the_wal => sqlite_only,
    tasks_round_trip,
    unique_key_returns_the_active_task,
    claims_follow_priority_then_schedule,
    concurrent_claims_never_share_a_task,
    finishing_is_fenced_by_attempt_and_worker,
    failures_retry_then_discard_keeping_every_error,
    cancel_queued_and_running_tasks,
    rescue_returns_stale_tasks_and_ignores_late_reports,
    retry_by_hand,
    a_batch_of_outcomes_is_fenced_per_attempt,
    large_batches_keep_each_task_apart,
    counts_cover_every_state_of_every_kind,
    listing_filters_and_pages_newest_first,
    limited_claims_respect_rate_and_concurrency,
    limited_claims_skip_held_back_kinds_in_order,
    concurrent_limited_claims_share_the_budget,
    paused_queues_are_not_claimed,
    workers_register_beat_and_are_pruned,
    a_tick_is_enqueued_once,
    statistics_and_retention,
    import_batches_commit_only_from_their_offset,
    an_import_shows_the_end_of_its_task,
    audit_appends_are_linked_and_listed_newest_first,
    audit_filters_combine_and_pages_do_not_overlap,
    audit_counts_group_by_dimension_and_day,
    audit_pruning_moves_the_anchor_in_sequence_order,
    concurrent_audit_appends_extend_one_chain,
);

pub(crate) async fn open(ctx: &Ctx) -> std::sync::Arc<dyn store::Store> {
    store::open(&ctx.database).await.expect("open store")
}
