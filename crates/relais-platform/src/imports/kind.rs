//! The seam between the platform and the apps: an app describes an [`ImportType`] (its columns
//! and their aliases, a row parser into its typed record, an upsert of a batch through its own
//! storage, optional write modes and limits); the platform does the rest.

use std::future::Future;

use uuid::Uuid;

use super::FileFormat;
use super::model::ImportCounts;
use super::row::{Issues, Row};
use crate::store::{DbTx, StoreError};
use crate::tasks::Enqueue;

/// A column an import type reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Canonical name (also matched as a header).
    pub name: &'static str,
    /// Other headers that mean this column; matching ignores case, accents, spaces and
    /// punctuation.
    pub aliases: &'static [&'static str],
    /// A file without it fails at once.
    pub required: bool,
    /// What it holds (shown in the list of types).
    pub description: &'static str,
}

impl Column {
    /// A required column.
    pub const fn required(
        name: &'static str,
        aliases: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        Self {
            name,
            aliases,
            required: true,
            description,
        }
    }

    /// An optional column.
    pub const fn optional(
        name: &'static str,
        aliases: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        Self {
            name,
            aliases,
            required: false,
            description,
        }
    }
}

/// A way of writing the rows that a type offers (the first of its list is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMode {
    /// Name given at upload (`mode=`).
    pub name: &'static str,
    /// Whether the mode needs a `scope` (e.g. the part of the data it replaces).
    pub needs_scope: bool,
    /// Whether the mode takes a `scope` when one is given, without needing it (e.g. a default
    /// for rows that lack a value). A mode that neither needs nor accepts one refuses it.
    pub accepts_scope: bool,
    /// What it does.
    pub description: &'static str,
}

impl WriteMode {
    /// Insert new rows and update existing ones (by the type's key).
    pub const APPEND: WriteMode = WriteMode {
        name: "append",
        needs_scope: false,
        accepts_scope: false,
        description: "insert new rows and update existing ones",
    };
}

/// Limits a type sets for itself; unset ones take the configured defaults (`imports.*`), and
/// `imports.types` overrides both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeLimits {
    /// Largest uploaded file, in bytes.
    pub max_size: Option<u64>,
    /// Most data rows.
    pub max_rows: Option<u64>,
    /// Accepted formats.
    pub formats: Option<&'static [FileFormat]>,
}

/// What a parser and a writer know about the import they work for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportContext {
    /// The import.
    pub import_id: Uuid,
    /// The write mode (one of the type's).
    pub mode: &'static str,
    /// Its scope, for modes that take one.
    pub scope: Option<String>,
    /// Validate only: nothing is written (the writer is not called).
    pub dry_run: bool,
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows inserted.
    pub inserted: u64,
    /// Rows changed.
    pub updated: u64,
    /// Rows already stored with the same values.
    pub unchanged: u64,
    /// Rows deleted.
    pub deleted: u64,
}

/// A kind of file an app imports.
///
/// The platform streams the file, matches the header with [`ImportType::columns`], calls
/// [`ImportType::parse`] on every row (on a blocking thread, in file order), and hands the
/// accepted records to [`ImportType::upsert`] in batches, each inside the transaction that also
/// stores the import's progress: a batch's rows and the resume offset commit together, so a
/// crashed import resumes after its last committed batch. Upserts must be idempotent (a batch
/// may be written again after a crash between its commit and the next, never half).
pub trait ImportType: Send + Sync + 'static {
    /// The type name, e.g. `elections.pv`: the `{id}` of `POST /api/imports/{id}`.
    const NAME: &'static str;
    /// One parsed row.
    type Record: Send + 'static;

    /// One line about the type.
    fn description(&self) -> &'static str;

    /// The columns, in the order [`Row::cell`] addresses them.
    fn columns(&self) -> &'static [Column];

    /// Write modes offered; the first is the default.
    fn modes(&self) -> &'static [WriteMode] {
        &[WriteMode::APPEND]
    }

    /// Limits of this type.
    fn limits(&self) -> TypeLimits {
        TypeLimits::default()
    }

    /// Parses one row. Record errors (the row is rejected) and warnings in `issues`; the record
    /// returned for a row with errors is dropped.
    ///
    /// An attempt calls it for every data row of the file, in file order, on one thread (the
    /// attempt's reader); a resumed attempt also calls it for the rows committed before, and
    /// drops what it returns. A parser may therefore keep state across the rows of one
    /// attempt (e.g. occurrence counts), provided it starts over when a row number is not
    /// above the last one it saw for the import (a new attempt).
    fn parse(
        &self,
        row: &Row<'_>,
        ctx: &ImportContext,
        issues: &mut Issues,
    ) -> Option<Self::Record>;

    /// Writes a batch of accepted records in the import's transaction `tx` (the app's storage
    /// module runs its SQL on it) and says what it did.
    fn upsert(
        &self,
        tx: &mut DbTx,
        records: Vec<Self::Record>,
        ctx: &ImportContext,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// Runs once after the last batch, in the transaction that marks the import finished (for
    /// modes such as replacing a scope). `counts` are the import's totals so far.
    fn finish(
        &self,
        _tx: &mut DbTx,
        _ctx: &ImportContext,
        _counts: &ImportCounts,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send {
        async { Ok(Written::default()) }
    }

    /// Tasks to enqueue when the import finishes (e.g. recomputing what its rows feed),
    /// enqueued in the transaction that marks it finished: they exist if and only if the import
    /// completed, once, whichever attempt completed it. `counts` are the import's final totals.
    /// Not called for dry runs or imports that wrote nothing (no accepted row). A kind or queue
    /// the engine does not know fails the import.
    fn follow_up(&self, _ctx: &ImportContext, _counts: &ImportCounts) -> Vec<Enqueue> {
        Vec::new()
    }
}

/// A registered type as shown to clients.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TypeInfo {
    /// Name.
    pub name: &'static str,
    /// What it imports.
    pub description: &'static str,
    /// Columns.
    pub columns: Vec<ColumnInfo>,
    /// Write modes (the first is the default).
    pub modes: Vec<ModeInfo>,
    /// Effective limits.
    pub max_size: u64,
    /// Effective row limit of uploads.
    pub max_rows: u64,
    /// Accepted extensions.
    pub extensions: Vec<&'static str>,
}

/// A column as shown to clients.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnInfo {
    /// Canonical name.
    pub name: &'static str,
    /// Other accepted headers.
    pub aliases: &'static [&'static str],
    /// Whether a file must have it.
    pub required: bool,
    /// What it holds.
    pub description: &'static str,
}

/// A write mode as shown to clients.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModeInfo {
    /// Name.
    pub name: &'static str,
    /// Whether it needs `scope`.
    pub needs_scope: bool,
    /// Whether it takes an optional `scope`.
    pub accepts_scope: bool,
    /// What it does.
    pub description: &'static str,
}
