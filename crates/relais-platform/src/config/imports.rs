//! Parsing of the `imports.*` settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, RouteLimit, Values, parse_duration, parse_size};
use crate::imports::FileFormat;
use crate::rate::Rate;

/// The upload route, as `limits.routes` and the rate limiter name it.
pub const UPLOAD_ROUTE: (&str, &str) = ("POST", "/api/imports/{id}");

/// Import settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSettings {
    /// Where uploaded files are stored.
    pub dir: PathBuf,
    /// Default limits of types that set none of their own.
    pub defaults: ImportLimits,
    /// Per-type overrides, winning over the type's own limits.
    pub types: Vec<TypeOverride>,
    /// Rows read per transaction.
    pub batch_rows: usize,
    /// Uploads per caller on the upload route (`None`: unlimited).
    pub upload_rate: Option<Rate>,
    /// Archive-bomb limits of XLSX uploads.
    pub zip: ZipLimits,
    /// Deletion of old records and files; `None` keeps everything.
    pub retention: Option<ImportRetention>,
    /// Whether the built-in `sample` type is registered.
    pub sample: bool,
}

/// The limits of one import type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLimits {
    /// Largest uploaded file, in bytes.
    pub max_size: u64,
    /// Most data rows.
    pub max_rows: u64,
    /// Accepted formats (by extension).
    pub formats: Vec<FileFormat>,
}

/// Some limits of one type, from `imports.types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeOverride {
    /// The type name.
    pub type_name: String,
    /// Largest file.
    pub max_size: Option<u64>,
    /// Most data rows.
    pub max_rows: Option<u64>,
    /// Accepted formats.
    pub formats: Option<Vec<FileFormat>>,
}

/// Limits that refuse ZIP archive bombs (XLSX is a ZIP archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Most entries.
    pub max_entries: u64,
    /// Largest total uncompressed size, in bytes.
    pub max_uncompressed: u64,
    /// Largest uncompressed/compressed ratio of an entry larger than 1 MiB.
    pub max_ratio: u64,
}

/// How long import records and files are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRetention {
    /// Cron expression of the pruning task.
    pub schedule: String,
    /// Finished records are deleted this long after their creation.
    pub records: Duration,
    /// Stored files of finished imports are deleted this long after their upload.
    pub files: Duration,
}

impl ImportSettings {
    /// The defaults, with files under `data_dir`.
    pub fn defaults_in(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("imports"),
            defaults: ImportLimits {
                max_size: 10_000_000,
                max_rows: 50_000,
                formats: FileFormat::DEFAULT.to_vec(),
            },
            types: Vec::new(),
            batch_rows: 1_000,
            upload_rate: Some("10/hour".parse().expect("valid rate")),
            zip: ZipLimits {
                max_entries: 10_000,
                max_uncompressed: 512 << 20,
                max_ratio: 200,
            },
            retention: Some(ImportRetention {
                schedule: "5 * * * *".into(),
                records: Duration::from_secs(90 * 86_400),
                files: Duration::from_secs(30 * 86_400),
            }),
            sample: false,
        }
    }
}

impl ImportSettings {
    /// The route limits with the upload limit added, unless `routes` limits the upload route
    /// already (an explicit `limits.routes` entry wins).
    pub fn with_upload_limit(&self, routes: &[RouteLimit]) -> Vec<RouteLimit> {
        let mut all = routes.to_vec();
        if let Some(rate) = self.upload_rate
            && !routes
                .iter()
                .any(|r| r.method == UPLOAD_ROUTE.0 && r.path == UPLOAD_ROUTE.1)
        {
            all.push(RouteLimit {
                method: UPLOAD_ROUTE.0.into(),
                path: UPLOAD_ROUTE.1.into(),
                rate,
            });
        }
        all
    }
}

