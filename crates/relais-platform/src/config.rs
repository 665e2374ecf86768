//! Layered configuration: defaults < `relais.toml` < `RELAIS_*` environment < command-line flags.
//!
//! Every setting is one row of [`SETTINGS`]: its dotted key (also its TOML path), its environment
//! variable, its command-line flag and its default. Layers are collected as raw strings with their
//! [`Origin`], then parsed once into [`Config`]; an error names the key, where the value came from
//! and what was wrong. [`Config`] is the only way to get a configuration, so code that holds one
//! holds a valid one.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod cache_limits;
mod imports;
mod settings;

pub use cache_limits::{CacheSettings, LimitSettings, RouteLimit, parse_route_limits};

pub use imports::{
    ImportLimits, ImportRetention, ImportSettings, TypeOverride, UPLOAD_ROUTE, ZipLimits,
    parse_type_overrides,
};
pub use settings::{SETTINGS, Setting};

/// Environment variable naming the configuration file (also `--config`).
pub const CONFIG_FILE_ENV: &str = "RELAIS_CONFIG";
/// The configuration file read from the working directory when none is named.
pub const DEFAULT_CONFIG_FILE: &str = "relais.toml";
/// Environment variables with this prefix belong to the test suites, not to the server.
pub const TEST_ENV_PREFIX: &str = "RELAIS_TEST_";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("configuration file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key nobody knows: usually a typo.
    #[error("unknown setting `{key}` in {origin}; known settings: {known}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it was found.
        origin: Origin,
        /// The list of valid keys.
        known: String,
    },
    /// A `RELAIS_*` environment variable that is not a setting: usually a typo.
    #[error("unknown environment variable {name}; known: {known}")]
    UnknownEnv {
        /// The variable.
        name: String,
        /// The valid variables.
        known: String,
    },
    /// A value that does not parse or is out of range.
    #[error("invalid value for `{key}` from {origin}: {value}: {reason}")]
    Invalid {
        /// The setting's key.
        key: &'static str,
        /// Where the value came from.
        origin: Origin,
        /// The value, masked when secret.
        value: String,
        /// What was wrong.
        reason: String,
    },
}

/// Which database relais runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// An embedded SQLite file.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Reader connections (one writer connection besides).
        readers: u32,
        /// How long a statement waits for a lock.
        busy_timeout: Duration,
    },
    /// A PostgreSQL server shared by any number of relais processes.
    Postgres {
        /// The connection URL (contains secrets: never log it).
        url: String,
        /// Pool size.
        max_connections: u32,
        /// How long to wait for a connection.
        connect_timeout: Duration,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The validated, effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database backend and its settings.
    pub database: DatabaseConfig,
    /// Redis URL when configured (contains secrets: never log it).
    pub redis_url: Option<String>,
    /// Secret of the bootstrap admin token, when given.
    pub admin_token: Option<String>,
    /// Cache backend, memory budget and default TTL.
    pub cache: CacheSettings,
    /// Rate-limit backend and per-route limits.
    pub limits: LimitSettings,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter directive.
    pub log_level: String,
    /// Largest accepted request body for JSON routes, in bytes.
    pub http_max_body: usize,
    /// Grace period on shutdown.
    pub shutdown_grace: Duration,
    /// Task queues this process works, with their concurrency.
    pub task_queues: Vec<(String, usize)>,
    /// Rescue running tasks whose worker stopped heartbeating for this long.
    pub task_rescue_after: Duration,
    /// Deletion of old finished tasks; `None` keeps every task.
    pub task_retention: Option<crate::tasks::RetentionPolicy>,
    /// Imports: file store, limits, batches, retention.
    pub imports: ImportSettings,
    /// Audit records older than this are deleted; `None` keeps every record.
    pub audit_retention: Option<Duration>,
    /// Effective raw values with their origins, for `relais config show`.
    effective: Vec<(&'static Setting, Option<(String, Origin)>)>,
}

impl Config {
    /// The configuration with defaults only (data directory as given): what tests start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut loader = ConfigLoader::new();
        loader.set(
            "data_dir",
            data_dir.into().to_string_lossy().into_owned(),
            Origin::Default,
        );
        loader.load().expect("defaults are valid")
    }

    /// Renders the effective configuration as TOML-like lines, secrets masked, each with its origin.
    pub fn show(&self) -> String {
        let mut out = String::new();
        for (setting, value) in &self.effective {
            match value {
                Some((raw, origin)) => {
                    let shown = if setting.secret {
                        mask_secret(raw)
                    } else {
                        raw.clone()
                    };
                    out.push_str(&format!("{} = {:?}  # {origin}\n", setting.key, shown));
                }
                None => out.push_str(&format!(
                    "# {} is not set  ({})\n",
                    setting.key, setting.env
                )),
            }
        }
        out
    }

    /// The effective value of `key` with secrets masked, if set.
    pub fn shown_value(&self, key: &str) -> Option<String> {
        self.effective
            .iter()
            .find(|(s, _)| s.key == key)
            .and_then(|(s, v)| {
                v.as_ref().map(|(raw, _)| {
                    if s.secret {
                        mask_secret(raw)
                    } else {
                        raw.clone()
                    }
                })
            })
    }

    /// Overrides the database (tests use it to point a server at a fresh schema).
    pub fn with_database(mut self, database: DatabaseConfig) -> Self {
        self.database = database;
        self
    }

    /// Overrides the import settings.
    pub fn with_imports(mut self, imports: ImportSettings) -> Self {
        self.imports = imports;
        self
    }

    /// Overrides the Redis URL.
    pub fn with_redis_url(mut self, url: Option<String>) -> Self {
        self.redis_url = url;
        self
    }

    /// Overrides the listen address.
    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }
}

