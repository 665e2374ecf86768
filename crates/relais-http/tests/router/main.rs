//! Router tests: the whole HTTP application driven with `oneshot`, on SQLite and PostgreSQL.

mod audit;
mod cache;
mod imports;
mod observability;
mod requests;
mod shutdown;
mod support;
mod task_ops;
mod tasks;

use audit::*;
use cache::*;
use imports::*;
use observability::*;
use relais_testkit::suite;
use requests::*;
use shutdown::*;
use task_ops::*;
use tasks::*;

suite!(
    malformed_requests_get_problem_responses,
    valid_json_is_accepted,
    request_ids_are_echoed_or_generated,
    health_reports_process_and_deployment,
    ready_when_database_and_schema_are_current,
    ready_is_503_when_schema_is_behind,
    ready_is_503_when_redis_is_unreachable,
    ready_checks_redis_when_configured => needs_redis,
    ready_is_503_while_shutting_down,
    metrics_label_requests_by_route_template,
    openapi_document_describes_every_route,
    every_documented_route_enforces_its_declared_role,
    real_tokens_open_exactly_the_routes_of_their_role,
    docs_page_is_served_from_the_binary,
    problem_table_lists_every_code,
    cache_routes_report_and_invalidate,
    cache_invalidation_refuses_bad_requests,
    cacheable_responses_answer_304_to_a_matching_etag,
    the_request_over_a_route_limit_gets_429,
    route_limits_are_shared_by_two_instances_on_redis => needs_redis,
    cache_metrics_are_exported,
    tiered_cache_stats_count_shared_entries => needs_redis,
    shutdown_drains_in_flight_requests,
    shutdown_cuts_requests_past_the_grace_period => sqlite_only,
    tasks_api_enqueue_read_cancel_retry,
    tasks_api_refuses_bad_requests,
    tasks_api_runs_tasks_and_answers_celery_style,
    tasks_api_lists_with_filters_and_cursor,
    task_operations_api_stats_queues_workers,
    task_events_stream_until_the_final_state,
    imports_api_upload_read_errors_stats,
    imports_api_refuses_bad_uploads,
    imports_api_cancel_and_retry,
    uploads_are_limited_to_10_per_hour_per_caller,
    mutating_requests_and_sensitive_reads_are_recorded,
    openapi_marks_audited_operations,
    an_answer_waits_until_its_record_is_durable,
    an_operation_that_cannot_be_recorded_is_answered_503,
    audit_log_filters_pages_and_exports_csv,
    audit_stats_count_by_dimension_and_day,
    large_and_binary_bodies_are_summarised_by_size,
);
