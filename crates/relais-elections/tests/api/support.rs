//! The environment of a read API case: a platform with the elections schema, an engine working
//! the imports and default queues, the whole router (`oneshot`), a hand-made dataset imported
//! through the import types and summarised.

pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};

pub(crate) use axum::body::Body;
pub(crate) use axum::http::{HeaderMap, Request, StatusCode, header};
pub(crate) use relais_elections::domain::{CycleTable, Siret};
pub(crate) use relais_elections::http::ReadSettings;
pub(crate) use relais_http::{Principal, Role};
pub(crate) use relais_platform::Platform;
pub(crate) use relais_testkit::Ctx;
pub(crate) use serde_json::Value;

use http_body_util::BodyExt;
use relais_elections::build::{BuildSettings, BuildTask, Elections, WithBuild};
use relais_elections::imports::{InvitationImport, PvImport};
use relais_platform::clock::SystemClock;
use relais_platform::config::Config;
use relais_platform::imports::{ImportRegistry, ImportStatus, Imports, UploadRequest};
use relais_platform::shutdown::Shutdown;
use relais_platform::tasks::{Engine, EngineConfig, TaskFilter, TaskRecord, TaskState};
use tower::ServiceExt;

pub(crate) struct Env {
    pub platform: Platform,
    pub imports: Imports,
    pub engine: Engine,
    pub elections: Elections,
    pub router: axum::Router,
    pub settings: ReadSettings,
    pub doc: utoipa::openapi::OpenApi,
    pub _shutdown: Shutdown,
}

/// A reply, read whole.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a problem with this status, naming `param` when given.
    pub(crate) fn problem(&self, status: StatusCode, param: Option<&str>) -> Value {
        let p = self.json();
        assert_eq!(self.status, status, "{p}");
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        if let Some(param) = param {
            let named = p["detail"].as_str().unwrap_or("").contains(param)
                || p["errors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["pointer"] == param));
            assert!(named, "the problem does not name `{param}`: {p}");
        }
        p
    }
}

/// A platform with the elections schema, import types, task engine and routes.
pub(crate) async fn env_with(ctx: &Ctx, tweak: impl FnOnce(&mut ReadSettings)) -> Env {
    let config = Config::for_data_dir(&ctx.dir).with_database(ctx.database.clone());
    let (platform, _) = Platform::start(config, &[relais_elections::MIGRATIONS])
        .await
        .expect("platform starts");
    let registry = ImportRegistry::new(
        platform.store.clone(),
        Arc::new(SystemClock),
        platform.config.imports.clone(),
    )
    .register(WithBuild(PvImport::new(CycleTable::standard())))
    .unwrap()
    .register(WithBuild(InvitationImport))
    .unwrap();
    let mut settings = ReadSettings::new(&platform.config.data_dir);
    tweak(&mut settings);
    let builder = Engine::builder(
        platform.store.clone(),
        Arc::new(SystemClock),
        EngineConfig {
            queues: vec![("imports".into(), 2), ("default".into(), 2)],
            poll_interval: Duration::from_millis(50),
            retention: None,
            ..EngineConfig::default()
        },
    );
    let builder = builder.register(
        BuildTask::new(platform.store.clone(), BuildSettings::default())
            .with_cache(platform.cache.clone()),
    );
    let builder = relais_elections::tasks(builder, &platform, &settings, false);
    let engine = registry.engine_tasks(builder, false).build().unwrap();
    let imports = registry.with_engine(engine.clone());
    let shutdown = Shutdown::new();
    engine.start(&shutdown);
    let elections = Elections::new(platform.store.clone(), engine.clone());
    let routes = vec![
        relais_http::tasks::routes(engine.clone()),
        relais_http::imports::routes(imports.clone()),
        relais_elections::http::routes(elections.clone()),
        relais_elections::http::read_routes(
            &platform,
            engine.clone(),
            Arc::new(SystemClock),
            settings.clone(),
        ),
    ];
    let (router, doc) = relais_http::app(platform.clone(), routes);
    Env {
        platform,
        imports,
        engine,
        elections,
        router,
        settings,
        doc,
        _shutdown: shutdown,
    }
}

pub(crate) async fn env(ctx: &Ctx) -> Env {
    env_with(ctx, |_| {}).await
}

impl Env {
    pub(crate) async fn stop(self) {
        self.engine
            .drain(tokio::time::Instant::now() + Duration::from_secs(10))
            .await;
        self.platform.store.close().await;
    }

    /// `GET path` as `role` (`None`: without credentials).
    pub(crate) async fn get_as(
        &self,
        role: Option<Role>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.request_as(role, "GET", path, headers).await
    }

