//! Migrations, health and connection settings.

use std::time::Duration;

use relais_platform::store::{self, Migration, MigrationSet, PLATFORM_MIGRATIONS, StoreError};
use relais_testkit::{Ctx, TestBackend, exec};

use crate::open;

const V1: Migration = Migration {
    version: 1,
    name: "widgets",
    sqlite: "CREATE TABLE conformance_widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    postgres: "CREATE TABLE conformance_widgets (id BIGINT PRIMARY KEY, name TEXT NOT NULL)",
};
const V2: Migration = Migration {
    version: 2,
    name: "parts",
    sqlite: "CREATE TABLE conformance_parts (id INTEGER PRIMARY KEY,
                 widget_id INTEGER NOT NULL REFERENCES conformance_widgets(id));
             CREATE INDEX conformance_parts_widget ON conformance_parts (widget_id);",
    postgres: "CREATE TABLE conformance_parts (id BIGINT PRIMARY KEY,
                 widget_id BIGINT NOT NULL REFERENCES conformance_widgets(id));
             CREATE INDEX conformance_parts_widget ON conformance_parts (widget_id);",
};
const BROKEN: Migration = Migration {
    version: 2,
    name: "broken",
    sqlite: "CREATE TABLE conformance_ok (id INTEGER); THIS IS NOT SQL;",
    postgres: "CREATE TABLE conformance_ok (id BIGINT); THIS IS NOT SQL;",
};
const APP_V1: MigrationSet = MigrationSet {
    component: "conformance",
    migrations: &[V1],
};
const APP_V2: MigrationSet = MigrationSet {
    component: "conformance",
    migrations: &[V1, V2],
};
const APP_BROKEN: MigrationSet = MigrationSet {
    component: "conformance",
    migrations: &[V1, BROKEN],
};

pub(crate) fn sets(app: MigrationSet) -> Vec<MigrationSet> {
    vec![PLATFORM_MIGRATIONS, app]
}

pub(crate) async fn migrations_apply_once_and_report_status(ctx: Ctx) {
    let db = open(&ctx).await;
    let report = db.migrate(&sets(APP_V1)).await.unwrap();
    let applied: Vec<_> = report
        .applied
        .iter()
        .map(|(c, v, n)| (c.as_str(), *v, n.as_str()))
        .collect();
    assert_eq!(
        applied,
        vec![
            ("platform", 1, "meta"),
            ("platform", 2, "tasks"),
            ("platform", 3, "task_operations"),
            ("platform", 4, "tokens"),
            ("platform", 5, "task_indexes"),
            ("platform", 6, "imports"),
            ("platform", 7, "audit"),
            ("conformance", 1, "widgets")
        ]
    );
    assert!(report.status.is_current(), "{:?}", report.status);
    let again = db.migrate(&sets(APP_V1)).await.unwrap();
    assert!(
        again.applied.is_empty(),
        "second run applies nothing: {:?}",
        again.applied
    );
    let status = db.schema_status(&sets(APP_V1)).await.unwrap();
    assert_eq!(status, again.status);
    assert!(status.components.iter().all(|c| c.applied_at.is_some()));
    exec(
        &ctx,
        "INSERT INTO conformance_widgets (id, name) VALUES (1, 'a')",
    )
    .await;
    db.close().await;
}

pub(crate) async fn status_of_a_fresh_database_is_pending(ctx: Ctx) {
    let db = open(&ctx).await;
    let status = db.schema_status(&sets(APP_V2)).await.unwrap();
    let versions: Vec<_> = status
        .components
        .iter()
        .map(|c| (c.component.as_str(), c.database, c.binary))
        .collect();
    let platform = PLATFORM_MIGRATIONS.latest();
    assert_eq!(
        versions,
        vec![("platform", 0, platform), ("conformance", 0, 2)]
    );
    assert!(!status.is_current());
    db.close().await;
}

pub(crate) async fn later_versions_apply_incrementally(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    exec(
        &ctx,
        "INSERT INTO conformance_widgets (id, name) VALUES (7, 'kept')",
    )
    .await;
    let report = db.migrate(&sets(APP_V2)).await.unwrap();
    let applied: Vec<_> = report
        .applied
        .iter()
        .map(|(c, v, _)| (c.as_str(), *v))
        .collect();
    assert_eq!(applied, vec![("conformance", 2)]);
    exec(
        &ctx,
        "INSERT INTO conformance_parts (id, widget_id) VALUES (1, 7)",
    )
    .await;
    db.close().await;
}

pub(crate) async fn newer_database_is_refused(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V2)).await.unwrap();
    let err = db.migrate(&sets(APP_V1)).await.unwrap_err();
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
    let message = err.to_string();
    assert!(
        message.contains("`conformance` is at version 2") && message.contains("newer relais"),
        "{message}"
    );
    // The status seen by the older binary shows the gap without failing.
    let status = db.schema_status(&sets(APP_V1)).await.unwrap();
    assert!(!status.is_current());
    db.close().await;
}

