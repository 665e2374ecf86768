//! The environment of an import case: a platform on the case's database, an engine working the
//! `imports` queue, the import service with the `sample` type (and the test types), fixtures.

pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};

pub(crate) use relais_platform::Platform;
use relais_platform::clock::SystemClock;
pub(crate) use relais_platform::config::{Config, ImportSettings};
pub(crate) use relais_platform::imports::sample::{SampleImport, SampleRow};
pub(crate) use relais_platform::imports::{
    ImportError, ImportRecord, ImportRegistry, ImportStatus, Imports, UploadRequest, Uploaded,
};
pub(crate) use relais_platform::shutdown::Shutdown;
pub(crate) use relais_platform::tasks::{Engine, EngineConfig};
pub(crate) use relais_testkit::Ctx;

pub(crate) struct Env {
    pub platform: Platform,
    pub imports: Imports,
    pub engine: Engine,
    pub _shutdown: Shutdown,
    pub dir: std::path::PathBuf,
}

/// A platform with the sample type (and `extra` types) registered and the engine running.
pub(crate) async fn env_with(
    ctx: &Ctx,
    tweak: impl FnOnce(&mut ImportSettings),
    extra: impl FnOnce(ImportRegistry) -> ImportRegistry,
) -> Env {
    let config = Config::for_data_dir(&ctx.dir).with_database(ctx.database.clone());
    let mut settings = config.imports.clone();
    tweak(&mut settings);
    let dir = settings.dir.clone();
    let config = config.with_imports(settings.clone());
    let (platform, _) = Platform::start(config, &[]).await.expect("platform starts");
    let registry = ImportRegistry::new(platform.store.clone(), Arc::new(SystemClock), settings)
        .register(SampleImport)
        .unwrap();
    let registry = extra(registry);
    let builder = Engine::builder(
        platform.store.clone(),
        Arc::new(SystemClock),
        EngineConfig {
            queues: vec![("imports".into(), 2)],
            poll_interval: Duration::from_millis(50),
            retention: None,
            ..EngineConfig::default()
        },
    );
    // `relais.noop` stands for the follow-up tasks of the `followed` type.
    let builder = builder.register(relais_platform::tasks::Noop);
    let engine = registry.engine_tasks(builder, false).build().unwrap();
    let imports = registry.with_engine(engine.clone());
    let shutdown = Shutdown::new();
    engine.start(&shutdown);
    Env {
        platform,
        imports,
        engine,
        _shutdown: shutdown,
        dir,
    }
}

pub(crate) async fn env(ctx: &Ctx) -> Env {
    env_with(ctx, |_| {}, |r| r).await
}

impl Env {
    pub(crate) async fn stop(self) {
        self.engine
            .drain(tokio::time::Instant::now() + Duration::from_secs(10))
            .await;
        self.platform.store.close().await;
    }

    /// Uploads `bytes` as `name` in chunks of 997 bytes.
    pub(crate) async fn upload_with(
        &self,
        name: &str,
        bytes: &[u8],
        tweak: impl FnOnce(&mut UploadRequest),
    ) -> Result<Uploaded, ImportError> {
        let mut request = UploadRequest {
            type_name: "sample".into(),
            file_name: name.into(),
            uploader: Some("tester".into()),
            ..UploadRequest::default()
        };
        tweak(&mut request);
        let mut upload = self.imports.begin_upload(request).await?;
        for chunk in bytes.chunks(997) {
            upload.write(bytes::Bytes::copy_from_slice(chunk)).await?;
        }
        upload.finish().await
    }

    pub(crate) async fn upload(&self, name: &str, bytes: &[u8]) -> Uploaded {
        self.upload_with(name, bytes, |_| {})
            .await
            .unwrap_or_else(|e| panic!("upload of {name} refused: {e}"))
    }

