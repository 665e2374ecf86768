//! Imports: validated uploads streamed to a file store, processed as tasks of the engine.
//!
//! An app describes what it imports as an [`ImportType`] and registers it with
//! [`ImportRegistry::register`]; the platform streams uploads to the file store (checking size,
//! magic bytes, structure and archive bombs on the way, and hashing), records the import and
//! enqueues its `relais.import` task in one transaction. The task streams the rows, matches the
//! header through the type's aliases, has each row parsed by the type (bad rows recorded, the
//! rest go on), and hands accepted records to the type's upsert in batches; each batch commits
//! together with the import's counts, issues and resume offset, so a crash resumes after the
//! last committed batch. `relais.imports.retention` deletes old records and files.
//!
//! Concurrency model: an upload runs a blocking writer thread fed through a bounded channel
//! (checks and hashing overlap with receiving); processing runs the reader and the type's parser
//! on a blocking thread that sends batches through a bounded channel to the task, which writes
//! them. Memory is bounded by the batch size and the channel depth, whatever the file size.

mod detect;
mod direct;
mod json;
mod kind;
mod model;
mod pipeline;
mod retention;
mod row;
pub mod sample;
mod service;
mod source;
mod upload;

pub use direct::{ParsedCounts, parse_file};
pub use kind::{
    Column, ColumnInfo, ImportContext, ImportType, ModeInfo, TypeInfo, TypeLimits, WriteMode,
    Written,
};
pub use model::{
    BatchCommit, ImportCounts, ImportFile, ImportFilter, ImportIssue, ImportRecord, ImportStatus,
    ImportStatusCount, NewImport, NewIssue, Severity,
};
pub use row::{Cell, Issues, Row, normalize_header};
pub use service::{CancelResult, ImportRegistry, Imports};
pub use upload::{Upload, UploadRequest, Uploaded};

use crate::store::StoreError;
use crate::tasks::EngineError;

/// The queue import tasks run on (`tasks.queues` may set its concurrency; the binary adds it
/// with 2 when it is not listed).
pub const QUEUE: &str = "imports";
/// The task kind processing one import.
pub const TASK_KIND: &str = "relais.import";
/// The task kind deleting old imports.
pub const RETENTION_KIND: &str = "relais.imports.retention";

/// A file format, named by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Comma-, semicolon- or tab-separated text.
    Csv,
    /// Office Open XML workbook (a ZIP archive).
    Xlsx,
    /// Excel 97–2003 workbook (an OLE2 compound file).
    Xls,
    /// A JSON array of objects (UTF-8): each object is a row, its keys the header, its values
    /// the cells (numbers keep their text). Not accepted unless a type or the configuration
    /// lists it.
    Json,
}

impl FileFormat {
    /// Every format.
    pub const ALL: [FileFormat; 4] = [
        FileFormat::Csv,
        FileFormat::Xlsx,
        FileFormat::Xls,
        FileFormat::Json,
    ];

    /// The formats accepted when neither the type nor the configuration says otherwise.
    pub const DEFAULT: [FileFormat; 3] = [FileFormat::Csv, FileFormat::Xlsx, FileFormat::Xls];

    /// The extension, without dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
            FileFormat::Xls => "xls",
            FileFormat::Json => "json",
        }
    }

    /// The format of an extension (case-insensitive, without dot).
    pub fn from_extension(ext: &str) -> Option<Self> {
        let ext = ext.to_ascii_lowercase();
        FileFormat::ALL.into_iter().find(|f| f.extension() == ext)
    }

    /// The format of a file name, by its extension.
    pub fn of_file_name(name: &str) -> Option<Self> {
        let (_, ext) = name.rsplit_once('.')?;
        Self::from_extension(ext)
    }
}

/// Why an import request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No type of that name is registered.
    #[error("no import type `{0}`")]
    UnknownType(String),
    /// No import with that id.
    #[error("no import {0}")]
    NotFound(uuid::Uuid),
    /// An option is not acceptable (mode, scope, sheet, file name).
    #[error("{0}")]
    Invalid(String),
    /// The extension is not accepted for the type.
    #[error("{0}")]
    ExtensionNotAllowed(String),
    /// The content does not match the extension.
    #[error("{0}")]
    TypeMismatch(String),
    /// The file is larger than the type accepts.
    #[error("the file is larger than the {max} bytes accepted for this import type")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The file is damaged or truncated.
    #[error("{0}")]
    Damaged(String),
    /// The archive expands beyond the limits.
    #[error("archive bomb refused: {0}")]
    ArchiveBomb(String),
    /// More data rows than the type accepts.
    #[error(
        "the file has {rows} data rows or more; at most {max} are accepted for this import type"
    )]
    TooManyRows {
        /// Rows counted (counting stops just past the limit).
        rows: u64,
        /// The limit.
        max: u64,
    },
    /// The request conflicts with the import's state.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task engine refused.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The file store failed.
    #[error("file store: {0}")]
    Io(std::io::Error),
}
