//! Versioned migrations, per component (the platform, then each app), per backend.
//!
//! The planning here is pure: each backend reads what was applied, calls [`plan`], and applies the
//! pending steps in one transaction under its lock. A database ahead of the binary (a higher
//! version, or a component the binary does not know) is refused, and so is an applied migration
//! whose text changed since (checksum).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Backend, StoreError};

/// One schema change, written once per backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1, 2, 3… without gaps within a component.
    pub version: u32,
    /// Short name, e.g. `tasks`.
    pub name: &'static str,
    /// SQL for SQLite (several statements allowed).
    pub sqlite: &'static str,
    /// SQL for PostgreSQL (several statements allowed).
    pub postgres: &'static str,
}

/// A [`Migration`] whose SQL is `migrations/sqlite/FILE.sql` and `migrations/postgres/FILE.sql`
/// of the calling crate: `migration!(2, "tasks", "0002_tasks")`.
#[macro_export]
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        $crate::store::Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $file,
                ".sql"
            )),
            postgres: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/postgres/",
                $file,
                ".sql"
            )),
        }
    };
}

impl Migration {
    pub(crate) fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }

    pub(crate) fn checksum(&self, backend: Backend) -> String {
        let digest = Sha256::digest(self.sql(backend).as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The migrations of one component.
#[derive(Debug, Clone, Copy)]
pub struct MigrationSet {
    /// Component name, e.g. `platform` or `elections`.
    pub component: &'static str,
    /// Its migrations in version order.
    pub migrations: &'static [Migration],
}

impl MigrationSet {
    /// The highest version of the set (0 when empty).
    pub const fn latest(&self) -> u32 {
        match self.migrations.last() {
            Some(m) => m.version,
            None => 0,
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        for (i, m) in self.migrations.iter().enumerate() {
            let expected = i as u32 + 1;
            if m.version != expected {
                return Err(StoreError::InvalidMigrationSet {
                    component: self.component,
                    reason: format!(
                        "migration `{}` has version {}, expected {expected}",
                        m.name, m.version
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A migration recorded in the database.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub component: String,
    pub version: u32,
    pub checksum: String,
}

/// What one run of [`super::SchemaStore::migrate`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MigrationReport {
    /// `(component, version, name)` of each migration applied, in order.
    pub applied: Vec<(String, u32, String)>,
    /// The schema after the run.
    pub status: SchemaStatus,
}

/// Where one component's schema stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentStatus {
    /// Component name.
    pub component: String,
    /// Highest version applied to the database (0: none).
    pub database: u32,
    /// Highest version this binary knows.
    pub binary: u32,
    /// When the latest migration was applied.
    pub applied_at: Option<DateTime<Utc>>,
}

/// Where every component's schema stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SchemaStatus {
    /// One entry per known component, in migration order, then unknown ones.
    pub components: Vec<ComponentStatus>,
}

impl SchemaStatus {
    /// True when every component is exactly at the binary's version.
    pub fn is_current(&self) -> bool {
        self.components.iter().all(|c| c.database == c.binary)
    }
}

/// Builds the status report from what the database holds.
pub(crate) fn status(
    sets: &[MigrationSet],
    applied: &[Applied],
    applied_at: &BTreeMap<String, DateTime<Utc>>,
) -> SchemaStatus {
    let mut db_versions: BTreeMap<&str, u32> = BTreeMap::new();
    for a in applied {
        let v = db_versions.entry(&a.component).or_default();
        *v = (*v).max(a.version);
    }
    let mut components: Vec<ComponentStatus> = sets
        .iter()
        .map(|set| ComponentStatus {
            component: set.component.to_owned(),
            database: db_versions.get(set.component).copied().unwrap_or(0),
            binary: set.latest(),
            applied_at: applied_at.get(set.component).copied(),
        })
        .collect();
    for (component, version) in db_versions {
        if !sets.iter().any(|s| s.component == component) {
            components.push(ComponentStatus {
                component: component.to_owned(),
                database: version,
                binary: 0,
                applied_at: applied_at.get(component).copied(),
            });
        }
    }
    SchemaStatus { components }
}

/// Checks the database against `sets` and returns the migrations still to apply, in order.
pub(crate) fn plan(
    sets: &[MigrationSet],
    applied: &[Applied],
    backend: Backend,
) -> Result<Vec<(&'static str, Migration)>, StoreError> {
    for set in sets {
        set.validate()?;
    }
    for a in applied {
        let Some(set) = sets.iter().find(|s| s.component == a.component) else {
            let database = applied
                .iter()
                .filter(|b| b.component == a.component)
                .map(|b| b.version)
                .max()
                .unwrap_or(a.version);
            return Err(StoreError::UnknownComponent {
                component: a.component.clone(),
                database,
            });
        };
        match set.migrations.iter().find(|m| m.version == a.version) {
            None => {
                return Err(StoreError::SchemaTooNew {
                    component: a.component.clone(),
                    database: applied
                        .iter()
                        .filter(|b| b.component == a.component)
                        .map(|b| b.version)
                        .max()
                        .unwrap_or(a.version),
                    binary: set.latest(),
                });
            }
            Some(m) if m.checksum(backend) != a.checksum => {
                return Err(StoreError::ChecksumMismatch {
                    component: a.component.clone(),
                    version: a.version,
                    name: m.name.to_owned(),
                });
            }
            Some(_) => {}
        }
    }
    let mut pending = Vec::new();
    for set in sets {
        for m in set.migrations {
            let done = applied
                .iter()
                .any(|a| a.component == set.component && a.version == m.version);
            if !done {
                pending.push((set.component, *m));
            }
        }
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[Migration] = &[
        Migration {
            version: 1,
            name: "one",
            sqlite: "CREATE TABLE a(x)",
            postgres: "CREATE TABLE a(x int)",
        },
        Migration {
            version: 2,
            name: "two",
            sqlite: "CREATE TABLE b(x)",
            postgres: "CREATE TABLE b(x int)",
        },
    ];

    fn applied(component: &str, version: u32, m: &Migration) -> Applied {
        Applied {
            component: component.into(),
            version,
            checksum: m.checksum(Backend::Sqlite),
        }
    }

    #[test]
    fn plans_only_what_is_missing() {
        let sets = [MigrationSet {
            component: "a",
            migrations: A,
        }];
        let pending = plan(&sets, &[applied("a", 1, &A[0])], Backend::Sqlite).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].0, pending[0].1.version), ("a", 2));
        assert!(
            plan(
                &sets,
                &[applied("a", 1, &A[0]), applied("a", 2, &A[1])],
                Backend::Sqlite
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn refuses_newer_edited_or_unknown() {
        let sets = [MigrationSet {
            component: "a",
            migrations: &A[..1],
        }];
        let err = plan(
            &sets,
            &[applied("a", 1, &A[0]), applied("a", 2, &A[1])],
            Backend::Sqlite,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SchemaTooNew {
                    database: 2,
                    binary: 1,
                    ..
                }
            ),
            "{err}"
        );
        let err = plan(&sets, &[applied("zz", 3, &A[0])], Backend::Sqlite).unwrap_err();
        assert!(
            matches!(err, StoreError::UnknownComponent { database: 3, .. }),
            "{err}"
        );
        let edited = Applied {
            component: "a".into(),
            version: 1,
            checksum: "0".into(),
        };
        assert!(matches!(
            plan(&sets, &[edited], Backend::Sqlite).unwrap_err(),
            StoreError::ChecksumMismatch { version: 1, .. }
        ));
    }

    #[test]
    fn refuses_gaps_in_a_set() {
        const GAP: &[Migration] = &[Migration {
            version: 2,
            name: "x",
            sqlite: "",
            postgres: "",
        }];
        let err = plan(
            &[MigrationSet {
                component: "g",
                migrations: GAP,
            }],
            &[],
            Backend::Sqlite,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("has version 2, expected 1"),
            "{err}"
        );
    }

    #[test]
    fn checksums_differ_per_backend() {
        assert_ne!(
            A[0].checksum(Backend::Sqlite),
            A[0].checksum(Backend::Postgres)
        );
        assert_eq!(A[0].checksum(Backend::Sqlite).len(), 64);
    }
}