    /// Waits (polling the record, with a deadline) until the import is finished.
    pub(crate) async fn finished(&self, id: uuid::Uuid) -> ImportRecord {
        self.until(id, |r| r.status.is_final()).await
    }

    pub(crate) async fn until(
        &self,
        id: uuid::Uuid,
        done: impl Fn(&ImportRecord) -> bool,
    ) -> ImportRecord {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.imports.get(id).await.unwrap().expect("import exists");
            if done(&r) {
                return r;
            }
            assert!(Instant::now() < deadline, "import never got there: {r:#?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Uploads and waits for the end.
    pub(crate) async fn import(&self, name: &str, bytes: &[u8]) -> ImportRecord {
        let id = self.upload(name, bytes).await.record.id;
        self.finished(id).await
    }

    pub(crate) async fn rows(&self) -> Vec<SampleRow> {
        SampleImport::stored_rows(self.platform.store.as_ref())
            .await
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    /// (row, severity, column, value, message) of every issue.
    pub(crate) async fn issues(
        &self,
        id: uuid::Uuid,
    ) -> Vec<(u64, String, Option<String>, Option<String>, String)> {
        self.imports
            .issues(id, 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|i| {
                (
                    i.row,
                    i.severity.as_str().to_owned(),
                    i.column,
                    i.value,
                    i.message,
                )
            })
            .collect()
    }

    /// Files in the store.
    pub(crate) fn files(&self) -> Vec<String> {
        match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A CSV of `n` good sample rows (codes `C000001`…), `,`-separated, UTF-8.
pub(crate) fn good_csv(n: usize) -> Vec<u8> {
    let mut out = String::from("code,name,email,amount,date,group\n");
    for i in 1..=n {
        out.push_str(&format!(
            "C{i:06},Name {i},user{i}@example.org,{}.{:02},2024-01-{:02},g{}\n",
            i * 3,
            i % 100,
            1 + i % 28,
            i % 3
        ));
    }
    out.into_bytes()
}

/// A CSV of `n` rows whose names have `width` characters.
pub(crate) fn wide_csv(n: usize, width: usize) -> Vec<u8> {
    let mut out = String::from("code,name\n");
    for i in 0..n {
        out.push_str(&format!("W{i},{}\n", "w".repeat(width)));
    }
    out.into_bytes()
}

/// An XLSX workbook (generated) with typed cells: text, numbers, dates; a second sheet.
pub(crate) fn xlsx() -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let ws = wb.add_worksheet();
    ws.set_name("Feuille").unwrap();
    for (c, h) in [
        "Identifiant",
        "Nom",
        "Courriel",
        "Montant",
        "Date",
        "Catégorie",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_number(1, 0, 1001.0).unwrap();
    ws.write_string(1, 1, "Élise").unwrap();
    ws.write_string(1, 2, "elise@example.org").unwrap();
    ws.write_number(1, 3, 12.5).unwrap();
    ws.write_datetime_with_format(1, 4, ExcelDateTime::from_ymd(2024, 3, 1).unwrap(), &date)
        .unwrap();
    ws.write_string(1, 5, "g1").unwrap();
    ws.write_string(2, 0, "B2").unwrap();
    ws.write_string(2, 1, "Bob").unwrap();
    ws.write_string(2, 3, "pas un nombre").unwrap();
    // Row 4 is blank; row 5 comes after it.
    ws.write_string(4, 0, "C5").unwrap();
    ws.write_string(4, 1, "Chloé").unwrap();
    ws.write_string(4, 4, "2023-12-31").unwrap();
    let other = wb.add_worksheet();
    other.set_name("Autre").unwrap();
    other.write_string(0, 0, "code").unwrap();
    other.write_string(0, 1, "name").unwrap();
    other.write_string(1, 0, "Z9").unwrap();
    other.write_string(1, 1, "Zoé").unwrap();
    wb.save_to_buffer().unwrap()
}

/// A ZIP archive with these entries (deflated).
pub(crate) fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
}
