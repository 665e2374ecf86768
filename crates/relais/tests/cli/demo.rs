//! `relais demo elections` through the real binary: both files with their headers and the
//! exact row count, the same bytes for the same seed, and clear refusals.

use super::*;

fn demo(ctx: &Ctx, out: &str, today: &str) -> Output {
    run(relais(ctx)
        .args(["demo", "elections", "--pv-rows", "2000", "--seed", "5"])
        .args(["--today", today, "--out", out]))
}

pub(crate) async fn demo_elections_writes_pv_and_invitation_files(ctx: Ctx) {
    let first = demo(&ctx, "first", "2026-11-22");
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(stdout.contains("wrote 2000 PV rows"), "{stdout}");

    let dir = ctx.dir.join("first");
    let pv = std::fs::read_to_string(dir.join("pv.csv")).unwrap();
    let mut lines = pv.lines();
    assert_eq!(
        lines.next().unwrap(),
        relais_elections::demo::PV_COLUMNS.join(",")
    );
    assert_eq!(lines.count(), 2000);
    let invitations = std::fs::read_to_string(dir.join("invitations.csv")).unwrap();
    let mut lines = invitations.lines();
    assert_eq!(
        lines.next().unwrap(),
        relais_elections::demo::INVITATION_COLUMNS.join(",")
    );
    let count = lines.count();
    assert!(count > 0);
    assert!(
        stdout.contains(&format!("wrote {count} invitations")),
        "{stdout}"
    );
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["invitations.csv", "pv.csv"], "no partial file left");

    let second = demo(&ctx, "second", "2026-11-22");
    assert!(second.status.success(), "{}", text(&second.stderr));
    for file in ["pv.csv", "invitations.csv"] {
        assert!(
            std::fs::read(dir.join(file)).unwrap()
                == std::fs::read(ctx.dir.join("second").join(file)).unwrap(),
            "{file}: same seed, same bytes"
        );
    }

    let late = demo(&ctx, "late", "2040-01-01");
    assert!(!late.status.success());
    let stderr = text(&late.stderr);
    assert!(stderr.contains("C1, C2, C3, C4, C5"), "{stderr}");
    assert!(!ctx.dir.join("late").join("pv.csv").exists());
    assert!(!ctx.dir.join("late").join("pv.csv.partial").exists());
}
