//! What an import is: its status, record, counts and row issues. Plain data shared by the
//! service, storage and HTTP.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::FileFormat;

/// The life of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    /// Stored; its task waits to run (or to be retried).
    Pending,
    /// Its task is reading and writing rows.
    Running,
    /// Every row was accepted and written.
    Succeeded,
    /// Some rows were rejected; the others were written.
    Partial,
    /// Nothing more will be written: a fatal problem (missing columns, unreadable file, no
    /// accepted row) or the task ran out of attempts.
    Failed,
    /// Cancelled; rows of batches committed before stay written.
    Cancelled,
}

impl ImportStatus {
    /// Every status.
    pub const ALL: [ImportStatus; 6] = [
        ImportStatus::Pending,
        ImportStatus::Running,
        ImportStatus::Succeeded,
        ImportStatus::Partial,
        ImportStatus::Failed,
        ImportStatus::Cancelled,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Pending => "pending",
            ImportStatus::Running => "running",
            ImportStatus::Succeeded => "succeeded",
            ImportStatus::Partial => "partial",
            ImportStatus::Failed => "failed",
            ImportStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the import will not change again (unless retried).
    pub fn is_final(self) -> bool {
        !matches!(self, ImportStatus::Pending | ImportStatus::Running)
    }
}

impl fmt::Display for ImportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImportStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImportStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown import status `{s}`"))
    }
}

/// Row counts of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    /// Data rows read (blank rows are skipped and not counted).
    pub read: u64,
    /// Rows that passed validation.
    pub accepted: u64,
    /// Rows rejected (each with at least one error).
    pub rejected: u64,
    /// Warnings recorded (accepted rows with oddities, unknown header columns).
    pub warnings: u64,
    /// Rows the type's storage inserted.
    pub inserted: u64,
    /// Rows the type's storage changed.
    pub updated: u64,
    /// Rows already stored with the same values.
    pub unchanged: u64,
    /// Rows the type's storage deleted (e.g. when replacing a scope).
    pub deleted: u64,
}

impl ImportCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &ImportCounts) {
        self.read += other.read;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.warnings += other.warnings;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
    }
}

/// The stored file of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFile {
    /// The name the client gave (shown only; the stored path comes from the import id).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// The format, from the extension and checked against the content.
    pub format: FileFormat,
    /// CSV: `utf-8`, `utf-8-bom` or `windows-1252`.
    pub encoding: Option<String>,
    /// When retention deleted the stored file.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A stored import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// UUIDv7.
    pub id: Uuid,
    /// The import type.
    pub type_name: String,
    /// Current status (an import whose task ended without finishing it shows `failed` or
    /// `cancelled`, from the task).
    pub status: ImportStatus,
    /// Validate and report only; write nothing.
    pub dry_run: bool,
    /// The type's write mode.
    pub mode: String,
    /// The mode's scope, for modes that take one.
    pub scope: Option<String>,
    /// The sheet read (spreadsheets; `None`: the first).
    pub sheet: Option<String>,
    /// The file.
    pub file: ImportFile,
    /// Row limit checked before anything is written (`None`: none, e.g. from the CLI).
    pub max_rows: Option<u64>,
    /// Who uploaded it.
    pub uploader: Option<String>,
    /// The task processing it.
    pub task_id: Option<Uuid>,
    /// Attempts started.
    pub attempts: i32,
    /// Row counts so far.
    pub counts: ImportCounts,
    /// Data records committed: a resumed attempt starts after them.
    pub resume_offset: u64,
    /// How the header was matched (`matched`: column → header, `unknown`: headers ignored).
    pub columns: Option<serde_json::Value>,
    /// Why the import failed or was cancelled.
    pub error: Option<String>,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// Start of the first attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
}

/// An import to insert.
#[derive(Debug, Clone)]
pub struct NewImport {
    /// UUIDv7 (the stored file is named after it).
    pub id: Uuid,
    /// The type.
    pub type_name: String,
    /// Validate only.
    pub dry_run: bool,
    /// Write mode.
    pub mode: String,
    /// Its scope.
    pub scope: Option<String>,
    /// Sheet.
    pub sheet: Option<String>,
    /// The file.
    pub file: ImportFile,
    /// Row limit checked before writing.
    pub max_rows: Option<u64>,
    /// Uploader.
    pub uploader: Option<String>,
    /// The task that will process it.
    pub task_id: Uuid,
    /// Upload time.
    pub created_at: DateTime<Utc>,
}

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The row was rejected.
    Error,
    /// The row was accepted.
    Warning,
}

impl Severity {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "error" => Ok(Severity::Error),
            "warning" => Ok(Severity::Warning),
            _ => Err(format!("unknown severity `{s}`")),
        }
    }
}

/// One error or warning about a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportIssue {
    /// Storage order, for paging.
    pub seq: i64,
    /// The row as a spreadsheet shows it (header = 1); CSV: the line where the record starts.
    pub row: u64,
    /// Error or warning.
    pub severity: Severity,
    /// The type's column, when the issue is about one.
    pub column: Option<String>,
    /// The offending value as read.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Filters and page of an import listing.
#[derive(Debug, Clone, Default)]
pub struct ImportFilter {
    /// Types (any).
    pub type_name: Option<String>,
    /// Statuses (any; empty: all).
    pub statuses: Vec<ImportStatus>,
    /// Uploader.
    pub uploader: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Only imports older than this one (cursor).
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: u32,
}

/// Imports of one type in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportStatusCount {
    /// Type.
    pub type_name: String,
    /// Status.
    pub status: ImportStatus,
    /// Imports.
    pub imports: u64,
    /// Rows read.
    pub rows_read: u64,
    /// Rows written (inserted + updated).
    pub rows_written: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
}

/// What a batch commit records.
#[derive(Debug, Clone, Default)]
pub struct BatchCommit {
    /// The resume offset the batch started from (the commit is refused if it moved).
    pub from_offset: u64,
    /// The resume offset after the batch.
    pub to_offset: u64,
    /// Counts to add.
    pub counts: ImportCounts,
    /// Issues to store.
    pub issues: Vec<NewIssue>,
}

/// An issue to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssue {
    /// Row.
    pub row: u64,
    /// Severity.
    pub severity: Severity,
    /// Column.
    pub column: Option<String>,
    /// Value.
    pub value: Option<String>,
    /// Message.
    pub message: String,
}
