//! Test support: run one suite against every storage backend.
//!
//! A suite is a test binary with `harness = false` whose `main` is [`suite!`]. Each case runs
//! once per backend (`sqlite::name`, `postgres::name`) on a fresh database: a temporary SQLite
//! file, or a new PostgreSQL schema dropped afterwards. Cases that need Redis get its URL.
//!
//! Services are found at `RELAIS_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `RELAIS_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`). When one does not answer, its cases are reported as ignored and the
//! suite says so on its first line; with `RELAIS_TEST_REQUIRE_SERVICES=1` (as CI sets) they fail
//! instead. Cases marked `needs_browser` need headless Chromium in the same way.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use relais_platform::config::DatabaseConfig;
use sqlx::Connection;

/// A storage backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh schema on the test PostgreSQL server.
    Postgres,
}

impl TestBackend {
    fn name(self) -> &'static str {
        match self {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        }
    }
}

/// What a test case receives.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The backend this run uses.
    pub backend: TestBackend,
    /// A fresh, empty database on that backend.
    pub database: DatabaseConfig,
    /// The database URL to give a spawned `relais` (`RELAIS_DATABASE_URL`).
    pub database_url: String,
    /// A fresh, empty directory.
    pub dir: PathBuf,
    /// Redis, when the case asked for it.
    pub redis_url: Option<String>,
    /// A headless browser executable, when the case asked for one.
    pub browser: Option<PathBuf>,
    /// A key prefix private to this run, for Redis keys.
    pub key_prefix: String,
}

type CaseFn = fn(Ctx) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// One test case of a suite.
pub struct Case {
    name: &'static str,
    run: CaseFn,
    backends: &'static [TestBackend],
    needs_redis: bool,
    needs_browser: bool,
}

impl Case {
    /// A case run on both backends.
    pub fn new(name: &'static str, run: CaseFn) -> Self {
        Self {
            name,
            run,
            backends: &[TestBackend::Sqlite, TestBackend::Postgres],
            needs_redis: false,
            needs_browser: false,
        }
    }

    /// Runs the case on SQLite only (for what only exists there, e.g. the file on disk).
    pub fn sqlite_only(mut self) -> Self {
        self.backends = &[TestBackend::Sqlite];
        self
    }

    /// Runs the case on PostgreSQL only (for cross-process behaviour on a shared server).
    pub fn postgres_only(mut self) -> Self {
        self.backends = &[TestBackend::Postgres];
        self
    }

    /// The case needs Redis.
    pub fn needs_redis(mut self) -> Self {
        self.needs_redis = true;
        self
    }

    /// The case needs headless Chromium (`RELAIS_TEST_CHROMIUM`, default `chromium` on the PATH).
    pub fn needs_browser(mut self) -> Self {
        self.needs_browser = true;
        self
    }
}

/// Declares the `main` of a suite:
/// `suite!(case_a, case_b => sqlite_only, case_c => postgres_only needs_redis)`.
#[macro_export]
macro_rules! suite {
    ($($case:ident $(=> $($modifier:ident)+)?),* $(,)?) => {
        fn main() -> std::process::ExitCode {
            $crate::run(vec![
                $($crate::Case::new(stringify!($case), |ctx| Box::pin($case(ctx))) $($(.$modifier())+)?,)*
            ])
        }
    };
}

struct Services {
    postgres: Result<String, String>,
    redis: Result<String, String>,
    browser: Result<PathBuf, String>,
    required: bool,
}

fn find_browser() -> Result<PathBuf, String> {
    let name = std::env::var("RELAIS_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![PathBuf::from(&name)]
    } else {
        std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|dir| dir.join(&name))
                    .collect()
            })
            .unwrap_or_default()
    };
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("headless browser `{name}` not found (install Debian's chromium or set RELAIS_TEST_CHROMIUM)"))
}

