//! Command-line arguments. Flags are the last configuration layer (see
//! `relais_platform::config`); they may appear before or after the subcommand.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use relais_platform::config::{
    CONFIG_FILE_ENV, Config, ConfigError, ConfigLoader, DEFAULT_CONFIG_FILE,
};

/// relais: durable background work, cache, audit and imports for four business backends.
#[derive(Debug, Parser)]
#[command(name = "relais", version, about)]
pub struct Cli {
    /// Configuration file (default: ./relais.toml when present; also RELAIS_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP listen address [env: RELAIS_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Data directory [env: RELAIS_DATA_DIR] [default: ./relais-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// postgres://… or sqlite://PATH [env: RELAIS_DATABASE_URL] [default: SQLite in the data dir].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// redis://… [env: RELAIS_REDIS_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub redis_url: Option<String>,
    /// text or json [env: RELAIS_LOG_FORMAT] [default: text].
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or relais_http=debug,info [env: RELAIS_LOG_LEVEL] [default: info].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (and, as they land, the workers) until SIGINT/SIGTERM.
    Serve,
    /// Apply pending database migrations and print the schema status.
    Migrate {
        /// Only print the schema status; change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Inspect the configuration.
    Config {
        /// What to inspect.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the version and the schema versions this binary knows.
    Version,
    /// Manage API tokens.
    Token {
        /// What to do.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Import a file through an import type (no size or row limit: for files beyond the upload
    /// limits), with a progress bar; ends when the import does.
    Import(ImportArgs),
    /// Elections app operations.
    Elections {
        /// What to do.
        #[command(subcommand)]
        command: ElectionsCommand,
    },
    /// Inspect the audit trail.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Generate demonstration data files (nothing is written to the database).
    Demo {
        /// Which app's data.
        #[command(subcommand)]
        what: DemoCommand,
    },
    /// Measure performance; prints medians of several runs.
    Bench {
        /// What to measure.
        #[command(subcommand)]
        what: BenchCommand,
    },
}

/// `relais import` arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The import type (see GET /api/imports/types).
    #[arg(value_name = "TYPE")]
    pub type_name: String,
    /// The file (.csv, .xlsx or .xls, as the type accepts).
    pub file: PathBuf,
    /// Validate and report only; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import even if the same file was imported successfully before.
    #[arg(long)]
    pub force: bool,
    /// One of the type's write modes (default: its first).
    #[arg(long)]
    pub mode: Option<String>,
    /// The scope of modes that take one.
    #[arg(long)]
    pub scope: Option<String>,
    /// Spreadsheets: the sheet to read (default: the first).
    #[arg(long)]
    pub sheet: Option<String>,
}

/// `relais elections` subcommands.
#[derive(Debug, Subcommand)]
pub enum ElectionsCommand {
    /// Build the per-SIRET summary in this process, with a progress bar; ends when the build
    /// does (exit status 1 when it fails or is cancelled). The build is enqueued like
    /// `POST /api/elections/build` (a build already queued or running is followed instead),
    /// then this process works the `imports` queue, where builds run, until it ends.
    Build {
        /// Recompute every SIRET (otherwise only those imports changed since the last build;
        /// both give the same tables).
        #[arg(long)]
        full: bool,
    },
}

/// `relais demo` subcommands.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Synthetic, realistic election results and PAP invitations, the same for the same seed.
    ///
    /// Writes DIR/pv.csv: one row per PV × collège in the normalised layout of the published
    /// files (pv_number, siret, raison_sociale, ville, idcc, college, date YYYYMMDD, inscrits,
    /// votants, sve, the eight unions' votes, departement, source_file), then `type` (CSE, or
    /// CAR for a carence) and `sieges_a_pourvoir` (empty when the PV does not give it). Rows
    /// cover the current cycle and the two before it, up to --today. And DIR/invitations.csv in
    /// the upstream invitations template (SIRET, Date invitation DD/MM/YYYY, Raison sociale, …).
    ///
    /// Existing files of those names are replaced. Once the elections import types are
    /// available, load the files with `relais import elections.pv DIR/pv.csv` (and the
    /// invitations type for DIR/invitations.csv).
    Elections(DemoElectionsArgs),
}

/// `relais demo elections` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoElectionsArgs {
    /// PV rows to write (exactly).
    #[arg(long, value_name = "N")]
    pub pv_rows: u64,
    /// Seed of the generator.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR", default_value = "relais-demo")]
    pub out: PathBuf,
    /// Last day of the data, YYYY-MM-DD [default: today, UTC].
    #[arg(long, value_name = "DATE")]
    pub today: Option<chrono::NaiveDate>,
}

