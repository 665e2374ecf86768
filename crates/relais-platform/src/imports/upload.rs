//! Uploads: the body is streamed to the file store by a blocking writer thread that checks the
//! size limit, hashes (SHA-256) and checks the content as it goes; once complete, the structure
//! is checked, an identical earlier import is looked up, and the record and its task are
//! created in one transaction. A refused or abandoned upload leaves nothing behind.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::detect::{Checked, ContentCheck};
use super::model::{ImportFile, ImportRecord, NewImport};
use super::service::{Imports, Shared, task_request};
use super::{FileFormat, ImportError};

/// What a client asks for when it uploads a file.
#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    /// The import type.
    pub type_name: String,
    /// The file's name as the client gives it (its extension picks the format).
    pub file_name: String,
    /// Validate and report only.
    pub dry_run: bool,
    /// Import even if an identical file of this type was imported successfully before.
    pub force: bool,
    /// Write mode (default: the type's first).
    pub mode: Option<String>,
    /// The mode's scope.
    pub scope: Option<String>,
    /// Spreadsheets: the sheet to read (default: the first).
    pub sheet: Option<String>,
    /// Who uploads.
    pub uploader: Option<String>,
    /// The size the client announced, if any (refused at once when above the limit).
    pub declared_size: Option<u64>,
    /// No size or row limit (the CLI, for files beyond the upload limits).
    pub unlimited: bool,
}

/// An accepted upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// The import.
    pub record: ImportRecord,
    /// False when an identical earlier import was returned instead.
    pub created: bool,
}

enum Chunk {
    Data(Bytes),
    End,
}

struct Written {
    size: u64,
    sha256: String,
    checked: Checked,
}

/// An upload in progress: feed it with [`Upload::write`], then [`Upload::finish`]. Dropped
/// before finishing, it removes what it wrote.
pub struct Upload {
    shared: Arc<Shared>,
    imports: Imports,
    request: UploadRequest,
    id: Uuid,
    format: FileFormat,
    mode: &'static str,
    max_rows: Option<u64>,
    sender: Option<mpsc::Sender<Chunk>>,
    writer: Option<tokio::task::JoinHandle<Result<Written, ImportError>>>,
}

impl Imports {
    /// Starts an upload: checks the type, options, extension and announced size, and opens the
    /// file in the store.
    pub async fn begin_upload(&self, request: UploadRequest) -> Result<Upload, ImportError> {
        let shared = self.shared.clone();
        let kind = shared.kind(&request.type_name)?.clone();
        let limits = shared.limits(kind.as_ref());
        let name = request.file_name.trim().to_owned();
        let name = name.as_str();
        if name.is_empty() || name.len() > 255 {
            return Err(ImportError::Invalid(
                "the file name must have 1 to 255 characters".into(),
            ));
        }
        let accepted: Vec<String> = limits
            .formats
            .iter()
            .map(|f| format!(".{}", f.extension()))
            .collect();
        let format = FileFormat::of_file_name(name)
            .filter(|f| limits.formats.contains(f))
            .ok_or_else(|| {
                ImportError::ExtensionNotAllowed(format!(
                    "`{name}`: import type `{}` accepts {} files",
                    request.type_name,
                    accepted.join(", ")
                ))
            })?;
        let modes = kind.modes();
        let mode = match request.mode.as_deref() {
            None | Some("") => modes.first().copied().unwrap_or(super::WriteMode::APPEND),
            Some(m) => modes.iter().find(|x| x.name == m).copied().ok_or_else(|| {
                ImportError::Invalid(format!(
                    "import type `{}` has no mode `{m}` (modes: {})",
                    request.type_name,
                    modes.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
                ))
            })?,
        };
        let scope: Option<String> = request
            .scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        match (mode.needs_scope, &scope) {
            (true, None) => {
                return Err(ImportError::Invalid(format!(
                    "mode `{}` needs a scope",
                    mode.name
                )));
            }
            (false, Some(_)) if !mode.accepts_scope => {
                return Err(ImportError::Invalid(format!(
                    "mode `{}` takes no scope",
                    mode.name
                )));
            }
            _ => {}
        }
        if request.sheet.is_some() && matches!(format, FileFormat::Csv | FileFormat::Json) {
            return Err(ImportError::Invalid(
                "`sheet` applies to spreadsheets only".into(),
            ));
        }
        let max_size = (!request.unlimited).then_some(limits.max_size);
        if let (Some(max), Some(declared)) = (max_size, request.declared_size)
            && declared > max
        {
            return Err(ImportError::TooLarge { max });
        }
        let max_rows = (!request.unlimited).then_some(limits.max_rows);
        let id = Uuid::now_v7();
        std::fs::create_dir_all(&shared.settings.dir).map_err(ImportError::Io)?;
        let path = shared.partial_path(id);
        let (sender, receiver) = mpsc::channel(16);
        let check = ContentCheck::new(
            format,
            if matches!(format, FileFormat::Csv | FileFormat::Json) {
                max_rows
            } else {
                None
            },
        );
        let zip = shared.settings.zip;
        let writer = tokio::task::spawn_blocking(move || {
            let result = write_file(&path, receiver, check, max_size, &zip);
            if result.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            result
        });
        let mut request = request;
        request.scope = scope;
        request.file_name = name.to_owned();
        Ok(Upload {
            shared,
            imports: self.clone(),
            request,
            id,
            format,
            mode: mode.name,
            max_rows,
            sender: Some(sender),
            writer: Some(writer),
        })
    }
}