fn services() -> &'static Services {
    static SERVICES: OnceLock<Services> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let pg_url = std::env::var("RELAIS_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let redis_url = std::env::var("RELAIS_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let required = std::env::var("RELAIS_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
        let rt = runtime();
        let postgres = rt.block_on(async {
            let connect = sqlx::PgConnection::connect(&pg_url);
            match tokio::time::timeout(Duration::from_secs(3), connect).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    Ok(pg_url.clone())
                }
                Ok(Err(e)) => Err(format!(
                    "PostgreSQL at {pg_url} (set RELAIS_TEST_DATABASE_URL): {e}"
                )),
                Err(_) => Err(format!(
                    "PostgreSQL at {pg_url} (set RELAIS_TEST_DATABASE_URL): no answer within 3s"
                )),
            }
        });
        let redis = rt.block_on(async {
            let ping = async {
                let client = redis::Client::open(redis_url.as_str())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            match tokio::time::timeout(Duration::from_secs(3), ping).await {
                Ok(Ok(_)) => Ok(redis_url.clone()),
                Ok(Err(e)) => Err(format!(
                    "Redis at {redis_url} (set RELAIS_TEST_REDIS_URL): {e}"
                )),
                Err(_) => Err(format!(
                    "Redis at {redis_url} (set RELAIS_TEST_REDIS_URL): no answer within 3s"
                )),
            }
        });
        Services {
            postgres,
            redis,
            browser: find_browser(),
            required,
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs a suite: every case on every backend it supports.
pub fn run(cases: Vec<Case>) -> std::process::ExitCode {
    let args = Arguments::from_args();
    let listing = args.list;
    let services = services();
    let mut trials = Vec::new();
    let mut not_run: Vec<(String, usize)> = Vec::new();
    for case in cases {
        for &backend in case.backends {
            let mut missing = Vec::new();
            if backend == TestBackend::Postgres
                && let Err(e) = &services.postgres
            {
                missing.push(e.clone());
            }
            if case.needs_redis
                && let Err(e) = &services.redis
            {
                missing.push(e.clone());
            }
            if case.needs_browser
                && let Err(e) = &services.browser
            {
                missing.push(e.clone());
            }
            let name = format!("{}::{}", backend.name(), case.name);
            let run = case.run;
            let needs = (case.needs_redis, case.needs_browser);
            if !missing.is_empty() && !services.required {
                for m in &missing {
                    match not_run.iter_mut().find(|(k, _)| k == m) {
                        Some((_, n)) => *n += 1,
                        None => not_run.push((m.clone(), 1)),
                    }
                }
                trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
                continue;
            }
            trials.push(Trial::test(name, move || {
                if !missing.is_empty() {
                    return Err(Failed::from(format!(
                        "required service unreachable (RELAIS_TEST_REQUIRE_SERVICES=1): {}",
                        missing.join("; ")
                    )));
                }
                run_case(backend, needs, run)
            }));
        }
    }
    if !listing {
        for (service, n) in &not_run {
            println!(
                "NOT RUN: {n} test(s) of this suite need a service that is unavailable: {service}"
            );
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}

fn run_case(
    backend: TestBackend,
    (needs_redis, needs_browser): (bool, bool),
    run: CaseFn,
) -> Result<(), Failed> {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("relais-test-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| Failed::from(format!("temp dir: {e}")))?;
    let services = services();
    let (database, database_url, schema) = match backend {
        TestBackend::Sqlite => {
            let path = dir.join("relais.db");
            let url = format!("sqlite://{}", path.display());
            let config = DatabaseConfig::Sqlite {
                path,
                readers: 4,
                busy_timeout: Duration::from_secs(5),
            };
            (config, url, None)
        }
        TestBackend::Postgres => {
            let admin = services.postgres.clone().map_err(Failed::from)?;
            let schema = format!("relais_test_{}", uuid::Uuid::now_v7().simple());
            rt.block_on(pg_exec(&admin, &format!("CREATE SCHEMA {schema}")))?;
            let url = schema_url(&admin, &schema);
            let config = DatabaseConfig::Postgres {
                url: url.clone(),
                max_connections: 5,
                connect_timeout: Duration::from_secs(5),
            };
            (config, url, Some((admin, schema)))
        }
    };
    let ctx = Ctx {
        backend,
        database,
        database_url,
        dir: dir.clone(),
        redis_url: if needs_redis {
            services.redis.clone().ok()
        } else {
            None
        },
        browser: if needs_browser {
            services.browser.clone().ok()
        } else {
            None
        },
        key_prefix: format!("relais_test:{}:", uuid::Uuid::now_v7().simple()),
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(run(ctx))));
    if let Some((admin, schema)) = schema {
        let _ = rt.block_on(pg_exec(
            &admin,
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ));
    }
    rt.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "test panicked".into());
        Failed::from(message)
    })
}

/// The URL of `schema` on the server of `admin_url` (sets `search_path` at connect).
pub fn schema_url(admin_url: &str, schema: &str) -> String {
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    format!("{admin_url}{sep}options[search_path]={schema}")
}

/// Runs one statement on the test PostgreSQL server (for setup that the code under test must
/// not do itself, such as creating a schema or simulating another binary's migrations).
pub async fn pg_exec(url: &str, statement: &str) -> Result<(), Failed> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| Failed::from(e.to_string()))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .map_err(|e| Failed::from(e.to_string()))?;
    let _ = conn.close().await;
    Ok(())
}

/// Runs one statement on a SQLite file (same purpose as [`pg_exec`]).
pub async fn sqlite_exec(path: &Path, statement: &str) -> Result<(), Failed> {
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .map_err(|e| Failed::from(e.to_string()))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .map_err(|e| Failed::from(e.to_string()))?;
    let _ = conn.close().await;
    Ok(())
}

/// Runs raw SQL against the database of `ctx` (see [`pg_exec`]).
pub async fn exec(ctx: &Ctx, statement: &str) {
    let result = match &ctx.database {
        DatabaseConfig::Sqlite { path, .. } => sqlite_exec(path, statement).await,
        DatabaseConfig::Postgres { url, .. } => pg_exec(url, statement).await,
    };
    if let Err(e) = result {
        panic!(
            "test setup statement failed: {statement}: {}",
            e.message().unwrap_or("?")
        );
    }
}
