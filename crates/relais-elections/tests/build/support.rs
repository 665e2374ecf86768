//! The environment of a build case: a platform migrated with the app's schema on the case's
//! database, the two import types (with or without their follow-up build), the build task, an
//! engine working the `imports` queue, and the [`Elections`] service.

pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
pub(crate) use relais_elections::build::{
    BuildGate, BuildRequest, BuildSettings, BuildTask, Elections, RequestOutcome, WithBuild,
};
pub(crate) use relais_elections::domain::{CycleTable, Siret};
pub(crate) use relais_elections::imports::{InvitationImport, PvImport};
pub(crate) use relais_elections::store::{self, StoredSummary};
pub(crate) use relais_platform::Platform;
use relais_platform::clock::SystemClock;
pub(crate) use relais_platform::config::Config;
pub(crate) use relais_platform::imports::{
    ImportRecord, ImportRegistry, ImportStatus, Imports, UploadRequest,
};
pub(crate) use relais_platform::shutdown::Shutdown;
pub(crate) use relais_platform::store::Db;
pub(crate) use relais_platform::tasks::{Engine, EngineConfig, TaskRecord, TaskState};
pub(crate) use relais_testkit::Ctx;

pub(crate) struct Env {
    pub platform: Platform,
    pub imports: Imports,
    pub engine: Engine,
    pub elections: Elections,
    pub _shutdown: Shutdown,
}

/// How a case wants its environment.
#[derive(Default)]
pub(crate) struct Setup {
    /// Imports enqueue an incremental build when they finish (as in the binary).
    pub follow_up: bool,
    /// The build's settings (the defaults otherwise).
    pub settings: Option<BuildSettings>,
}

pub(crate) async fn env(ctx: &Ctx) -> Env {
    env_with(ctx, Setup::default()).await
}

pub(crate) async fn env_with(ctx: &Ctx, setup: Setup) -> Env {
    let config = Config::for_data_dir(&ctx.dir).with_database(ctx.database.clone());
    let settings = config.imports.clone();
    let (platform, _) = Platform::start(config, &[relais_elections::MIGRATIONS])
        .await
        .expect("platform starts");
    let registry = ImportRegistry::new(platform.store.clone(), Arc::new(SystemClock), settings);
    let pv = PvImport::new(CycleTable::standard());
    let registry = if setup.follow_up {
        registry
            .register(WithBuild(pv))
            .unwrap()
            .register(WithBuild(InvitationImport))
            .unwrap()
    } else {
        registry
            .register(pv)
            .unwrap()
            .register(InvitationImport)
            .unwrap()
    };
    let builder = Engine::builder(
        platform.store.clone(),
        Arc::new(SystemClock),
        EngineConfig {
            queues: vec![("imports".into(), 2)],
            poll_interval: Duration::from_millis(50),
            retention: None,
            ..EngineConfig::default()
        },
    )
    .register(BuildTask::new(
        platform.store.clone(),
        setup.settings.unwrap_or_default(),
    ));
    let engine = registry.engine_tasks(builder, false).build().unwrap();
    let imports = registry.with_engine(engine.clone());
    let elections = Elections::new(platform.store.clone(), engine.clone());
    let shutdown = Shutdown::new();
    engine.start(&shutdown);
    Env {
        platform,
        imports,
        engine,
        elections,
        _shutdown: shutdown,
    }
}

/// The instant every summary is given before comparing tables built at different times.
pub(crate) fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(0).unwrap()
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

    /// Imports `bytes` as `name` (forced) through `type_name` and waits for the end.
    pub(crate) async fn import(
        &self,
        type_name: &str,
        name: &str,
        bytes: &[u8],
        tweak: impl FnOnce(&mut UploadRequest),
    ) -> ImportRecord {
        let mut request = UploadRequest {
            type_name: type_name.into(),
            file_name: name.into(),
            uploader: Some("tester".into()),
            force: true,
            ..UploadRequest::default()
        };
        tweak(&mut request);
        let mut upload = self.imports.begin_upload(request).await.unwrap();
        for chunk in bytes.chunks(64 * 1024) {
            upload
                .write(bytes::Bytes::copy_from_slice(chunk))
                .await
                .unwrap();
        }
        let id = upload.finish().await.unwrap().record.id;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let r = self.imports.get(id).await.unwrap().expect("import exists");
            if r.status.is_final() {
                assert!(
                    matches!(r.status, ImportStatus::Succeeded | ImportStatus::Partial),
                    "{r:#?}"
                );
                return r;
            }
            assert!(Instant::now() < deadline, "import never finished: {r:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn pv(&self, name: &str, bytes: &[u8]) -> ImportRecord {
        self.import("elections.pv", name, bytes, |_| {}).await
    }

    /// Waits (polling, with a deadline) until `done` holds for the task.
    pub(crate) async fn task_until(
        &self,
        id: uuid::Uuid,
        done: impl Fn(&TaskRecord) -> bool,
    ) -> TaskRecord {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let t = self.engine.get(id).await.unwrap().expect("task exists");
            if done(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "the task never got there: {t:#?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Requests a build and waits for it to succeed; its result.
    pub(crate) async fn build(&self, full: bool) -> serde_json::Value {
        let request = self
            .elections
            .request_build(full, Some("tester".into()))
            .await
            .unwrap();
        let task = self
            .task_until(request.task.id, |t| t.state.is_final())
            .await;
        assert_eq!(task.state, TaskState::Succeeded, "{task:#?}");
        task.result.expect("a build has a result")
    }

    pub(crate) async fn summary(&self, siret: &str) -> Option<StoredSummary> {
        store::summary_of(self.db(), &Siret::parse(siret).unwrap())
            .await
            .unwrap()
    }

    /// Every summary, read in pages of `page`.
    pub(crate) async fn all_summaries(&self, page: u32) -> Vec<StoredSummary> {
        let mut out: Vec<StoredSummary> = Vec::new();
        loop {
            let after = out.last().map(|s| s.siret);
            let next = store::summaries_after(self.db(), after.as_ref(), page)
                .await
                .unwrap();
            if next.is_empty() {
                return out;
            }
            out.extend(next);
        }
    }

    /// Every summary with its build time cleared: tables built at different times compare
    /// equal when their content is.
    pub(crate) async fn snapshot(&self) -> Vec<StoredSummary> {
        let mut all = self.all_summaries(500).await;
        for s in &mut all {
            s.built_at = epoch();
        }
        all
    }

    /// Writes summaries in one transaction.
    pub(crate) async fn write(&self, summaries: &[StoredSummary], generation: i64) {
        let mut tx = self.platform.store.begin().await.unwrap();
        store::write_summaries(&mut tx, summaries, generation)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    pub(crate) async fn dirty(&self) -> Vec<String> {
        store::dirty_sirets(self.db()).await.unwrap()
    }

    /// Build tasks, newest first.
    pub(crate) async fn builds(&self) -> Vec<TaskRecord> {
        self.engine
            .list(&relais_platform::tasks::TaskFilter {
                kind: Some("elections.build".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
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