    /// `method path` (no body) as `role`.
    pub(crate) async fn send_as(&self, role: Option<Role>, method: &str, path: &str) -> Reply {
        self.request_as(role, method, path, &[]).await
    }

    async fn request_as(
        &self,
        role: Option<Role>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).unwrap();
        let router = match role {
            Some(role) => self.router.clone().layer(axum::Extension(Principal {
                name: "reader".into(),
                role,
            })),
            None => self.router.clone(),
        };
        let response = router.oneshot(request).await.expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET path` as a viewer.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.get_as(Some(Role::Viewer), path, &[]).await
    }

    /// `GET path` as a viewer, expecting 200 and JSON.
    pub(crate) async fn json(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    /// Imports a file of `type_name` and waits until it succeeded.
    pub(crate) async fn import(&self, type_name: &str, name: &str, bytes: Vec<u8>) {
        let request = UploadRequest {
            type_name: type_name.into(),
            file_name: name.into(),
            uploader: Some("tester".into()),
            force: true,
            ..UploadRequest::default()
        };
        let mut upload = self.imports.begin_upload(request).await.unwrap();
        upload.write(bytes::Bytes::from(bytes)).await.unwrap();
        let id = upload.finish().await.unwrap().record.id;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self.imports.get(id).await.unwrap().expect("import exists");
            if r.status.is_final() {
                assert_eq!(r.status, ImportStatus::Succeeded, "{r:#?}");
                assert_eq!(r.counts.rejected, 0, "{r:#?}");
                return;
            }
            assert!(Instant::now() < deadline, "import never finished: {r:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Imports PV lines (see [`Pv`]) and invitations (`siret,date`).
    pub(crate) async fn load(&self, pvs: &[Pv], invitations: &[(&str, &str)]) {
        if !pvs.is_empty() {
            let mut csv = String::from(PV_HEADER);
            for pv in pvs {
                csv.push_str(&pv.line());
            }
            self.import("elections.pv", "pv.csv", csv.into_bytes())
                .await;
        }
        if !invitations.is_empty() {
            let mut csv = String::from("SIRET,Date invitation\n");
            for (siret, date) in invitations {
                csv.push_str(&format!("{siret},{date}\n"));
            }
            self.import("elections.invitations", "invitations.csv", csv.into_bytes())
                .await;
        }
    }

    /// Runs a full build of the summary (the real task) and waits until no build is left
    /// (imports enqueue incremental ones).
    pub(crate) async fn summarise(&self) {
        let requested = self.elections.request_build(true, None).await.unwrap();
        let done = self.finished(requested.task.id).await;
        assert_eq!(done.state, TaskState::Succeeded, "{done:#?}");
        self.idle_builds().await;
    }

    /// Waits (polling, with a deadline) until no build is queued or running.
    pub(crate) async fn idle_builds(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let active = self
                .engine
                .list(&TaskFilter {
                    kind: Some("elections.build".into()),
                    states: vec![
                        TaskState::Available,
                        TaskState::Scheduled,
                        TaskState::Running,
                        TaskState::Retryable,
                    ],
                    limit: 10,
                    ..TaskFilter::default()
                })
                .await
                .unwrap();
            if active.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "builds never ended: {active:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (polling the record, with a deadline) until the task is in a final state.
    pub(crate) async fn finished(&self, id: uuid::Uuid) -> TaskRecord {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let t = self.engine.get(id).await.unwrap().expect("task exists");
            if t.state.is_final() {
                return t;
            }
            assert!(Instant::now() < deadline, "task never finished: {t:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const PV_HEADER: &str = "pv_number,siret,raison_sociale,ville,idcc,college,date,inscrits,votants,sve,cgt,cfdt,cgt_fo,cftc,cfe_cgc,solidaires,unsa,autres,departement,source_file,type\n";

/// A PV line of the normalised layout.
#[derive(Debug, Clone)]
pub(crate) struct Pv {
    pub siret: String,
    pub name: String,
    pub ville: String,
    pub idcc: String,
    pub college: &'static str,
    pub date: String,
    pub inscrits: i64,
    /// CGT, CFDT, FO, CFTC, CGC, Solidaires, UNSA, autres (the file's order).
    pub votes: [&'static str; 8],
    pub departement: String,
    pub carence: bool,
}

impl Pv {
    /// A CSE row: `votes` in the file's order (CGT, CFDT, FO, CFTC, CGC, Solidaires, UNSA,
    /// autres), SVE their sum, votants = inscrits.
    pub(crate) fn new(siret: &str, date: &str, votes: [&'static str; 8]) -> Pv {
        Pv {
            siret: siret.into(),
            name: String::new(),
            ville: String::new(),
            idcc: String::new(),
            college: "01",
            date: date.into(),
            inscrits: 100,
            votes,
            departement: String::new(),
            carence: false,
        }
    }

    pub(crate) fn carence(siret: &str, date: &str) -> Pv {
        Pv {
            carence: true,
            ..Pv::new(siret, date, ["0"; 8])
        }
    }

    pub(crate) fn named(mut self, name: &str, ville: &str, departement: &str, idcc: &str) -> Pv {
        self.name = name.into();
        self.ville = ville.into();
        self.departement = departement.into();
        self.idcc = idcc.into();
        self
    }

    pub(crate) fn college(mut self, college: &'static str, inscrits: i64) -> Pv {
        self.college = college;
        self.inscrits = inscrits;
        self
    }

    fn line(&self) -> String {
        let sve: f64 = self.votes.iter().map(|v| v.parse::<f64>().unwrap()).sum();
        let sve = if self.carence {
            String::new()
        } else {
            format!("{sve}")
        };
        let votants = if self.carence {
            String::new()
        } else {
            self.inscrits.to_string()
        };
        format!(
            ",{},\"{}\",{},{},{},{},{},{},{},{},{},{}\n",
            self.siret,
            self.name.replace('"', "\"\""),
            self.ville,
            self.idcc,
            self.college,
            self.date,
            self.inscrits,
            votants,
            sve,
            self.votes.join(","),
            self.departement,
            format_args!("test.csv,{}", if self.carence { "CAR" } else { "CSE" }),
        )
    }
}

/// A valid SIRET from its first 13 digits (Luhn check digit).
pub(crate) fn siret_from(base: u64) -> String {
    let head = format!("{base:013}");
    for last in 0..10 {
        let candidate = format!("{head}{last}");
        if Siret::parse(&candidate).is_ok() {
            return candidate;
        }
    }
    unreachable!("one check digit fits")
}

/// The SIRETs of the hand-made dataset.
pub(crate) const A: &str = "34329419500239";
pub(crate) const B: &str = "73282932000074";
pub(crate) const C: &str = "44306184100047";

/// A small dataset whose figures are computed by hand in the cases:
/// - A (Rodez, 12, IDCC 1486): C3 election 2019-05-06 in two collèges (CGT 40.5 and 0, FO
///   22.25 and 17), a carence on 2023-02-01 (C4), a C5 election on 2025-11-20 (CGT 1, FO 19:
///   present, 5 %, not representative), invited on 2025-09-01 → `pv_apres_invitation`, CGT
///   implantée.
/// - B (Charleville, 08, IDCC 0843): C4 election 2022-03-04, CGT 10, CFDT 30 → representative
///   (25 %), no C5 PV and no invitation → `aucune_invitation`.
/// - C (Lille, 59): C4 election 2021-06-10 (CFDT 50, FO 50), C5 election 2025-05-05 (CFDT 95)
///   without invitation → `pv_sans_invitation`, CGT not implantée.
pub(crate) fn dataset() -> (Vec<Pv>, Vec<(&'static str, &'static str)>) {
    let z = "0";
    let pvs = vec![
        Pv::new(A, "2019-05-06", ["40.5", z, "22.25", z, z, z, z, z])
            .named("Société Générale d'Études", "Rodez", "12", "1486")
            .college("01", 120),
        Pv::new(A, "2019-05-06", [z, z, "17", z, z, z, z, z])
            .named("Société Générale d'Études", "Rodez", "12", "1486")
            .college("02", 30),
        Pv::carence(A, "2023-02-01").named("Société Générale d'Études", "Rodez", "12", "1486"),
        Pv::new(A, "2025-11-20", ["1", z, "19", z, z, z, z, z])
            .named("Société Générale d'Études", "Rodez", "12", "1486")
            .college("05", 15),
        Pv::new(B, "2022-03-04", ["10", "30", z, z, z, z, z, z])
            .named("Boulangerie Éclair", "Charleville", "08", "843")
            .college("01", 45),
        Pv::new(C, "2021-06-10", [z, "50", "50", z, z, z, z, z])
            .named("ÉCLAIRAGE DU NORD", "Lille", "59", "3109")
            .college("05", 110),
        Pv::new(C, "2025-05-05", [z, "95", z, z, z, z, z, z])
            .named("ÉCLAIRAGE DU NORD", "Lille", "59", "3109")
            .college("05", 104),
    ];
    (pvs, vec![(A, "2025-09-01")])
}

/// The dataset loaded and summarised by a full build.
pub(crate) async fn loaded(ctx: &Ctx) -> Env {
    let env = env(ctx).await;
    let (pvs, invitations) = dataset();
    env.load(&pvs, &invitations).await;
    env.summarise().await;
    env
}
