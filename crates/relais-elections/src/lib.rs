//! The elections app: CSE election results (PV rows, one per PV × collège), PAP invitations and
//! the per-SIRET summary with legal seat allocation. The rules are those of the elections domain
//! reference; `domain` holds them as plain data and pure functions, with no storage and no HTTP.
//! `imports` parses files into domain types (the `elections.pv` and `elections.invitations`
//! import types); `build` computes the summary tables as tasks; `http` holds the routes (the
//! only HTTP of the app); `store` is the only module with SQL.

pub mod build;
pub mod demo;
pub mod domain;
pub mod export;
pub mod http;
pub mod imports;
pub mod query;
pub mod stats;
pub mod store;
pub mod upstream;

use relais_platform::Platform;
use relais_platform::store::MigrationSet;
use relais_platform::tasks::{EngineBuilder, Enqueue, Task};

/// The app's schema (component `elections`), migrated after the platform's.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "elections",
    migrations: &[
        relais_platform::migration!(1, "pv_invitations", "0001_pv_invitations"),
        relais_platform::migration!(2, "summary", "0002_summary"),
        relais_platform::migration!(3, "summary_reads", "0003_summary_reads"),
        relais_platform::migration!(4, "by_siret", "0004_by_siret"),
        relais_platform::migration!(5, "codes_bytewise", "0005_codes_bytewise"),
    ],
};

/// Registers the app's task kinds (`elections.export`, `elections.exports.retention`, hourly
/// when `schedules`) on an engine being built.
pub fn tasks(
    builder: EngineBuilder,
    platform: &Platform,
    settings: &http::ReadSettings,
    schedules: bool,
) -> EngineBuilder {
    let builder = builder
        .register(export::ExportTask::new(
            platform.store.clone(),
            settings.cycles.clone(),
            settings.exports.clone(),
        ))
        .register(export::ExportRetention::new(settings.exports.clone()));
    if schedules {
        builder.schedule(
            export::ExportRetention::KIND,
            export::ExportRetention::SCHEDULE,
            Enqueue::new(export::ExportRetention::KIND, serde_json::json!({})),
        )
    } else {
        builder
    }
}
