//! `relais demo`: demonstration data files written by the apps' generators.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use relais_elections::demo::{self as elections, DemoSpec};

use crate::cli::{DemoCommand, DemoElectionsArgs};

/// Runs a `relais demo` subcommand.
pub fn run(command: DemoCommand) -> anyhow::Result<()> {
    match command {
        DemoCommand::Elections(args) => self::elections(args),
    }
}

/// Writes `pv.csv` and `invitations.csv` in the output directory (each first under a
/// `.partial` name, renamed once complete) and prints what it wrote.
fn elections(args: DemoElectionsArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let today = args
        .today
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let spec = DemoSpec::new(args.pv_rows, args.seed, today);
    let pv = Partial::create(args.out.join("pv.csv"))?;
    let invitations = Partial::create(args.out.join("invitations.csv"))?;
    let started = Instant::now();
    let counts = elections::generate(&spec, &pv.file, &invitations.file)?;
    let elapsed = started.elapsed();
    let pv_path = pv.commit()?;
    let invitations_path = invitations.commit()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} PV rows ({} SIRETs) to {}",
        counts.pv_rows,
        counts.sirets,
        pv_path.display()
    )?;
    writeln!(
        out,
        "wrote {} invitations to {}",
        counts.invitations,
        invitations_path.display()
    )?;
    writeln!(
        out,
        "seed {}, dated up to {today}, in {:.1} s",
        args.seed,
        elapsed.as_secs_f64()
    )?;
    Ok(())
}

/// A file written under `NAME.partial` and renamed to `NAME` by [`Partial::commit`]; dropped
/// uncommitted, the partial file is removed.
struct Partial {
    file: File,
    partial: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Partial {
    fn create(target: PathBuf) -> anyhow::Result<Self> {
        let mut partial = target.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        Ok(Partial {
            file,
            partial,
            target,
            committed: false,
        })
    }

    fn commit(mut self) -> anyhow::Result<PathBuf> {
        rename(&self.partial, &self.target)?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

fn rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