fn write_file(
    path: &std::path::Path,
    mut receiver: mpsc::Receiver<Chunk>,
    mut check: ContentCheck,
    max_size: Option<u64>,
    zip: &crate::config::ZipLimits,
) -> Result<Written, ImportError> {
    let file = std::fs::File::create(path).map_err(ImportError::Io)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    loop {
        match receiver.blocking_recv() {
            Some(Chunk::Data(bytes)) => {
                size += bytes.len() as u64;
                if let Some(max) = max_size
                    && size > max
                {
                    return Err(ImportError::TooLarge { max });
                }
                hasher.update(&bytes);
                check.feed(&bytes)?;
                out.write_all(&bytes).map_err(ImportError::Io)?;
            }
            Some(Chunk::End) => break,
            // The upload was abandoned.
            None => return Err(ImportError::Invalid("the upload was interrupted".into())),
        }
    }
    out.flush().map_err(ImportError::Io)?;
    drop(out);
    let checked = check.finish(path, zip)?;
    let digest = hasher.finalize();
    Ok(Written {
        size,
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        checked,
    })
}

impl Upload {
    /// The import id this upload will have.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Appends a chunk of the file. After an error the upload is over (and removed).
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), ImportError> {
        let sent = match &self.sender {
            Some(sender) => sender.send(Chunk::Data(chunk)).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        Err(self.writer_error().await)
    }

    async fn writer_error(&mut self) -> ImportError {
        self.sender = None;
        match self.writer.take() {
            Some(writer) => match writer.await {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => ImportError::Invalid("the upload is already complete".into()),
                Err(e) => ImportError::Io(std::io::Error::other(e.to_string())),
            },
            None => ImportError::Invalid("the upload is already over".into()),
        }
    }

    /// Completes the upload: checks the whole file, then records the import and enqueues its
    /// task (or returns an identical earlier successful import, unless `force`).
    pub async fn finish(mut self) -> Result<Uploaded, ImportError> {
        let sender = self.sender.take();
        let writer = self.writer.take();
        let (Some(sender), Some(writer)) = (sender, writer) else {
            return Err(ImportError::Invalid("the upload is already over".into()));
        };
        let _ = sender.send(Chunk::End).await;
        drop(sender);
        let written = writer
            .await
            .map_err(|e| ImportError::Io(std::io::Error::other(e.to_string())))??;
        let partial = self.shared.partial_path(self.id);
        let r = &self.request;
        if !r.force
            && !r.dry_run
            && let Some(existing) = self
                .shared
                .store
                .find_import(
                    &r.type_name,
                    &written.sha256,
                    self.mode,
                    r.scope.as_deref(),
                    r.sheet.as_deref(),
                )
                .await?
        {
            let _ = std::fs::remove_file(&partial);
            return Ok(Uploaded {
                record: existing,
                created: false,
            });
        }
        let path = self.shared.file_path(self.id, self.format);
        if let Err(e) = std::fs::rename(&partial, &path) {
            let _ = std::fs::remove_file(&partial);
            return Err(ImportError::Io(e));
        }
        match self.record(written).await {
            Ok(record) => {
                metrics::counter!("relais_imports_uploaded_total", "type" => record.type_name.clone())
                    .increment(1);
                Ok(Uploaded {
                    record,
                    created: true,
                })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    async fn record(&self, written: Written) -> Result<ImportRecord, ImportError> {
        let r = &self.request;
        let engine = self.imports.engine();
        let mut tx = engine.begin().await?;
        let (task, _) = tx
            .enqueue(task_request(self.id, r.uploader.clone()))
            .await?;
        let new = NewImport {
            id: self.id,
            type_name: r.type_name.clone(),
            dry_run: r.dry_run,
            mode: self.mode.to_owned(),
            scope: r.scope.clone(),
            sheet: r.sheet.clone(),
            file: ImportFile {
                name: r.file_name.clone(),
                size: written.size,
                sha256: written.sha256,
                format: self.format,
                encoding: written.checked.encoding.map(str::to_owned),
                deleted_at: None,
            },
            max_rows: self.max_rows,
            uploader: r.uploader.clone(),
            task_id: task.id,
            created_at: self.shared.clock.now(),
        };
        self.shared.store.insert_import_in(tx.db(), &new).await?;
        tx.commit().await?;
        self.shared
            .store
            .get_import(self.id)
            .await?
            .ok_or(ImportError::NotFound(self.id))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Abandoned: closing the channel without `End` makes the writer remove the file.
        self.sender = None;
    }
}
