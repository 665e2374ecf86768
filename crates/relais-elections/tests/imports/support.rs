//! The environment of an elections import case: a platform migrated with the app's schema on
//! the case's database, an engine working the `imports` queue, the two import types (and test
//! types), the fixtures.

pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};

pub(crate) use chrono::NaiveDate;
pub(crate) use relais_elections::domain::{CycleTable, PvKind, Siret, Votes};
pub(crate) use relais_elections::imports::{InvitationImport, PvImport};
pub(crate) use relais_elections::store::{self, PvTotals, StoredPv};
pub(crate) use relais_platform::Platform;
use relais_platform::clock::SystemClock;
pub(crate) use relais_platform::config::{Config, ImportSettings};
pub(crate) use relais_platform::imports::{
    ImportError, ImportRecord, ImportRegistry, ImportStatus, Imports, UploadRequest,
};
pub(crate) use relais_platform::shutdown::Shutdown;
pub(crate) use relais_platform::store::Db;
pub(crate) use relais_platform::tasks::{Engine, EngineConfig};
pub(crate) use relais_testkit::Ctx;

pub(crate) struct Env {
    pub platform: Platform,
    pub imports: Imports,
    pub engine: Engine,
    pub _shutdown: Shutdown,
}

/// A platform with the elections schema and import types (and `extra` types) registered and
/// the engine running.
pub(crate) async fn env_with(
    ctx: &Ctx,
    tweak: impl FnOnce(&mut ImportSettings),
    extra: impl FnOnce(ImportRegistry) -> ImportRegistry,
) -> Env {
    let config = Config::for_data_dir(&ctx.dir).with_database(ctx.database.clone());
    let mut settings = config.imports.clone();
    tweak(&mut settings);
    let config = config.with_imports(settings.clone());
    let (platform, _) = Platform::start(config, &[relais_elections::MIGRATIONS])
        .await
        .expect("platform starts");
    let registry = ImportRegistry::new(platform.store.clone(), Arc::new(SystemClock), settings)
        .register(PvImport::new(CycleTable::standard()))
        .unwrap()
        .register(InvitationImport)
        .unwrap();
    let registry = extra(registry);
    let builder = Engine::builder(
        platform.store.clone(),
        Arc::new(SystemClock),
        EngineConfig {
            queues: vec![("imports".into(), 2)],
            poll_interval: Duration::from_millis(50),
            retention: None,
            ..EngineConfig::default()
        },
    );
    let engine = registry.engine_tasks(builder, false).build().unwrap();
    let imports = registry.with_engine(engine.clone());
    let shutdown = Shutdown::new();
    engine.start(&shutdown);
    Env {
        platform,
        imports,
        engine,
        _shutdown: shutdown,
    }
}

pub(crate) async fn env(ctx: &Ctx) -> Env {
    env_with(ctx, |_| {}, |r| r).await
}

impl Env {
    pub(crate) async fn stop(self) {
        self.engine
            .drain(tokio::time::Instant::now() + Duration::from_secs(10))
            .await;
        self.platform.store.close().await;
    }

    pub(crate) fn db(&self) -> &Db {
        self.platform.store.db()
    }

    /// Uploads `bytes` as `name` for `type_name`, in chunks of 64 KiB.
    pub(crate) async fn upload_with(
        &self,
        type_name: &str,
        name: &str,
        bytes: &[u8],
        tweak: impl FnOnce(&mut UploadRequest),
    ) -> Result<ImportRecord, ImportError> {
        let mut request = UploadRequest {
            type_name: type_name.into(),
            file_name: name.into(),
            uploader: Some("tester".into()),
            ..UploadRequest::default()
        };
        tweak(&mut request);
        let mut upload = self.imports.begin_upload(request).await?;
        for chunk in bytes.chunks(64 * 1024) {
            upload.write(bytes::Bytes::copy_from_slice(chunk)).await?;
        }
        Ok(upload.finish().await?.record)
    }

    /// Uploads a PV file (forced: identical files are processed again) and waits for the end.
    pub(crate) async fn pv(
        &self,
        name: &str,
        bytes: &[u8],
        tweak: impl FnOnce(&mut UploadRequest),
    ) -> ImportRecord {
        self.import("elections.pv", name, bytes, tweak).await
    }

    pub(crate) async fn import(
        &self,
        type_name: &str,
        name: &str,
        bytes: &[u8],
        tweak: impl FnOnce(&mut UploadRequest),
    ) -> ImportRecord {
        let record = self
            .upload_with(type_name, name, bytes, |r| {
                r.force = true;
                tweak(r);
            })
            .await
            .unwrap_or_else(|e| panic!("upload of {name} refused: {e}"));
        self.finished(record.id).await
    }

    /// Waits (polling the record, with a deadline) until the import is finished.
    pub(crate) async fn finished(&self, id: uuid::Uuid) -> ImportRecord {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let r = self.imports.get(id).await.unwrap().expect("import exists");
            if r.status.is_final() {
                return r;
            }
            assert!(Instant::now() < deadline, "import never finished: {r:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (row, severity, column, value, message) of every issue.
    pub(crate) async fn issues(&self, id: uuid::Uuid) -> Vec<Issue> {
        self.imports
            .issues(id, 0, 1_000_000)
            .await
            .unwrap()
            .into_iter()
            .map(|i| Issue {
                row: i.row,
                severity: i.severity.as_str().to_owned(),
                column: i.column.unwrap_or_default(),
                value: i.value.unwrap_or_default(),
                message: i.message,
            })
            .collect()
    }

    pub(crate) async fn totals(&self) -> PvTotals {
        store::totals(self.db()).await.unwrap()
    }

    /// Every stored PV row, in SIRET order.
    pub(crate) async fn all_rows(&self) -> Vec<StoredPv> {
        use futures_util::TryStreamExt;
        store::stream_pv(self.db()).try_collect().await.unwrap()
    }

    pub(crate) async fn rows_of(&self, siret: &str) -> Vec<StoredPv> {
        store::pv_rows_of(self.db(), &[Siret::parse(siret).unwrap()])
            .await
            .unwrap()
    }

    pub(crate) async fn dirty(&self) -> Vec<String> {
        store::dirty_sirets(self.db()).await.unwrap()
    }

    /// Empties the dirty list, as a summary build would after taking it.
    pub(crate) async fn clear_dirty(&self) {
        const SQL: &str = "DELETE FROM elections_dirty";
        match self.db() {
            Db::Sqlite { write, .. } => sqlx::query(SQL).execute(write).await.map(|_| ()),
            Db::Postgres(pool) => sqlx::query(SQL).execute(pool).await.map(|_| ()),
        }
        .unwrap();
    }
}

/// One row issue, flattened for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub row: u64,
    pub severity: String,
    pub column: String,
    pub value: String,
    pub message: String,
}

impl Issue {
    pub(crate) fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// A committed fixture file.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub(crate) fn votes(text: &str) -> Votes {
    Votes::parse(text).unwrap()
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}
