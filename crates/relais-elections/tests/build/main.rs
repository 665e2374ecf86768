//! The summary build on both backends: the summary tables, full and incremental builds as
//! tasks, requests and cancel, the follow-up build of imports.

mod builds;
#[path = "../common/mod.rs"]
mod common;
mod http;
mod store;
mod support;

use builds::*;
use http::*;
use relais_testkit::suite;
use store::*;

suite!(
    summaries_are_read_back_exactly,
    a_carence_cycle_round_trips,
    full_build_of_the_real_file_matches_the_summariser,
    incremental_builds_equal_full_rebuilds,
    requests_return_the_build_queued_or_running,
    a_cancelled_full_build_leaves_a_consistent_table,
    full_builds_keep_the_summary_schema,
    imports_enqueue_an_incremental_build,
    summaries_due_again_are_recomputed,
    build_routes_request_and_report_builds,
);
