//! Black-box tests: the real `relais` binary, spawned per test, on SQLite and PostgreSQL.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use relais_testkit::{Ctx, TestBackend, exec, suite};
use serde_json::Value;

#[path = "cli/audit.rs"]
mod audit;
use audit::*;
#[path = "cli/demo.rs"]
mod demo;
use demo::*;
#[path = "cli/elections.rs"]
mod elections;
use elections::*;
#[path = "cli/imports.rs"]
mod imports;
use imports::*;

suite!(
    serve_is_ready_then_stops_cleanly_on_sigterm,
    bad_requests_over_tcp_never_break_the_server,
    two_processes_share_one_database,
    newer_database_is_refused_at_start,
    migrate_applies_and_reports,
    no_configuration_means_sqlite_in_the_data_dir => sqlite_only,
    configuration_layers_and_errors => sqlite_only,
    docs_page_renders_in_a_browser_without_network => sqlite_only needs_browser,
    sigkill_mid_work_loses_no_task,
    sigkill_mid_import_resumes_to_the_content_of_an_uninterrupted_import,
    tokens_from_the_environment_and_the_command_line,
    route_limits_must_name_existing_routes => sqlite_only,
    sigkill_under_load_loses_no_audit_record,
    audit_verify_names_a_tampered_record,
    command_line_operations_are_recorded,
    demo_elections_writes_pv_and_invitation_files => sqlite_only,
    elections_build_runs_in_this_process,
);

const BIN: &str = env!("CARGO_BIN_EXE_relais");
/// The platform schema version this binary knows.
const PLATFORM: u32 = relais_platform::store::PLATFORM_MIGRATIONS.latest();
/// The elections schema version this binary knows.
const ELECTIONS: u32 = relais_elections::MIGRATIONS.latest();

/// `relais` with a clean environment (no inherited `RELAIS_*`), run in the test's directory.
fn relais(ctx: &Ctx) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("RELAIS_") {
            cmd.env_remove(name);
        }
    }
    cmd.current_dir(&ctx.dir).stdin(Stdio::null());
    cmd
}