/// Collects the layers, then parses them into a [`Config`].
#[derive(Debug, Default)]
pub struct ConfigLoader {
    values: BTreeMap<&'static str, (String, Origin)>,
    errors: Vec<ConfigError>,
}

impl ConfigLoader {
    /// A loader holding the defaults.
    pub fn new() -> Self {
        let mut loader = Self::default();
        for setting in SETTINGS {
            if let Some(default) = setting.default {
                loader
                    .values
                    .insert(setting.key, (default.to_owned(), Origin::Default));
            }
        }
        loader
    }

    fn set(&mut self, key: &str, value: String, origin: Origin) {
        match SETTINGS.iter().find(|s| s.key == key) {
            Some(setting) => {
                self.values.insert(setting.key, (value, origin));
            }
            None => self.errors.push(ConfigError::UnknownKey {
                key: key.to_owned(),
                origin,
                known: known_keys(),
            }),
        }
    }

    /// Reads a TOML file. A missing file is an error only when `required` (named explicitly).
    pub fn file(mut self, path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(self),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat);
        for (key, value) in flat {
            let origin = Origin::File(path.to_owned());
            match value {
                Ok(value) => self.set(&key, value, origin),
                Err(kind) => {
                    let known = SETTINGS.iter().find(|s| s.key == key);
                    match known {
                        Some(setting) => self.errors.push(ConfigError::Invalid {
                            key: setting.key,
                            origin,
                            value: kind.to_owned(),
                            reason: "expected a string, number or boolean".into(),
                        }),
                        None => self.errors.push(ConfigError::UnknownKey {
                            key,
                            origin,
                            known: known_keys(),
                        }),
                    }
                }
            }
        }
        Ok(self)
    }

    /// Applies `RELAIS_*` variables. Unknown `RELAIS_*` names are refused (a typo would otherwise
    /// silently fall back to a default); `RELAIS_TEST_*` and `RELAIS_CONFIG` are not settings.
    pub fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        for (name, value) in vars {
            if !name.starts_with("RELAIS_")
                || name.starts_with(TEST_ENV_PREFIX)
                || name == CONFIG_FILE_ENV
            {
                continue;
            }
            match SETTINGS.iter().find(|s| s.env == name) {
                Some(setting) => {
                    self.values
                        .insert(setting.key, (value, Origin::Env(setting.env)));
                }
                None => self.errors.push(ConfigError::UnknownEnv {
                    name,
                    known: SETTINGS
                        .iter()
                        .map(|s| s.env)
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
        self
    }

    /// Applies a command-line flag (name without dashes).
    pub fn flag(mut self, flag: &str, value: Option<String>) -> Self {
        if let Some(value) = value {
            match SETTINGS.iter().find(|s| s.flag == Some(flag)) {
                Some(setting) => {
                    let flag = setting.flag.expect("matched on flag");
                    self.values.insert(setting.key, (value, Origin::Flag(flag)));
                }
                None => self.errors.push(ConfigError::UnknownKey {
                    key: format!("--{flag}"),
                    origin: Origin::Default,
                    known: known_keys(),
                }),
            }
        }
        self
    }

    /// Parses and validates every layer into a [`Config`]; the first problem is reported.
    pub fn load(mut self) -> Result<Config, ConfigError> {
        if !self.errors.is_empty() {
            return Err(self.errors.remove(0));
        }
        let v = Values(&self.values);
        let listen: SocketAddr = v.parse("listen", |s| {
            s.parse::<SocketAddr>()
                .map_err(|_| "not a socket address such as 127.0.0.1:8080".to_owned())
        })?;
        let data_dir: PathBuf = v.parse("data_dir", |s| {
            if s.trim().is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(PathBuf::from(s))
            }
        })?;
        let max_connections: u32 =
            v.parse("database.max_connections", |s| match s.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err("expected a whole number from 1 to 1000".into()),
            })?;
        let connect_timeout = v.parse("database.connect_timeout", parse_duration)?;
        let busy_timeout = v.parse("database.busy_timeout", parse_duration)?;
        let database = match v.get("database.url") {
            None => DatabaseConfig::Sqlite {
                path: data_dir.join("relais.db"),
                readers: max_connections,
                busy_timeout,
            },
            Some(_) => v.parse("database.url", |s| {
                parse_database_url(s, max_connections, connect_timeout, busy_timeout)
            })?,
        };
        let admin_token = match v.get("auth.admin_token") {
            None => None,
            Some(_) => Some(v.parse("auth.admin_token", |s| {
                if s.len() < 20 {
                    Err("must have at least 20 characters".to_owned())
                } else {
                    Ok(s.to_owned())
                }
            })?),
        };
        let redis_url = match v.get("redis.url") {
            None => None,
            Some(_) => Some(v.parse("redis.url", |s| {
                let url = url::Url::parse(s).map_err(|e| format!("not a URL ({e})"))?;
                match url.scheme() {
                    "redis" | "rediss" => Ok(s.to_owned()),
                    other => Err(format!("unsupported scheme `{other}` (expected redis://)")),
                }
            })?),
        };
        let (cache, limits) = cache_limits::parse(&v, redis_url.is_some())?;
        let imports = imports::parse(&v, &data_dir)?;
        let log_format = v.parse("log.format", |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected `text` or `json`".into()),
        })?;
        let log_level = v.parse("log.level", |s| {
            if s.trim().is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(s.to_owned())
            }
        })?;
        let http_max_body = v.parse("http.max_body", |s| {
            let n = parse_size(s)?;
            if n < 1024 {
                Err("must be at least 1KiB".into())
            } else {
                Ok(n)
            }
        })?;
        let shutdown_grace = v.parse("shutdown.grace", parse_duration)?;
        let task_queues = v.parse("tasks.queues", parse_queues)?;
        let task_rescue_after = v.parse("tasks.rescue_after", |s| {
            let d = parse_duration(s)?;
            if d < Duration::from_secs(2) {
                Err("must be at least 2s (four heartbeats)".into())
            } else {
                Ok(d)
            }
        })?;
        let schedule = v.parse("tasks.retention.schedule", |s| {
            if s == "off" {
                return Ok(None);
            }
            <croner::Cron as std::str::FromStr>::from_str(s)
                .map(|_| Some(s.to_string()))
                .map_err(|e| format!("not a cron expression ({e}); e.g. `*/15 * * * *` or `off`"))
        })?;
        let succeeded = v.parse("tasks.retention.succeeded", parse_duration)?;
        let cancelled = v.parse("tasks.retention.cancelled", parse_duration)?;
        let failed = v.parse("tasks.retention.failed", parse_duration)?;
        let discarded = v.parse("tasks.retention.discarded", parse_duration)?;
        let task_retention = schedule.map(|schedule| crate::tasks::RetentionPolicy {
            succeeded,
            cancelled,
            failed,
            discarded,
            schedule,
        });
        let audit_retention = v.parse("audit.retention", |s| {
            if s == "off" {
                return Ok(None);
            }
            let d = parse_duration(s)?;
            if d < Duration::from_secs(3600) {
                Err("must be at least 1h, or `off`".into())
            } else {
                Ok(Some(d))
            }
        })?;
        let effective = SETTINGS
            .iter()
            .map(|s| (s, self.values.get(s.key).cloned()))
            .collect();
        Ok(Config {
            listen,
            data_dir,
            database,
            redis_url,
            admin_token,
            cache,
            limits,
            log_format,
            log_level,
            http_max_body,
            shutdown_grace,
            task_queues,
            task_rescue_after,
            task_retention,
            imports,
            audit_retention,
            effective,
        })
    }
}

