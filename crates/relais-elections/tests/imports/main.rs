//! The elections import types end to end on both backends: the published files, the other
//! layouts, keys and modes, invitations, an upload over HTTP.

mod http;
mod invitations;
mod layouts;
mod modes;
mod real;
mod support;

use http::*;
use invitations::*;
use layouts::*;
use modes::*;
use real::*;
use relais_testkit::suite;

suite!(
    real_public_file_imports_exactly_and_again_unchanged,
    ministry_csv_takes_its_cycle_from_the_scope,
    ministry_json_exports_import,
    pv_retenus_workbook_with_trailing_space_headers,
    upstream_tool_table_with_carence_and_seats,
    pv_numbers_update_in_place_and_bad_rows_are_rejected,
    replace_mode_swaps_one_cycle_and_keeps_the_others,
    a_resumed_import_keeps_the_keys_of_undated_rows,
    invitations_import_by_siret_and_date,
    pv_upload_over_http,
);