/// `relais` on the test's database.
fn relais_db(ctx: &Ctx) -> Command {
    let mut cmd = relais(ctx);
    cmd.env("RELAIS_DATABASE_URL", &ctx.database_url);
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("relais runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    out: PathBuf,
}

impl Server {
    fn start(ctx: &Ctx, name: &str, cmd: Command) -> Server {
        let addr = free_addr();
        let log = ctx.dir.join(format!("{name}.log"));
        let out = ctx.dir.join(format!("{name}.out"));
        let mut cmd = cmd;
        cmd.arg("serve")
            .env("RELAIS_LISTEN", addr.to_string())
            .env("RELAIS_LOG_FORMAT", "json")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawn relais serve");
        Server {
            child,
            addr,
            log,
            out,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Polls readiness (the binary needs a moment to start); panics with the log if it never is.
    async fn ready(&mut self) -> Value {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("relais exited with {status}: {}", self.log_text());
            }
            if let Ok(r) = client.get(self.url("/api/health/ready")).send().await
                && r.status() == 200
            {
                return r.json().await.unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 30 s: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn get_json(&self, path: &str) -> Value {
        reqwest::get(self.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What it printed on standard output (not logs).
    fn out_text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited successfully.
    fn terminate(&mut self) -> bool {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "no exit 30 s after SIGTERM: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes and returns the status line of the answer.
fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = text(&answer);
    answer.lines().next().unwrap_or_default().to_owned() + "\n" + &answer
}

async fn serve_is_ready_then_stops_cleanly_on_sigterm(ctx: Ctx) {
    let mut server = Server::start(&ctx, "serve", relais_db(&ctx));
    let ready = server.ready().await;
    assert_eq!(ready["status"], "ready");
    let backend = if ctx.backend == TestBackend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(ready["checks"]["database"]["details"]["backend"], backend);
    assert!(
        server.terminate(),
        "clean exit on SIGTERM: {}",
        server.log_text()
    );
    let log = server.log_text();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in [
        "relais listening",
        "shutdown requested",
        "draining HTTP connections",
        "relais stopped",
    ] {
        assert!(
            messages.contains(&expected),
            "{expected} missing from {messages:?}"
        );
    }
    if ctx.backend == TestBackend::Sqlite {
        let wal = ctx.dir.join("relais.db-wal");
        assert_eq!(
            std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
            0,
            "database closed cleanly"
        );
    }
}

async fn bad_requests_over_tcp_never_break_the_server(ctx: Ctx) {
    let mut server = Server::start(&ctx, "bad", relais_db(&ctx));
    server.ready().await;
    let addr = server.addr;
    // A 100 MB body is refused from its declared length, before it is sent.
    let answer = raw_http(addr, b"POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{\"a\":");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    let client = reqwest::Client::new();
    let cases = [
        (reqwest::Method::GET, "/api/nope", 404, "route_not_found"),
        (
            reqwest::Method::POST,
            "/api/health/ready",
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::PATCH,
            "/metrics",
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            "/api/docs/missing.css",
            404,
            "route_not_found",
        ),
    ];
    for (method, path, status, code) in cases {
        let response = client
            .request(method.clone(), server.url(path))
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code);
    }
    // Streaming 100 MB at a route that does not read bodies: answered, connection survives or
    // closes, and the server keeps serving.
    let chunks =
        futures_util::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1 << 20])));
    let streamed = client
        .post(server.url("/api/health"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    if let Ok(response) = streamed {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let health = client.get(server.url("/api/health")).send().await.unwrap();
    assert_eq!(health.status(), 200, "still serving");
    assert!(server.terminate());
}

async fn two_processes_share_one_database(ctx: Ctx) {
    // Started together: both migrate under the shared lock, one applies, both serve.
    let mut a = Server::start(&ctx, "a", relais_db(&ctx));
    let mut b = Server::start(&ctx, "b", relais_db(&ctx));
    a.ready().await;
    b.ready().await;
    let (ha, hb) = (
        a.get_json("/api/health").await,
        b.get_json("/api/health").await,
    );
    assert_eq!(ha["deployment_id"], hb["deployment_id"], "one deployment");
    assert_ne!(ha["instance_id"], hb["instance_id"], "two instances");
    // A database without tokens gets one bootstrap admin token, printed by one process only.
    let marker = "admin token `bootstrap-admin` created";
    let logs = [a.out_text(), b.out_text()];
    let printed: Vec<&String> = logs.iter().filter(|l| l.contains(marker)).collect();
    assert_eq!(printed.len(), 1, "{logs:?}");
    let secret = printed[0]
        .lines()
        .skip_while(|l| !l.contains(marker))
        .nth(1)
        .unwrap()
        .trim();
    assert!(secret.starts_with("relais_"), "{secret}");
    for server in [&a, &b] {
        let reply = reqwest::Client::new()
            .get(server.url("/api/workers"))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
    }
    // Both processes record into one audit chain, concurrently.
    let client = reqwest::Client::new();
    let posts = (0..40).map(|i| {
        let url = [&a, &b][i % 2].url("/api/tasks");
        let client = client.clone();
        async move {
            client
                .post(url)
                .bearer_auth(secret)
                .json(&serde_json::json!({"kind": "relais.noop"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    assert!(a.terminate() && b.terminate());
    let verified = run(relais_db(&ctx).args(["audit", "verify"]));
    let out = text(&verified.stdout);
    assert!(verified.status.success(), "{out}{}", text(&verified.stderr));
    // The migrations, the bootstrap token, 40 requests.
    assert!(out.contains("audit chain intact: 42 records"), "{out}");
}

async fn tokens_from_the_environment_and_the_command_line(ctx: Ctx) {
    let admin = "given-admin-secret-of-the-deployment";
    let mut cmd = relais_db(&ctx);
    cmd.env("RELAIS_ADMIN_TOKEN", admin);
    let mut server = Server::start(&ctx, "tokens", cmd);
    server.ready().await;
    assert!(
        !server.log_text().contains(admin),
        "a given secret is never printed"
    );
    let client = reqwest::Client::new();
    let status = |token: String| {
        let client = client.clone();
        let url = server.url("/api/tasks");
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(admin.into()).await, 200);
    let created = run(relais_db(&ctx).args([
        "token",
        "create",
        "--name",
        "ci",
        "--role",
        "viewer",
        "--expires-in",
        "30d",
    ]));
    assert!(created.status.success(), "{}", text(&created.stderr));
    let secret = text(&created.stdout).trim().to_owned();
    assert!(secret.starts_with("relais_"), "{secret}");
    assert_eq!(status(secret.clone()).await, 200);
    let listed = text(&run(relais_db(&ctx).args(["token", "list"])).stdout);
    assert!(
        listed.contains("bootstrap-admin") && listed.contains("ci") && listed.contains("expires"),
        "{listed}"
    );
    assert!(!listed.contains(&secret));
    let bad = run(relais_db(&ctx).args(["token", "create", "--name", "x", "--role", "root"]));
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("admin, operator or viewer"),
        "{}",
        text(&bad.stderr)
    );
    let revoked = run(relais_db(&ctx).args(["token", "revoke", "ci"]));
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert_eq!(status(secret).await, 401);
    assert!(server.terminate());
}

async fn newer_database_is_refused_at_start(ctx: Ctx) {
    let migrated = run(relais_db(&ctx).arg("migrate"));
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    exec(
        &ctx,
        "INSERT INTO relais_schema_migrations (component, version, name, checksum, applied_at)
                VALUES ('platform', 999, 'future', 'x', '2030-01-01T00:00:00Z')",
    )
    .await;
    for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["migrate"][..]] {
        let out = run(relais_db(&ctx).args(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("`platform` is at version 999") && stderr.contains("newer relais"),
            "{args:?}: {stderr}"
        );
    }
    let status = run(relais_db(&ctx).args(["migrate", "--status"]));
    assert!(status.status.success());
    assert!(
        text(&status.stdout).contains("newer than this relais"),
        "{}",
        text(&status.stdout)
    );
}

async fn migrate_applies_and_reports(ctx: Ctx) {
    let status = run(relais_db(&ctx).args(["migrate", "--status"]));
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains(&format!("database   0  binary {PLATFORM:>3}  pending")),
        "{}",
        text(&status.stdout)
    );
    let first = run(relais_db(&ctx).arg("migrate"));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied platform 1 (meta)"),
        "{}",
        text(&first.stdout)
    );
    let second = run(relais_db(&ctx).arg("migrate"));
    assert!(
        text(&second.stdout).contains("nothing to apply"),
        "{}",
        text(&second.stdout)
    );
    assert!(text(&second.stdout).contains(&format!("binary {PLATFORM:>3}  current")));
}

async fn no_configuration_means_sqlite_in_the_data_dir(ctx: Ctx) {
    let mut server = Server::start(&ctx, "fresh", relais(&ctx));
    let ready = server.ready().await;
    assert_eq!(ready["checks"]["database"]["details"]["backend"], "sqlite");
    assert!(
        ctx.dir.join("relais-data/relais.db").is_file(),
        "database created under ./relais-data"
    );
    assert!(server.terminate());
}

async fn configuration_layers_and_errors(ctx: Ctx) {
    let version = run(relais(&ctx).arg("version"));
    assert_eq!(
        text(&version.stdout),
        format!(
            "relais {}\nschema platform {PLATFORM}\nschema elections {ELECTIONS}\n",
            env!("CARGO_PKG_VERSION")
        )
    );

    std::fs::write(
        ctx.dir.join("relais.toml"),
        "listen = \"127.0.0.1:7001\"\ndata_dir = \"from-file\"\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let show = |cmd: &mut Command| text(&run(cmd).stdout);
    let shown = show(relais(&ctx).args(["config", "show"]));
    assert!(
        shown.contains("listen = \"127.0.0.1:7001\"  # file relais.toml"),
        "{shown}"
    );
    assert!(
        shown.contains("log.format = \"json\"  # file relais.toml"),
        "{shown}"
    );
    let shown = show(
        relais(&ctx)
            .args(["config", "show"])
            .env("RELAIS_LISTEN", "127.0.0.1:7002"),
    );
    assert!(
        shown.contains("listen = \"127.0.0.1:7002\"  # environment variable RELAIS_LISTEN"),
        "{shown}"
    );
    assert!(shown.contains("data_dir = \"from-file\""), "{shown}");
    let shown = show(
        relais(&ctx)
            .args(["config", "show", "--listen", "127.0.0.1:7003"])
            .env("RELAIS_LISTEN", "127.0.0.1:7002"),
    );
    assert!(
        shown.contains("listen = \"127.0.0.1:7003\"  # flag --listen"),
        "{shown}"
    );
    let shown = show(
        relais(&ctx)
            .args(["config", "show"])
            .env("RELAIS_DATABASE_URL", "postgres://app:hunter2@db/relais"),
    );
    assert!(
        shown.contains("postgres://app:****@db/relais") && !shown.contains("hunter2"),
        "{shown}"
    );

    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 4] = [
        (
            &["serve"],
            &[("RELAIS_LISTEN", "nope")],
            &["`listen`", "RELAIS_LISTEN", "not a socket address"],
        ),
        (
            &["serve", "--log-format", "xml"],
            &[],
            &[
                "`log.format`",
                "flag --log-format",
                "expected `text` or `json`",
            ],
        ),
        (
            &["config", "show", "--config", "missing.toml"],
            &[],
            &["cannot read configuration file missing.toml"],
        ),
        (
            &["serve"],
            &[("RELAIS_DATABASE_URL", "mysql://root:pw@h/db")],
            &["unsupported scheme `mysql`", "root:****@h"],
        ),
    ];
    for (args, env, expected) in cases {
        let out = run(relais(&ctx).args(args).envs(env.iter().copied()));
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        let stderr = text(&out.stderr);
        for e in expected {
            assert!(stderr.contains(e), "{args:?}: expected {e} in {stderr}");
        }
        assert!(!stderr.contains(":pw@"), "secret leaked: {stderr}");
    }
    std::fs::write(ctx.dir.join("relais.toml"), "lisen = 1\n").unwrap();
    let out = run(relais(&ctx).args(["config", "show"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown setting `lisen` in file relais.toml"),
        "{}",
        text(&out.stderr)
    );
}

async fn docs_page_renders_in_a_browser_without_network(ctx: Ctx) {
    let mut server = Server::start(&ctx, "docs", relais_db(&ctx));
    server.ready().await;
    let browser = ctx.browser.clone().expect("browser");
    let net_log = ctx.dir.join("netlog.json");
    // Every host but this server's is unresolvable: a page that needed a CDN would not render.
    let out = run(Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            ctx.dir.join("chromium").display()
        ))
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg(server.url("/api/docs/")));
    assert!(
        out.status.success(),
        "chromium failed: {}",
        text(&out.stderr)
    );
    let dom = text(&out.stdout);
    for path in [
        "/api/health",
        "/api/health/ready",
        "/metrics",
        "/api/openapi.json",
        "/api/problems",
    ] {
        assert!(
            dom.contains(&format!(
                r#"class="opblock-summary-path" data-path="{path}""#
            )),
            "{path} not rendered"
        );
    }
    // What the page itself fetched: only this server. (Chromium's own update and account
    // services also appear in the log, failing to resolve; they are not the page's requests.)
    let log = std::fs::read_to_string(&net_log).unwrap_or_default();
    let origin = format!("http://{}/", server.addr);
    let fetched_assets = log.matches(&format!("{origin}api/docs/")).count();
    assert!(
        fetched_assets >= 4,
        "assets fetched from the server: {fetched_assets}"
    );
    for cdn in [
        "unpkg.com",
        "jsdelivr",
        "cdnjs",
        "validator.swagger.io",
        "fonts.googleapis",
    ] {
        assert!(!log.contains(cdn), "the page tried to reach {cdn}");
    }
    assert!(server.terminate());
}

/// The test's tasks (`relais.sleep`) by state, from the shared database (the servers' own
/// periodic tasks, such as retention, are not counted).
async fn task_states(
    store: &std::sync::Arc<dyn relais_platform::store::Store>,
) -> std::collections::BTreeMap<String, i64> {
    let mut by_state = std::collections::BTreeMap::new();
    for (kind, state, n) in store.task_counts().await.unwrap() {
        if kind == "relais.sleep" {
            *by_state.entry(state.to_string()).or_insert(0) += n;
        }
    }
    by_state
}

async fn sigkill_mid_work_loses_no_task(ctx: Ctx) {
    use relais_platform::tasks::{Engine, EngineConfig, Enqueue, SleepTask};
    const TASKS: i64 = 10_000;
    let migrated = run(relais_db(&ctx).arg("migrate"));
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    // Another process enqueues into the shared database (the HTTP route needs a token).
    let store = relais_platform::store::open(&ctx.database).await.unwrap();
    let clock = std::sync::Arc::new(relais_platform::clock::SystemClock);
    let producer = Engine::builder(store.clone(), clock, EngineConfig::default())
        .register(SleepTask)
        .build()
        .unwrap();
    let requests: Vec<Enqueue> = (0..TASKS)
        .map(|_| Enqueue::new("relais.sleep", serde_json::json!({"ms": 2})))
        .collect();
    for chunk in requests.chunks(1_000) {
        producer.enqueue_many(chunk.to_vec()).await.unwrap();
    }
    let server_cmd = || {
        let mut cmd = relais_db(&ctx);
        cmd.env("RELAIS_TASKS_RESCUE_AFTER", "2s");
        cmd
    };
    let succeeded = |states: &std::collections::BTreeMap<String, i64>| {
        states.get("succeeded").copied().unwrap_or(0)
    };

    let mut first = Server::start(&ctx, "crash-1", server_cmd());
    first.ready().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while succeeded(&task_states(&store).await) < 1_000 {
        assert!(
            Instant::now() < deadline,
            "no progress: {:?}",
            task_states(&store).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    let at_kill = task_states(&store).await;
    assert!(
        succeeded(&at_kill) < TASKS,
        "killed too late to test anything: {at_kill:?}"
    );

    let mut second = Server::start(&ctx, "crash-2", server_cmd());
    second.ready().await;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let states = task_states(&store).await;
        if succeeded(&states) == TASKS {
            assert_eq!(states.len(), 1, "nothing left in another state: {states:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all tasks finished after the restart: {states:?} (at kill: {at_kill:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(second.terminate(), "{}", second.log_text());
    store.close().await;
}

async fn route_limits_must_name_existing_routes(ctx: Ctx) {
    let out = run(relais(&ctx)
        .arg("serve")
        .env("RELAIS_LISTEN", free_addr().to_string())
        .env(
            "RELAIS_LIMITS_ROUTES",
            "POST /api/tasks=100/m, POST /api/nowhere=1/m",
        ));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("limits.routes names routes this server does not have: POST /api/nowhere"),
        "{stderr}"
    );
    assert!(!stderr.contains("POST /api/tasks,"), "{stderr}");
}
