//! The summary build on both backends: the summary tables, full and incremental builds as
//! tasks, the follow-up build of imports.

#[path = "../common/mod.rs"]
mod common;
mod store;
mod support;

use relais_testkit::suite;
use store::*;

suite!(summaries_are_read_back_exactly, a_carence_cycle_round_trips,);
