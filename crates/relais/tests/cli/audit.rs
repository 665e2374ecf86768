//! The audit trail through the real binary: a SIGKILL under load loses no record of an
//! acknowledged request, `relais audit verify` names tampering, and command-line operations are
//! recorded.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use relais_platform::audit::AuditEntry;
use tokio::sync::Notify;

use super::*;

const ADMIN: &str = "audit-admin-secret-of-the-deployment";

fn server(ctx: &Ctx, name: &str) -> Server {
    let mut cmd = relais_db(ctx);
    cmd.env("RELAIS_ADMIN_TOKEN", ADMIN);
    Server::start(ctx, name, cmd)
}

/// Every stored record, in sequence order.
async fn all_records(ctx: &Ctx) -> Vec<AuditEntry> {
    let store = relais_platform::store::open(&ctx.database).await.unwrap();
    let mut out = Vec::new();
    let mut after = store.audit_chain().await.unwrap().anchor_seq;
    loop {
        let page = store.audit_entries(after, i64::MAX, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(page);
    }
    store.close().await;
    out
}

fn verify(ctx: &Ctx) -> Output {
    run(relais_db(ctx).args(["audit", "verify"]))
}

pub(crate) async fn sigkill_under_load_loses_no_audit_record(ctx: Ctx) {
    const IN_FLIGHT: usize = 64;
    const BEFORE_KILL: usize = 1500;
    let mut first = server(&ctx, "load-1");
    first.ready().await;
    let url = first.url("/api/tasks");
    let client = reqwest::Client::new();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let cut = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let clients: Vec<_> = (0..IN_FLIGHT)
        .map(|w| {
            let (client, url) = (client.clone(), url.clone());
            let (acknowledged, refused, cut, enough) = (
                acknowledged.clone(),
                refused.clone(),
                cut.clone(),
                enough.clone(),
            );
            tokio::spawn(async move {
                for i in 0.. {
                    let id = format!("load-{w}-{i}");
                    let sent = client
                        .post(&url)
                        .bearer_auth(ADMIN)
                        .header("x-request-id", &id)
                        .json(&serde_json::json!({"kind": "relais.noop", "args": {}}))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            let mut ok = acknowledged.lock().unwrap();
                            ok.push(id);
                            if ok.len() == BEFORE_KILL {
                                enough.notify_one();
                            }
                        }
                        Ok(r) => refused.lock().unwrap().push((id, r.status().as_u16())),
                        Err(_) => {
                            // The server is gone: this request was in flight at the kill.
                            cut.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    enough.notified().await;
    first.child.kill().unwrap(); // SIGKILL, requests in flight
    first.child.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= BEFORE_KILL);
    assert_eq!(
        *refused.lock().unwrap(),
        Vec::<(String, u16)>::new(),
        "no refusal under load"
    );
    assert_eq!(
        cut.load(Ordering::SeqCst),
        IN_FLIGHT,
        "every client saw the kill"
    );

    // A restart on the same database serves and records again.
    let mut second = server(&ctx, "load-2");
    second.ready().await;
    let after = reqwest::Client::new()
        .post(second.url("/api/tasks"))
        .bearer_auth(ADMIN)
        .header("x-request-id", "after-restart")
        .json(&serde_json::json!({"kind": "relais.noop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 202);
    assert!(second.terminate(), "{}", second.log_text());

    let records = all_records(&ctx).await;
    let recorded: HashSet<&str> = records
        .iter()
        .filter_map(|e| e.record.request_id.as_deref())
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !recorded.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged requests have no audit record, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(recorded.contains("after-restart"));
    let verified = verify(&ctx);
    assert!(
        verified.status.success(),
        "{}{}",
        text(&verified.stdout),
        text(&verified.stderr)
    );
    assert!(
        text(&verified.stdout).contains(&format!("audit chain intact: {} records", records.len())),
        "{}",
        text(&verified.stdout)
    );
}

pub(crate) async fn audit_verify_names_a_tampered_record(ctx: Ctx) {
    let mut s = server(&ctx, "tamper");
    s.ready().await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let r = client
            .post(s.url("/api/tasks"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"kind": "relais.noop"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    assert!(s.terminate());
    // The migrations applied at start, the bootstrap token's creation, then five requests.
    let intact = verify(&ctx);
    assert!(intact.status.success(), "{}", text(&intact.stderr));
    assert!(
        text(&intact.stdout).contains("audit chain intact: 7 records"),
        "{}",
        text(&intact.stdout)
    );

    let first: Vec<(String, String)> = all_records(&ctx)
        .await
        .into_iter()
        .take(3)
        .map(|e| (e.record.actor, e.record.action))
        .collect();
    assert_eq!(
        first,
        vec![
            ("system:startup".into(), "migrate".into()),
            ("system:bootstrap".into(), "bootstrap admin token".into()),
            ("bootstrap-admin".into(), "POST /api/tasks".into()),
        ]
    );
    exec(
        &ctx,
        "UPDATE relais_audit_log SET status = 200 WHERE seq = 3",
    )
    .await;
    let changed = verify(&ctx);
    assert_eq!(changed.status.code(), Some(3), "{}", text(&changed.stderr));
    let out = text(&changed.stdout);
    assert!(
        out.contains("BROKEN at record 3") && out.contains("changed after it was written"),
        "{out}"
    );
    assert!(text(&changed.stderr).contains("broken at record 3"));

    exec(&ctx, "DELETE FROM relais_audit_log WHERE seq = 2").await;
    let deleted = verify(&ctx);
    assert_eq!(deleted.status.code(), Some(3));
    let out = text(&deleted.stdout);
    assert!(
        out.contains("BROKEN at record 2") && out.contains("deleted"),
        "{out}"
    );
}

pub(crate) async fn command_line_operations_are_recorded(ctx: Ctx) {
    let as_ops = |args: &[&str]| {
        let mut cmd = relais_db(&ctx);
        cmd.env("USER", "ops").args(args);
        run(&mut cmd)
    };
    assert!(as_ops(&["migrate"]).status.success());
    let created = as_ops(&["token", "create", "--name", "ci", "--role", "viewer"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let secret = text(&created.stdout).trim().to_owned();
    assert!(
        !as_ops(&["token", "create", "--name", "ci", "--role", "viewer"])
            .status
            .success()
    );
    assert!(as_ops(&["token", "list"]).status.success());
    assert!(as_ops(&["token", "revoke", "ci"]).status.success());
    assert!(!as_ops(&["token", "revoke", "nobody"]).status.success());
    let file = ctx.dir.join("few.csv");
    std::fs::write(&file, sample_csv(3).0).unwrap();
    let mut import = relais_db(&ctx);
    import
        .env("USER", "ops")
        .env("RELAIS_IMPORTS_SAMPLE", "on")
        .args(["import", "sample"])
        .arg(&file);
    let imported = run(&mut import);
    assert!(imported.status.success(), "{}", text(&imported.stderr));

    let records = all_records(&ctx).await;
    let summary: Vec<(&str, &str, bool)> = records
        .iter()
        .map(|e| {
            (
                e.record.actor.as_str(),
                e.record.action.as_str(),
                e.record.success,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("cli:ops", "cli migrate", true),
            ("cli:ops", "cli token create", true),
            ("cli:ops", "cli token create", false),
            ("cli:ops", "cli token list", true),
            ("cli:ops", "cli token revoke", true),
            ("cli:ops", "cli token revoke", false),
            ("cli:ops", "cli import", true),
        ]
    );
    let import = &records[6].record;
    assert_eq!(import.resource_type.as_deref(), Some("imports"));
    assert_eq!(import.params.to_value()["type"], "sample");
    let created = &records[1].record;
    assert_eq!(created.resource_type.as_deref(), Some("tokens"));
    assert!(
        created
            .resource_id
            .as_deref()
            .is_some_and(|id| id.len() == 36)
    );
    assert_eq!(created.params.to_value()["name"], "ci");
    assert!(
        records[2].record.params.to_value()["error"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    assert!(
        records
            .iter()
            .all(|e| !e.record.params.as_str().contains(&secret))
    );
    assert!(verify(&ctx).status.success());
}