pub(crate) async fn unknown_component_is_refused(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    let err = db.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownComponent { ref component, database: 1 } if component == "conformance"),
        "{err}"
    );
    db.close().await;
}

pub(crate) async fn edited_migration_is_refused(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    const EDITED: MigrationSet = MigrationSet {
        component: "conformance",
        migrations: &[Migration {
            sqlite: "CREATE TABLE other (x)",
            postgres: "CREATE TABLE other (x int)",
            ..V1
        }],
    };
    let err = db.migrate(&sets(EDITED)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::ChecksumMismatch { version: 1, .. }),
        "{err}"
    );
    db.close().await;
}

pub(crate) async fn failed_migration_leaves_nothing_behind(ctx: Ctx) {
    let db = open(&ctx).await;
    let err = db.migrate(&sets(APP_BROKEN)).await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
    // One transaction: neither the platform schema, nor conformance v1, nor v2's first statement stayed.
    let status = db.schema_status(&sets(APP_BROKEN)).await.unwrap();
    assert!(
        status.components.iter().all(|c| c.database == 0),
        "{status:?}"
    );
    let report = db.migrate(&sets(APP_V2)).await.unwrap();
    assert_eq!(
        report.applied.len(),
        PLATFORM_MIGRATIONS.migrations.len() + 2,
        "everything applies once the set is fixed"
    );
    db.close().await;
}

pub(crate) async fn concurrent_migrations_apply_once(ctx: Ctx) {
    // Two stores on one database stand for two processes starting together.
    let (a, b) = (open(&ctx).await, open(&ctx).await);
    let all = sets(APP_V2);
    let (ra, rb) = tokio::join!(a.migrate(&all), b.migrate(&all));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.applied.len() + rb.applied.len(),
        PLATFORM_MIGRATIONS.migrations.len() + 2,
        "each migration applied exactly once"
    );
    assert!(ra.status.is_current() && rb.status.is_current());
    a.close().await;
    b.close().await;
}

pub(crate) async fn deployment_is_created_once_and_shared(ctx: Ctx) {
    let a = open(&ctx).await;
    a.migrate(&[PLATFORM_MIGRATIONS]).await.unwrap();
    let b = open(&ctx).await;
    let (da, dbb) = tokio::join!(a.deployment(), b.deployment());
    let (da, dbb) = (da.unwrap(), dbb.unwrap());
    assert_eq!(da, dbb);
    assert_eq!(a.deployment().await.unwrap(), da, "stable across calls");
    assert_eq!(uuid::Uuid::parse_str(&da.id).unwrap().get_version_num(), 7);
    a.close().await;
    b.close().await;
}

pub(crate) async fn foreign_keys_are_enforced(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V2)).await.unwrap();
    let insert = "INSERT INTO conformance_parts (id, widget_id) VALUES (1, 999)";
    // Through the store's own connections, which carry its connection settings.
    let result = match db.db() {
        store::Db::Sqlite { write, .. } => sqlx::query(insert).execute(write).await.map(|_| ()),
        store::Db::Postgres(pool) => sqlx::query(insert).execute(pool).await.map(|_| ()),
    };
    let err = result.expect_err("a part referencing no widget is refused");
    assert!(
        err.to_string().to_lowercase().contains("foreign key"),
        "{err}"
    );
    db.close().await;
}

pub(crate) async fn ping_and_pool_stats(ctx: Ctx) {
    let db = open(&ctx).await;
    db.ping(Duration::from_secs(2)).await.unwrap();
    let stats = db.pool_stats();
    let expected: Vec<(&str, u32)> = match ctx.backend {
        TestBackend::Sqlite => vec![("write", 1), ("read", 4)],
        TestBackend::Postgres => vec![("main", 5)],
    };
    assert_eq!(
        stats.iter().map(|s| (s.name, s.max)).collect::<Vec<_>>(),
        expected
    );
    assert!(stats.iter().all(|s| s.idle <= s.size && s.size <= s.max));
    db.close().await;
    assert!(
        db.ping(Duration::from_secs(1)).await.is_err(),
        "a closed store does not answer"
    );
}

pub(crate) async fn closing_checkpoints_the_wal(ctx: Ctx) {
    let db = open(&ctx).await;
    db.migrate(&sets(APP_V1)).await.unwrap();
    let store::Db::Sqlite { write, .. } = db.db() else {
        panic!("sqlite store")
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(write)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let wal = ctx.dir.join("relais.db-wal");
    assert!(wal.exists(), "WAL in use while open");
    db.close().await;
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "clean close checkpoints and removes the WAL");
}
