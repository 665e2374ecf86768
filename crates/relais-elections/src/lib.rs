//! The elections app: CSE election results (PV rows, one per PV × collège), PAP invitations and
//! the per-SIRET summary with legal seat allocation. The rules are those of the elections domain
//! reference; `domain` holds them as plain data and pure functions, with no storage and no HTTP.
//! `imports` parses files into domain types (the `elections.pv` and `elections.invitations`
//! import types); `build` computes the summary tables as tasks; `http` holds the routes (the
//! only HTTP of the app); `store` is the only module with SQL.

pub mod build;
pub mod demo;
pub mod domain;
pub mod http;
pub mod imports;
pub mod store;

use relais_platform::store::{Migration, MigrationSet};

/// The app's schema (component `elections`), migrated after the platform's.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "elections",
    migrations: &[
        Migration {
            version: 1,
            name: "pv_invitations",
            sqlite: include_str!("../migrations/sqlite/0001_pv_invitations.sql"),
            postgres: include_str!("../migrations/postgres/0001_pv_invitations.sql"),
        },
        Migration {
            version: 2,
            name: "summary",
            sqlite: include_str!("../migrations/sqlite/0002_summary.sql"),
            postgres: include_str!("../migrations/postgres/0002_summary.sql"),
        },
    ],
};
