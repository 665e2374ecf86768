//! Unit tests of the configuration loader.
use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write_toml(text: &str) -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.path().join("relais.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!("relais-cfg-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn defaults_give_sqlite_in_data_dir() {
    let config = ConfigLoader::new().load().unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.data_dir, PathBuf::from("./relais-data"));
    assert!(matches!(
        config.database,
        DatabaseConfig::Sqlite { ref path, readers: 10, .. } if path == Path::new("./relais-data/relais.db")
    ));
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.http_max_body, 2 << 20);
    assert_eq!(config.redis_url, None);
    assert_eq!(config.task_queues, vec![("default".to_owned(), 10)]);
    let queues = parse_queues("default=4, imports=2").unwrap();
    assert_eq!(
        queues,
        vec![("default".to_owned(), 4), ("imports".to_owned(), 2)]
    );
}

#[test]
fn precedence_is_default_file_env_flag() {
    let (_dir, path) = write_toml(
        "listen = \"127.0.0.1:1001\"\ndata_dir = \"/from-file\"\n[log]\nformat = \"json\"\n",
    );
    let config = ConfigLoader::new()
        .file(&path, true)
        .unwrap()
        .env(env(&[
            ("RELAIS_LISTEN", "127.0.0.1:1002"),
            ("RELAIS_DATA_DIR", "/from-env"),
        ]))
        .flag("listen", Some("127.0.0.1:1003".into()))
        .flag("data-dir", None)
        .load()
        .unwrap();
    assert_eq!(config.listen.port(), 1003);
    assert_eq!(config.data_dir, PathBuf::from("/from-env"));
    assert_eq!(config.log_format, LogFormat::Json);
    let shown = config.show();
    assert!(
        shown.contains("listen = \"127.0.0.1:1003\"  # flag --listen"),
        "{shown}"
    );
    assert!(
        shown.contains("data_dir = \"/from-env\"  # environment variable RELAIS_DATA_DIR"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("log.format = \"json\"  # file {}", path.display())),
        "{shown}"
    );
}

#[test]
fn errors_name_key_origin_and_reason() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("RELAIS_LISTEN", "nope")],
            "invalid value for `listen` from environment variable RELAIS_LISTEN: \"nope\": not a socket address",
        ),
        (
            &[("RELAIS_LOG_FORMAT", "xml")],
            "`log.format` from environment variable RELAIS_LOG_FORMAT: \"xml\": expected `text` or `json`",
        ),
        (
            &[("RELAIS_DATABASE_URL", "mysql://u:pw@h/db")],
            "`database.url` from environment variable RELAIS_DATABASE_URL: \"mysql://u:****@h/db\": unsupported scheme `mysql`",
        ),
        (
            &[("RELAIS_DATABASE_MAX_CONNECTIONS", "0")],
            "expected a whole number from 1 to 1000",
        ),
        (
            &[("RELAIS_SHUTDOWN_GRACE", "3 fortnights")],
            "unknown duration unit `fortnights`",
        ),
        (&[("RELAIS_HTTP_MAX_BODY", "10")], "must be at least 1KiB"),
        (
            &[("RELAIS_REDIS_URL", "http://x")],
            "unsupported scheme `http` (expected redis://)",
        ),
        (
            &[("RELAIS_DATABSE_URL", "postgres://x")],
            "unknown environment variable RELAIS_DATABSE_URL",
        ),
        (
            &[("RELAIS_TASKS_QUEUES", "default=0")],
            "concurrency must be a whole number from 1 to 1000",
        ),
        (
            &[("RELAIS_TASKS_QUEUES", "a=1,a=2")],
            "queue `a` is listed twice",
        ),
        (
            &[("RELAIS_TASKS_QUEUES", "bad name=1")],
            "a queue name uses",
        ),
    ];
    for (vars, expected) in cases {
        let err = ConfigLoader::new()
            .env(env(vars))
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{vars:?}: got {err}");
    }
}

#[test]
fn file_errors_are_precise() {
    let (_d, path) = write_toml("lisen = \"x\"\n");
    let err = ConfigLoader::new()
        .file(&path, true)
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown setting `lisen`") && err.contains("relais.toml"),
        "{err}"
    );

    let (_d, path) = write_toml("listen = [1, 2]\n");
    let err = ConfigLoader::new()
        .file(&path, true)
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`listen`") && err.contains("expected a string, number or boolean"),
        "{err}"
    );

    let (_d, path) = write_toml("listen = \n");
    let err = ConfigLoader::new()
        .file(&path, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not valid TOML") && err.contains("line 1"),
        "{err}"
    );

    let missing = Path::new("/nonexistent/relais.toml");
    assert!(ConfigLoader::new().file(missing, false).is_ok());
    assert!(
        ConfigLoader::new()
            .file(missing, true)
            .unwrap_err()
            .to_string()
            .contains("cannot read")
    );
}

#[test]
fn database_urls_select_the_backend() {
    let load = |url: &str| {
        ConfigLoader::new()
            .env(env(&[("RELAIS_DATABASE_URL", url)]))
            .load()
            .unwrap()
            .database
    };
    assert!(matches!(
        load("postgres://postgres@127.0.0.1:5432/test"),
        DatabaseConfig::Postgres {
            max_connections: 10,
            ..
        }
    ));
    assert!(matches!(
        load("postgresql://h/db"),
        DatabaseConfig::Postgres { .. }
    ));
    assert!(
        matches!(load("sqlite:///tmp/x.db"), DatabaseConfig::Sqlite { ref path, .. } if path == Path::new("/tmp/x.db"))
    );
    assert!(
        matches!(load("sqlite://rel.db?mode=rwc"), DatabaseConfig::Sqlite { ref path, .. } if path == Path::new("rel.db"))
    );
}