struct Values<'a>(&'a BTreeMap<&'static str, (String, Origin)>);

impl Values<'_> {
    fn get(&self, key: &str) -> Option<&(String, Origin)> {
        self.0.get(key).filter(|(v, _)| !v.is_empty())
    }

    fn parse<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let setting = SETTINGS.iter().find(|s| s.key == key).expect("known key");
        let (raw, origin) = self
            .get(key)
            .cloned()
            .unwrap_or((String::new(), Origin::Default));
        parse(raw.trim()).map_err(|reason| ConfigError::Invalid {
            key: setting.key,
            origin,
            value: if setting.secret {
                format!("{:?}", mask_secret(&raw))
            } else {
                format!("{raw:?}")
            },
            reason,
        })
    }
}

fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .collect::<Vec<_>>()
        .join(", ")
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, Result<String, &'static str>)>,
) {
    for (k, value) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let scalar = match value {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            toml::Value::Table(t) => {
                flatten(&key, t, out);
                continue;
            }
            toml::Value::Array(_) => Err("an array"),
            toml::Value::Datetime(_) => Err("a date"),
        };
        out.push((key, scalar));
    }
}

fn parse_database_url(
    s: &str,
    max_connections: u32,
    connect_timeout: Duration,
    busy_timeout: Duration,
) -> Result<DatabaseConfig, String> {
    if let Some(path) = s
        .strip_prefix("sqlite://")
        .or_else(|| s.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(
                "sqlite:// needs a file path, e.g. sqlite://./relais-data/relais.db".into(),
            );
        }
        return Ok(DatabaseConfig::Sqlite {
            path: PathBuf::from(path),
            readers: max_connections,
            busy_timeout,
        });
    }
    let url = url::Url::parse(s).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(DatabaseConfig::Postgres {
            url: s.to_owned(),
            max_connections,
            connect_timeout,
        }),
        other => Err(format!(
            "unsupported scheme `{other}` (expected postgres://… or sqlite://PATH)"
        )),
    }
}