/// `relais bench` subcommands.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// No-op tasks: bulk insert then drain (tasks/s), and enqueue→start latency under a trickle.
    /// Without a database URL each run uses a fresh SQLite file in a temporary directory.
    Tasks {
        /// Tasks per throughput run.
        #[arg(long, default_value_t = 20_000)]
        tasks: usize,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Worker concurrency of the queue.
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
        /// Tasks in the latency trickle (one every 2 ms).
        #[arg(long, default_value_t = 500)]
        trickle: usize,
    },
    /// A mutating request (`POST /api/tasks` with an admin token, in process through the whole
    /// router) with and without the audit middleware, at a fixed number of requests in flight;
    /// prints requests/s and the difference. Both routers share one database per run and take
    /// turns in short slices (ABBA…). Without a database URL each run uses a fresh SQLite file in
    /// a temporary directory.
    Audit {
        /// Requests per router and run (in 10 slices).
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Cache: local hits/s and p50/p99 hit latency on 2 threads; with a Redis URL also tiered
    /// (local) and Redis hit latency, and the delay of an invalidation between two instances.
    Cache {
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Distinct keys read.
        #[arg(long, default_value_t = 10_000)]
        keys: usize,
        /// Local hits per thread in the throughput measurement.
        #[arg(long, default_value_t = 2_000_000)]
        ops: usize,
    },
    /// Imports: a generated CSV of the built-in `sample` type through the whole pipeline (copy
    /// to the file store with the upload checks, then read, parse, validate and upsert in
    /// batches) with rows/s and peak memory (also for a tenth of the rows, to show memory does
    /// not grow with the file); then a 10 MB upload over HTTP. Without a database URL each run
    /// uses a fresh SQLite file.
    Import {
        /// Rows per run.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Uploads of a 10 MB file timed over HTTP (0: skip).
        #[arg(long, default_value_t = 21)]
        upload_runs: usize,
    },
    /// The elections summary build (`elections.build`): the full build of the real PV file and
    /// of synthetic files of the demo generator, end to end (request to success) with peak
    /// memory, then an incremental build after changing the PV rows of `--changed` SIRETs.
    /// Each data set is loaded into a fresh database (a SQLite file; with a PostgreSQL URL a new
    /// schema, dropped afterwards) through the storage module's batch upsert, not the upload
    /// pipeline; the load is not measured.
    Elections {
        /// Synthetic PV rows per data set, comma-separated (`126k,1M,10M`; empty: none).
        #[arg(long, default_value = "126k,1M,10M")]
        sizes: String,
        /// Runs per measurement (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The real PV file [default: the one committed with the elections app].
        #[arg(long, value_name = "FILE")]
        real_file: Option<PathBuf>,
        /// Skip the real file.
        #[arg(long, conflicts_with = "real_file")]
        no_real: bool,
        /// SIRETs changed before each incremental build.
        #[arg(long, default_value_t = 1_000)]
        changed: usize,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// `relais audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain (from the anchor left by retention to the head) and report the
    /// first broken link; exits with status 3 when the chain is broken.
    Verify,
}

/// `relais token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown once; only a hash is stored).
    Create {
        /// Unique name, recorded as the actor of what the token does.
        #[arg(long)]
        name: String,
        /// `admin`, `operator` or `viewer`.
        #[arg(long)]
        role: String,
        /// Valid for this long (e.g. `90d`, `12h`); unset: until revoked.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id or name.
    Revoke {
        /// Id or name.
        token: String,
    },
}

/// `relais config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets masked, each value with its origin.
    Show,
}

impl Cli {
    /// Loads defaults < file < environment < these flags.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let env_file = std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from);
        let (file, required) = match (&self.config, env_file) {
            (Some(path), _) => (path.clone(), true),
            (None, Some(path)) => (path, true),
            (None, None) => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        ConfigLoader::new()
            .file(&file, required)?
            .env(std::env::vars())
            .flag("listen", self.listen.clone())
            .flag("data-dir", self.data_dir.clone())
            .flag("database-url", self.database_url.clone())
            .flag("redis-url", self.redis_url.clone())
            .flag("log-format", self.log_format.clone())
            .flag("log-level", self.log_level.clone())
            .load()
    }
}