#[test]
fn secrets_are_masked_when_shown() {
    let config = ConfigLoader::new()
        .env(env(&[
            (
                "RELAIS_DATABASE_URL",
                "postgres://app:hunter2@db:5432/relais",
            ),
            ("RELAIS_REDIS_URL", "redis://:s3cret@cache:6379/0"),
        ]))
        .load()
        .unwrap();
    let shown = config.show();
    assert!(
        !shown.contains("hunter2") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert!(
        shown.contains("postgres://app:****@db:5432/relais"),
        "{shown}"
    );
    assert_eq!(
        config.shown_value("redis.url").unwrap(),
        "redis://:****@cache:6379/0"
    );
}

#[test]
fn durations_and_sizes() {
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
    assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
    assert!(parse_duration("s").is_err());
    assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
    assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
    assert!(parse_size("1TiB").is_err());
    assert!(parse_size("99999999999999999999GiB").is_err());
}

#[test]
fn task_retention_is_configured_or_off() {
    let config = ConfigLoader::new().load().unwrap();
    let policy = config.task_retention.expect("on by default");
    assert_eq!(
        (policy.succeeded, policy.failed, policy.schedule.as_str()),
        (
            Duration::from_secs(86_400),
            Duration::from_secs(7 * 86_400),
            "*/15 * * * *"
        )
    );
    let (_dir, path) =
        write_toml("[tasks.retention]\nsucceeded = \"2h\"\nschedule = \"0 3 * * SUN\"\n");
    let config = ConfigLoader::new()
        .file(&path, true)
        .unwrap()
        .load()
        .unwrap();
    let policy = config.task_retention.unwrap();
    assert_eq!(
        (policy.succeeded, policy.schedule.as_str()),
        (Duration::from_secs(7200), "0 3 * * SUN")
    );
    let off = ConfigLoader::new()
        .env(env(&[("RELAIS_TASKS_RETENTION_SCHEDULE", "off")]))
        .load()
        .unwrap();
    assert!(off.task_retention.is_none());
    let err = ConfigLoader::new()
        .env(env(&[("RELAIS_TASKS_RETENTION_SCHEDULE", "every sunday")]))
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tasks.retention.schedule`") && err.contains("not a cron expression"),
        "{err}"
    );
    assert_eq!(
        parse_duration("7d").unwrap(),
        Duration::from_secs(7 * 86_400)
    );
}

#[test]
fn import_settings_have_defaults_overrides_and_errors() {
    use crate::imports::FileFormat;
    let config = ConfigLoader::new()
        .env(env(&[("RELAIS_DATA_DIR", "/srv/relais")]))
        .load()
        .unwrap();
    let i = &config.imports;
    assert_eq!(i, &ImportSettings::defaults_in(Path::new("/srv/relais")));
    assert_eq!(i.dir, PathBuf::from("/srv/relais/imports"));
    assert_eq!(i.defaults.max_size, 10_000_000);
    assert_eq!(i.defaults.max_rows, 50_000);
    assert_eq!(i.upload_rate.map(|r| r.to_string()), Some("10/h".into()));
    // The upload limit joins the route limits unless limits.routes names the route.
    let routes = i.with_upload_limit(&[]);
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].route(), "POST /api/imports/{id}");
    let own = parse_route_limits("POST /api/imports/{id}=2/m").unwrap();
    assert_eq!(i.with_upload_limit(&own), own);

    let config = ConfigLoader::new()
        .env(env(&[
            (
                "RELAIS_IMPORTS_TYPES",
                "sample.max_rows=200000, sample.extensions=csv|.XLSX, pv.max_size=2MiB",
            ),
            ("RELAIS_IMPORTS_EXTENSIONS", "csv"),
            ("RELAIS_IMPORTS_UPLOAD_RATE", "off"),
            ("RELAIS_IMPORTS_RETENTION_SCHEDULE", "off"),
            ("RELAIS_IMPORTS_SAMPLE", "on"),
        ]))
        .load()
        .unwrap();
    let i = &config.imports;
    assert_eq!(i.defaults.formats, vec![FileFormat::Csv]);
    assert_eq!(i.upload_rate, None);
    assert_eq!(i.retention, None);
    assert!(i.sample);
    assert_eq!(i.types.len(), 2);
    assert_eq!(i.types[0].max_rows, Some(200_000));
    assert_eq!(
        i.types[0].formats,
        Some(vec![FileFormat::Csv, FileFormat::Xlsx])
    );
    assert_eq!(i.types[1].max_size, Some(2 << 20));

    for (var, value, needle) in [
        (
            "RELAIS_IMPORTS_TYPES",
            "sample.max_cols=3",
            "unknown limit `max_cols`",
        ),
        (
            "RELAIS_IMPORTS_TYPES",
            "sample",
            "expected TYPE.LIMIT=VALUE",
        ),
        ("RELAIS_IMPORTS_EXTENSIONS", "csv,pdf", "unknown extension"),
        ("RELAIS_IMPORTS_BATCH_ROWS", "0", "from 1 to 100000"),
        ("RELAIS_IMPORTS_MAX_ROWS", "-1", "above 0"),
        ("RELAIS_IMPORTS_UPLOAD_RATE", "lots", "or `off`"),
        ("RELAIS_IMPORTS_SAMPLE", "yes", "`on` or `off`"),
    ] {
        let err = ConfigLoader::new()
            .env(env(&[(var, value)]))
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{var}={value}: {err}");
    }
}