/// Masks the password of a URL (`postgres://user:****@host/db`); other values are kept.
pub fn mask_secret(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "****".to_owned(),
    }
}

/// Parses `default=10,imports=2`: queue names (letters, digits, `_`, `-`, `.`) with concurrency 1–1000.
pub fn parse_queues(s: &str) -> Result<Vec<(String, usize)>, String> {
    let mut queues: Vec<(String, usize)> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, n) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected NAME=CONCURRENCY"))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(format!(
                "`{name}`: a queue name uses letters, digits, `_`, `-` and `.`"
            ));
        }
        let n: usize = n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                format!("`{part}`: concurrency must be a whole number from 1 to 1000")
            })?;
        if queues.iter().any(|(q, _)| q == name) {
            return Err(format!("queue `{name}` is listed twice"));
        }
        queues.push((name.to_owned(), n));
    }
    if queues.is_empty() {
        return Err("at least one queue is needed".into());
    }
    Ok(queues)
}

/// Parses `250ms`, `30s`, `5m`, `2h` (a bare number means seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a duration such as 250ms, 30s, 5m, 2h or 7d".to_owned())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86_400)),
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use ms, s, m, h or d)"
            ));
        }
    };
    Ok(d)
}

/// Parses `512`, `64KiB`, `2MiB`, `1GiB`, `10MB` (decimal units are 1000-based).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| "expected a size such as 512KiB or 2MiB".to_owned())?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| "size too large".to_owned())
}

#[cfg(test)]
mod tests;
