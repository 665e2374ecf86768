//! The elections read API through the whole router (`oneshot`) on both backends: summaries,
//! statistics, time series, exports, cache, upstream paths, roles.

mod cache;
mod exports;
mod stats;
mod summary;
mod support;

use cache::*;
use exports::*;
use relais_testkit::suite;
use stats::*;
use summary::*;

suite!(
    list_filters_select_summaries,
    text_search_ignores_accents_and_case,
    bad_parameters_are_problems_naming_them,
    pages_have_no_duplicates_or_gaps_under_every_sort,
    detail_has_the_timeline_and_invitations,
    seed_paths_answer_with_upstream_field_names,
    every_elections_route_needs_its_declared_role,
    dashboard_counts_the_hand_made_dataset,
    time_series_counts_pvs_per_period,
    csv_export_has_upstream_columns_and_exact_values,
    xlsx_export_opens_with_the_upstream_header,
    large_exports_run_as_tasks_and_are_downloaded,
    cached_reads_change_after_a_build,
);