/// Parses every `imports.*` setting.
pub(super) fn parse(v: &Values<'_>, data_dir: &Path) -> Result<ImportSettings, ConfigError> {
    let dir = match v.get("imports.dir") {
        None => data_dir.join("imports"),
        Some(_) => v.parse("imports.dir", |s| Ok(PathBuf::from(s)))?,
    };
    let defaults = ImportLimits {
        max_size: v.parse("imports.max_size", positive_size)?,
        max_rows: v.parse("imports.max_rows", positive_count)?,
        formats: v.parse("imports.extensions", |s| parse_formats(s, ','))?,
    };
    let types = match v.get("imports.types") {
        None => Vec::new(),
        Some(_) => v.parse("imports.types", parse_type_overrides)?,
    };
    let batch_rows = v.parse("imports.batch_rows", |s| match s.parse::<usize>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err("expected a whole number from 1 to 100000".into()),
    })?;
    let upload_rate = v.parse("imports.upload_rate", |s| {
        if s == "off" {
            Ok(None)
        } else {
            s.parse::<Rate>()
                .map(Some)
                .map_err(|e| format!("{e}; or `off`"))
        }
    })?;
    let zip = ZipLimits {
        max_entries: v.parse("imports.zip.max_entries", positive_count)?,
        max_uncompressed: v.parse("imports.zip.max_uncompressed", positive_size)?,
        max_ratio: v.parse("imports.zip.max_ratio", positive_count)?,
    };
    let schedule = v.parse("imports.retention.schedule", |s| {
        if s == "off" {
            return Ok(None);
        }
        <croner::Cron as std::str::FromStr>::from_str(s)
            .map(|_| Some(s.to_string()))
            .map_err(|e| format!("not a cron expression ({e}); e.g. `5 * * * *` or `off`"))
    })?;
    let records = v.parse("imports.retention.records", parse_duration)?;
    let files = v.parse("imports.retention.files", parse_duration)?;
    let retention = schedule.map(|schedule| ImportRetention {
        schedule,
        records,
        files,
    });
    let sample = v.parse("imports.sample", |s| match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err("expected `on` or `off`".into()),
    })?;
    Ok(ImportSettings {
        dir,
        defaults,
        types,
        batch_rows,
        upload_rate,
        zip,
        retention,
        sample,
    })
}

fn positive_size(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err("must be more than 0".into()),
        n => Ok(n as u64),
    }
}

fn positive_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a whole number above 0".into()),
    }
}

fn parse_formats(s: &str, separator: char) -> Result<Vec<FileFormat>, String> {
    let mut formats = Vec::new();
    for part in s.split(separator).map(str::trim).filter(|p| !p.is_empty()) {
        let format = FileFormat::from_extension(part.trim_start_matches('.')).ok_or_else(|| {
            format!("`{part}`: unknown extension (expected csv, xlsx, xls or json)")
        })?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        return Err("at least one extension is needed".into());
    }
    Ok(formats)
}

/// Parses `sample.max_rows=200000, sample.extensions=csv|xlsx`.
pub fn parse_type_overrides(s: &str) -> Result<Vec<TypeOverride>, String> {
    let mut out: Vec<TypeOverride> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected TYPE.LIMIT=VALUE"))?;
        let (type_name, limit) = key
            .trim()
            .rsplit_once('.')
            .ok_or_else(|| format!("`{part}`: expected TYPE.LIMIT=VALUE"))?;
        let value = value.trim();
        let entry = match out.iter_mut().position(|o| o.type_name == type_name) {
            Some(i) => &mut out[i],
            None => {
                out.push(TypeOverride {
                    type_name: type_name.to_owned(),
                    max_size: None,
                    max_rows: None,
                    formats: None,
                });
                out.last_mut().expect("just pushed")
            }
        };
        match limit {
            "max_size" => {
                entry.max_size = Some(positive_size(value).map_err(|e| format!("`{part}`: {e}"))?)
            }
            "max_rows" => {
                entry.max_rows = Some(positive_count(value).map_err(|e| format!("`{part}`: {e}"))?)
            }
            "extensions" => {
                entry.formats =
                    Some(parse_formats(value, '|').map_err(|e| format!("`{part}`: {e}"))?)
            }
            other => {
                return Err(format!(
                    "`{part}`: unknown limit `{other}` (expected max_size, max_rows or extensions)"
                ));
            }
        }
    }
    Ok(out)
}
